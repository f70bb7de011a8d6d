import { execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError, invalid } from '../../core/errors.js';
import { csvSibling } from '../data/build-run-data.js';
import type { TrainingOutcome, TrainSpec } from '../types.js';
import { CappedLog, DEFAULT_LOG_LIMIT_BYTES } from './capped-log.js';
import { KILL_GRACE_MS, killProcessGroup } from './process-group.js';

export interface TrainingFiles {
  readonly train: string;
  readonly validation: string;
  readonly test: string;
  /** The champion's ONNX; null when the model has none yet. */
  readonly champion: string | null;
  /** Where the command must write the candidate ONNX (removed first, so an old file never counts). */
  readonly output: string;
}

export interface TrainingContext {
  readonly run: string;
  readonly pipeline: string;
  readonly model: string;
  readonly labelColumn: string;
  readonly featureColumns: readonly string[];
}

export interface RunTrainingOptions {
  readonly spec: TrainSpec;
  /** The run's folder: receives train.log and training-run.json. */
  readonly runDir: string;
  readonly files: TrainingFiles;
  readonly context: TrainingContext;
  /** Aborting stops the process group like a timeout does (SIGTERM, SIGKILL after the grace period). */
  readonly signal?: AbortSignal;
  /** Called with the process group's id right after the spawn (record it: a restarted run kills it). */
  readonly onSpawn?: (pid: number) => void | Promise<void>;
  /** Cap of train.log (default 1 MiB): the first and last halves are kept. */
  readonly logLimitBytes?: number;
  /** Between SIGTERM and SIGKILL (default 5 s). */
  readonly killGraceMs?: number;
}

/** The longest timeout a timer can hold (2^31 - 1 ms). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The file names a run's training step writes in its folder. */
export const TRAIN_LOG = 'train.log';
export const TRAINING_RUN_JSON = 'training-run.json';

/**
 * Run a pipeline's training command (issue 17): argv without a shell, in its own process group, in
 * `spec.workdir`, with process.env + spec.env + the SLIPWAY_* variables (split files, their CSV copies
 * when present, the champion, the output path, the label column, and SLIPWAY_RUN_JSON: a JSON file
 * with all of them plus the run id, pipeline, model and feature columns). stdout and stderr go to
 * runDir/train.log (capped, see CappedLog). A timeout or an abort sends SIGTERM to the group and
 * SIGKILL after the grace period; processes the command leaves behind when it exits are stopped too.
 * The outcome is returned whatever the exit (check `signal.aborted` for a cancel); `candidatePath` is
 * set only when the command exited 0 in time and wrote the output file.
 *
 * Errors: INVALID_ARGUMENT for an empty command or a missing working folder; FAILED_PRECONDITION when
 * the command cannot be started (e.g. not found; also written to the log); CANCELLED when the signal
 * was aborted before the start.
 */
export async function runTraining(options: RunTrainingOptions): Promise<TrainingOutcome> {
  const { spec, runDir, files, context } = options;
  if (spec.command.length === 0 || spec.command[0] === '') throw invalid('train.command is empty');
  const workdir = path.resolve(spec.workdir);
  if (!existsSync(workdir) || !statSync(workdir).isDirectory())
    throw invalid(`train.workdir "${workdir}" is not a folder`);
  if (!Number.isInteger(spec.timeoutMs) || spec.timeoutMs <= 0 || spec.timeoutMs > MAX_TIMEOUT_MS)
    throw invalid(`train.timeout must be between 1 ms and ${MAX_TIMEOUT_MS} ms (about 24 days), got ${spec.timeoutMs}`);
  const aborted = (): boolean => options.signal?.aborted === true;
  if (aborted()) throw new SlipwayError('CANCELLED', 'training cancelled before it started');
  await rm(files.output, { force: true });
  const variables = slipwayVariables(files, context, path.join(runDir, TRAINING_RUN_JSON));
  await writeFile(
    variables.SLIPWAY_RUN_JSON!,
    `${JSON.stringify({ run: context.run, pipeline: context.pipeline, model: context.model, featureColumns: context.featureColumns, ...variables }, null, 2)}\n`,
  );
  const gitCommit = await gitHead(workdir);
  const log = new CappedLog(path.join(runDir, TRAIN_LOG), options.logLimitBytes ?? DEFAULT_LOG_LIMIT_BYTES);
  const started = Date.now();
  const child = spawn(spec.command[0]!, spec.command.slice(1), {
    cwd: workdir,
    env: { ...process.env, ...spec.env, ...variables },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => log.write(chunk));
  child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
  const exited = new Promise<{ code: number | null; signal: string | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // stdout/stderr end once every process holding them is gone.
  const drained = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const pid = child.pid;
  const grace = options.killGraceMs ?? KILL_GRACE_MS;
  let timedOut = false;
  let stopping: Promise<number> | undefined;
  const stop = (): void => {
    if (pid !== undefined) stopping ??= killProcessGroup(pid, grace);
  };
  const timer = setTimeout(() => {
    timedOut = true;
    log.write(`\n[slipway: timed out after ${spec.timeoutMs} ms: stopping the process group]\n`);
    stop();
  }, spec.timeoutMs);
  const onAbort = (): void => {
    log.write('\n[slipway: cancelled: stopping the process group]\n');
    stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (pid !== undefined && options.onSpawn !== undefined) {
      try {
        await options.onSpawn(pid);
      } catch (error) {
        // Not recorded means not resumable: stop it rather than leave a process nobody tracks.
        log.write(`\n[slipway: stopping: recording the training process failed]\n`);
        stop();
        await exited;
        await stopping;
        throw error;
      }
    }
    const exit = await exited;
    if (exit.error !== undefined) {
      log.write(`[slipway: could not start ${spec.command[0]}: ${exit.error.message}]\n`);
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `train.command "${spec.command[0]}" could not be started in ${workdir}: ${exit.error.message}`,
        { cause: exit.error },
      );
    }
    // Whatever the command left running in its group goes too: no orphan keeps training.
    if (pid !== undefined) await (stopping ?? killProcessGroup(pid, grace));
    const durationMs = Date.now() - started;
    await Promise.race([drained, sleep(2000, undefined, { ref: false })]);
    const succeeded = exit.code === 0 && !timedOut && !aborted();
    return {
      command: [...spec.command],
      workdir,
      exitCode: exit.code,
      signal: exit.signal,
      timedOut,
      durationMs,
      gitCommit,
      candidatePath: succeeded && existsSync(files.output) ? files.output : null,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await log.close();
  }
}

/** The SLIPWAY_* variables a training command gets (CSV copies only when they exist). */
function slipwayVariables(files: TrainingFiles, context: TrainingContext, runJson: string): Record<string, string> {
  const variables: Record<string, string> = {
    SLIPWAY_TRAIN_DATA: path.resolve(files.train),
    SLIPWAY_VALIDATION_DATA: path.resolve(files.validation),
    SLIPWAY_TEST_DATA: path.resolve(files.test),
    SLIPWAY_OUTPUT_ONNX: path.resolve(files.output),
    SLIPWAY_LABEL_COLUMN: context.labelColumn,
    SLIPWAY_RUN_JSON: path.resolve(runJson),
  };
  if (files.champion !== null) variables.SLIPWAY_CHAMPION_ONNX = path.resolve(files.champion);
  for (const [name, file] of [
    ['TRAIN', files.train],
    ['VALIDATION', files.validation],
    ['TEST', files.test],
  ] as const) {
    const csv = csvSibling(file);
    if (csv !== file && existsSync(csv)) variables[`SLIPWAY_${name}_CSV`] = path.resolve(csv);
  }
  return variables;
}

/** `git -C workdir rev-parse HEAD`, or null outside a git repository (or without git). */
function gitHead(workdir: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-C', workdir, 'rev-parse', 'HEAD'], { timeout: 10_000 }, (error, stdout) => {
      const head = stdout.trim();
      resolve(error === null && /^[0-9a-f]{40,64}$/.test(head) ? head : null);
    });
  });
}
