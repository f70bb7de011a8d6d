import type { RegistryService } from './registry-service.js';

/** How often a serving process looks for unreferenced blobs (a push's lease lasts an hour, see artifact-leases.ts). */
export const ARTIFACT_SWEEP_INTERVAL_MS = 60 * 60 * 1000;

export interface ArtifactSweeper {
  /** Run one sweep now (at most one runs at a time); resolves with the digests removed. */
  sweep(): Promise<readonly string[]>;
  /** No further sweeps; a running one finishes. Idempotent. */
  stop(): void;
}

/**
 * Deletes blobs that no version and no live push lease names, on a timer, in the process that runs
 * background work: only a push killed between writing its blob and committing its version leaves
 * one (refused pushes release theirs at once), so `slipway gc` need not be run by hand.
 */
export function startArtifactSweeper(
  registry: Pick<RegistryService, 'collectGarbage'>,
  options: { readonly intervalMs?: number; readonly log: (line: string) => void },
): ArtifactSweeper {
  let running: Promise<readonly string[]> | undefined;
  const sweep = (): Promise<readonly string[]> => {
    running ??= registry
      .collectGarbage()
      .then(({ removed, temporaries }) => {
        if (removed.length > 0 || temporaries > 0)
          options.log(
            `artifacts: removed ${removed.length} unreferenced blob(s) and ${temporaries} stale temporary file(s)`,
          );
        return removed;
      })
      .catch((error: unknown) => {
        options.log(`artifacts: sweep failed: ${error instanceof Error ? error.message : String(error)}`);
        return [];
      })
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(() => void sweep(), options.intervalMs ?? ARTIFACT_SWEEP_INTERVAL_MS);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
