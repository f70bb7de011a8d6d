/**
 * One run, advanced step by step: pending → building-data → training → evaluating → registering →
 * releasing → succeeded, or failed / stopped / cancelled with the step and the reason. Every step's
 * result is written to the run's row before the next step starts, so a run taken over after a
 * restart (run-store `claim`) continues at its step: data is rebuilt, a training process group the
 * dead owner left is killed and training starts again, registering finds a version it already
 * pushed (lineage.run), releasing re-reads its release.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError, toSlipwayError } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import { buildRunData, type RunDataDeps } from './data/build-run-data.js';
import { championOf } from './release/champion.js';
import { evaluateRun } from './release/evaluate-run.js';
import { registerCandidate } from './release/register-candidate.js';
import { assertReleasable, releaseCandidate, releaseProgress, type ReleaseDeps } from './release/release-candidate.js';
import { readOnnxModel } from '../registry/onnx/read-onnx.js';
import type { SqlPipelineStore } from './pipeline-store.js';
import type { SqlRunStore } from './run-store.js';
import { isAlive, killProcessGroup } from './train/process-group.js';
import { runTraining } from './train/run-training.js';
import type { PipelineSpec, RunRecord, RunStatus } from './types.js';

export interface RunMachineDeps {
  readonly runs: SqlRunStore;
  readonly pipelines: SqlPipelineStore;
  readonly registry: RegistryService;
  readonly data: RunDataDeps;
  readonly release: ReleaseDeps;
  /** Run folders are `<runsDir>/<run id>/` (splits, train.log, run.json, candidate.onnx). */
  readonly runsDir: string;
  /** This process, as the run store's owner. */
  readonly owner: string;
  readonly now?: () => Date;
  /** Called after every transition (step change or end); failures are logged, never fail the run. */
  readonly onTransition?: (run: RunRecord) => Promise<void> | void;
  readonly log?: (line: string) => void;
}

/** Where one run keeps its files. */
export function runDirOf(runsDir: string, id: string): string {
  return path.join(runsDir, id);
}

/**
 * The process is stopping: the run is left running, unfinished, for the next owner (which kills
 * any training process group left and starts the step again). Pass it as the abort reason.
 */
export class RunInterrupted extends Error {
  constructor() {
    super('this process is stopping; the run continues in the next one that claims it');
  }
}

/** Why a run ended early; `finish` records it with the step it happened at. */
class RunEnd extends Error {
  constructor(
    readonly status: Exclude<RunStatus, 'running' | 'succeeded'>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Advance a run this process has claimed until it ends or waits on its release (a rollout, shadow
 * or experiment still going: the caller comes back later). `signal` aborts training (a cancel).
 */
export async function advanceRun(id: string, deps: RunMachineDeps, signal?: AbortSignal): Promise<RunRecord> {
  const now = deps.now ?? (() => new Date());
  let run = await deps.runs.get(id);
  const stored = await deps.pipelines.version(run.pipeline, run.pipelineVersion);
  const spec = stored.spec;
  const runDir = runDirOf(deps.runsDir, id);
  await mkdir(runDir, { recursive: true });
  const transition = async (next: RunRecord): Promise<RunRecord> => {
    try {
      await deps.onTransition?.(next);
    } catch (error) {
      deps.log?.(`pipeline run ${id}: notification failed: ${(error as Error).message}`);
    }
    return next;
  };
  try {
    for (;;) {
      if ((await deps.runs.get(id)).cancelRequested) throw new RunEnd('cancelled', 'cancelled by request');
      if (run.status !== 'running') return run;
      switch (run.step) {
        case 'pending': {
          const champion = await championOf(spec, {
            registry: deps.registry,
            deployments: deps.release.deployments.service,
          });
          run = await transition(
            await deps.runs.update(id, deps.owner, { step: 'building-data', championVersion: champion ?? null }),
          );
          break;
        }
        case 'building-data': {
          const signature = (await signatureSource(deps.registry, spec, run)).signature;
          const data = await buildRunData({ spec, signature, runDir, now: now(), deps: deps.data });
          run = await transition(await deps.runs.update(id, deps.owner, { step: 'training', data }));
          break;
        }
        case 'training': {
          const left = await deps.runs.trainingPid(id);
          if (left !== null && isAlive(left)) {
            deps.log?.(`pipeline run ${id}: killing training process group ${left} left by its previous owner`);
            await killProcessGroup(left);
          }
          const champion =
            run.championVersion === null ? undefined : await deps.registry.resolve(spec.model, run.championVersion);
          const data = run.data!;
          const output = path.join(runDir, 'candidate.onnx');
          const training = await runTraining({
            spec: spec.train,
            runDir,
            files: {
              train: data.files.train,
              validation: data.files.validation,
              test: data.files.test,
              champion: champion === undefined ? null : deps.registry.artifactPath(champion),
              output,
            },
            context: {
              run: id,
              pipeline: spec.name,
              model: spec.model,
              labelColumn: data.labelColumn,
              featureColumns: data.featureColumns,
            },
            ...(signal === undefined ? {} : { signal }),
            onSpawn: async (pid) => {
              await deps.runs.update(id, deps.owner, { trainingPid: pid });
            },
          });
          await deps.runs.update(id, deps.owner, { training, trainingPid: null });
          if (signal?.aborted === true) {
            if (signal.reason instanceof RunInterrupted) throw signal.reason;
            throw new RunEnd('cancelled', 'cancelled during training; the training process group was stopped');
          }
          if (training.candidatePath === null) {
            const how = training.timedOut
              ? `timed out after ${spec.train.timeoutMs} ms`
              : training.signal !== null
                ? `was stopped by ${training.signal}`
                : training.exitCode === 0
                  ? `exited 0 but wrote no model to SLIPWAY_OUTPUT_ONNX`
                  : `exited with code ${training.exitCode}`;
            throw new RunEnd(
              'failed',
              `training: ${training.command.join(' ')} ${how}; its log is kept (slipway pipeline logs ${id})`,
            );
          }
          run = await transition(await deps.runs.update(id, deps.owner, { step: 'evaluating' }));
          break;
        }
        case 'evaluating': {
          // A release that cannot happen is refused before anything is measured or registered.
          assertReleasable(spec);
          const data = run.data!;
          const candidateBytes = new Uint8Array(await readFile(run.training!.candidatePath!));
          const champion =
            run.championVersion === null ? undefined : await deps.registry.resolve(spec.model, run.championVersion);
          const evaluation = await evaluateRun({
            ...(champion === undefined
              ? {}
              : { championBytes: new Uint8Array(await readFile(deps.registry.artifactPath(champion))) }),
            champion: champion === undefined ? null : champion.version,
            candidateBytes,
            signature: champion === undefined ? readOnnxModel(candidateBytes).signature : champion.signature,
            testFile: data.files.test,
            labelColumn: data.labelColumn,
            ...(champion?.labels === undefined ? {} : { classLabels: champion.labels }),
            gates: spec.evaluate.gates,
            allowSignatureChange: spec.allowMajor,
          });
          run = await deps.runs.update(id, deps.owner, { evaluation });
          if (!evaluation.passed) {
            const failed = evaluation.gates.filter((g) => !g.passed);
            throw new RunEnd(
              'stopped',
              `evaluation: the candidate failed ${failed.map((g) => `${g.text} (measured ${g.actual ?? 'n/a'})`).join('; ')}; nothing was registered`,
            );
          }
          run = await transition(await deps.runs.update(id, deps.owner, { step: 'registering' }));
          break;
        }
        case 'registering': {
          const outcome = await registerCandidate({
            registry: deps.registry,
            model: spec.model,
            bytes: new Uint8Array(await readFile(run.training!.candidatePath!)),
            run,
            championVersion: run.championVersion,
            allowMajor: spec.allowMajor,
            dataSha256: run.data!.sha256,
            evaluation: run.evaluation!,
          });
          if ('stopped' in outcome) throw new RunEnd('stopped', `registering: ${outcome.stopped}`);
          run = await transition(
            await deps.runs.update(id, deps.owner, { step: 'releasing', candidateVersion: outcome.version.version }),
          );
          break;
        }
        case 'releasing': {
          const candidate = run.candidateVersion!;
          if (run.release === null) {
            const release = await releaseCandidate({
              spec: spec.release,
              pipeline: spec,
              run: run.id,
              candidate,
              ...(run.championVersion === null ? {} : { champion: run.championVersion }),
              deps: deps.release,
            });
            run = await transition(await deps.runs.update(id, deps.owner, { release }));
          }
          const progress = await releaseProgress({
            spec: spec.release,
            pipeline: spec,
            release: run.release!,
            candidate,
            ...(run.championVersion === null ? {} : { champion: run.championVersion }),
            deps: deps.release,
            now: now(),
          });
          if (progress.state === 'waiting') return run;
          if (progress.state === 'stopped') throw new RunEnd('stopped', `releasing: ${progress.reason}`);
          return await transition(await deps.runs.finish(id, deps.owner, { status: 'succeeded', reason: null }));
        }
      }
    }
  } catch (error) {
    if (error instanceof RunInterrupted) return deps.runs.get(id);
    if (error instanceof SlipwayError && error.code === 'CONFLICT' && /lost/.test(error.message)) throw error;
    const latest = await deps.runs.get(id);
    if (latest.status !== 'running') return latest;
    const end =
      error instanceof RunEnd ? error : new RunEnd('failed', `${latest.step}: ${toSlipwayError(error).message}`);
    return transition(await deps.runs.finish(id, deps.owner, { status: end.status, reason: end.message }));
  }
}

/** Whose signature the data and evaluation follow: the champion's, else the model's newest version. */
async function signatureSource(registry: RegistryService, spec: PipelineSpec, run: RunRecord): Promise<VersionRecord> {
  if (run.championVersion !== null) return registry.resolve(spec.model, run.championVersion);
  try {
    return await registry.resolve(spec.model, 'latest');
  } catch (error) {
    if (error instanceof SlipwayError && error.code === 'NOT_FOUND')
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `model "${spec.model}" has no version to take the training data's columns from: push a first version, then the pipeline retrains it`,
      );
    throw error;
  }
}
