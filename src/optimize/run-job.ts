/**
 * Running a stored optimize job: what `slipway optimize-job <id>` does in the process the server
 * starts for each job (server/optimize-runner.ts). Progress lines are the job's heartbeat; a
 * refusal and a failure both finish the job with the reason, and nothing is registered.
 */
import { hostname } from 'node:os';
import { toSlipwayError } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { SqlOptimizeJobStore } from './job-store.js';
import type { OptimizeSpec } from './optimize-spec.js';
import { checkSpec } from './optimize-spec.js';
import { refusalError, runOptimization } from './run-optimization.js';

/** How often a running job writes its heartbeat when no progress line came (well inside the 60 s timeout). */
const HEARTBEAT_MS = 10_000;
/** Progress lines are written at most this often (the latency rounds report many). */
const PROGRESS_WRITE_MS = 1_000;

export async function runStoredJob(
  id: string,
  deps: { readonly registry: RegistryService; readonly jobs: SqlOptimizeJobStore },
): Promise<'succeeded' | 'refused' | 'failed'> {
  const job = await deps.jobs.get(id);
  await deps.jobs.start(id, `${hostname()}/${process.pid}`);
  let last = { message: 'started', writtenAt: 0 };
  const write = (): void => {
    last.writtenAt = Date.now();
    void deps.jobs.progress(id, last.message).catch(() => undefined);
  };
  const heartbeat = setInterval(write, HEARTBEAT_MS);
  try {
    const spec = checkSpec(job.spec as OptimizeSpec);
    const outcome = await runOptimization(spec, {
      registry: deps.registry,
      ...(job.actor === null ? {} : { actor: job.actor }),
      progress: (message) => {
        last = { message, writtenAt: last.writtenAt };
        if (Date.now() - last.writtenAt >= PROGRESS_WRITE_MS) write();
      },
    });
    const result = { report: outcome.report, gates: outcome.gates };
    if (outcome.status === 'refused') {
      const error = refusalError(outcome);
      await deps.jobs.finish(id, { status: 'refused', result, error: error.message, errorCode: error.code });
      return 'refused';
    }
    await deps.jobs.finish(id, {
      status: 'succeeded',
      result,
      ...(outcome.version === undefined ? {} : { resultVersion: outcome.version.version }),
    });
    return 'succeeded';
  } catch (error) {
    const e = toSlipwayError(error);
    await deps.jobs.finish(id, { status: 'failed', error: e.message, errorCode: e.code });
    return 'failed';
  } finally {
    clearInterval(heartbeat);
  }
}
