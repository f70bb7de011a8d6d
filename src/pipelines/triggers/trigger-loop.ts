/**
 * The trigger loop: every interval, each active pipeline's triggers are evaluated once
 * (evaluate-triggers.ts), the evaluations recorded, and a run started for the first that fired.
 * A pipeline with a run already going (startRun throws CONFLICT) is recorded as not started, not
 * as an error. Ticks never overlap; the clock is an option so tests drive it.
 */
import { SlipwayError } from '../../core/errors.js';
import type { StoredPipeline, TriggerEvaluation, TriggerFiring } from '../types.js';
import { evaluateTriggers, type TriggerDeps } from './evaluate-triggers.js';

export interface TriggerLoopOptions {
  /** The stored pipelines (inactive ones are skipped). */
  readonly pipelines: () => Promise<StoredPipeline[]>;
  readonly deps: TriggerDeps;
  /** Start a run; throws SlipwayError CONFLICT when one is already running (details `{ runId }` names it). */
  readonly startRun: (pipeline: StoredPipeline, firing: TriggerFiring) => Promise<unknown>;
  /** Keep one pipeline's evaluations of one tick. */
  readonly record: (evaluations: readonly TriggerEvaluation[]) => Promise<void>;
  readonly now?: () => Date;
  readonly log?: (line: string) => void;
}

/** What one tick did for one pipeline. */
export interface PipelineTick {
  readonly pipeline: string;
  readonly firing?: TriggerFiring;
  /** `started`: a run started; `conflict`: one was already running; `failed`: evaluating, starting or recording threw. */
  readonly outcome: 'idle' | 'started' | 'conflict' | 'failed';
  readonly evaluations: readonly TriggerEvaluation[];
  readonly error?: string;
}

export class TriggerLoop {
  private readonly now: () => Date;
  private readonly log: (line: string) => void;
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<PipelineTick[]> | undefined;

  constructor(private readonly options: TriggerLoopOptions) {
    this.now = options.now ?? (() => new Date());
    this.log = options.log ?? (() => undefined);
  }

  /** Evaluate every active pipeline once (after any tick in progress), pipelines one after another. */
  async tick(): Promise<PipelineTick[]> {
    while (this.current !== undefined) await this.current.catch(() => undefined);
    const running = this.runTick();
    this.current = running;
    try {
      return await running;
    } finally {
      if (this.current === running) this.current = undefined;
    }
  }

  /** Tick every `intervalMs` (a tick still running when the next is due is not doubled). */
  start(intervalMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new SlipwayError('INVALID_ARGUMENT', `trigger loop interval ${intervalMs} ms: expected a positive number`);
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (this.current !== undefined) return;
      this.tick().catch((error: unknown) => this.log(`trigger loop: tick failed: ${messageOf(error)}`));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stop ticking; resolves once the tick in progress (if any) has finished. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.current?.catch(() => undefined);
  }

  private async runTick(): Promise<PipelineTick[]> {
    const pipelines = (await this.options.pipelines()).filter((p) => p.active);
    const results: PipelineTick[] = [];
    for (const pipeline of pipelines) results.push(await this.tickOne(pipeline));
    return results;
  }

  private async tickOne(pipeline: StoredPipeline): Promise<PipelineTick> {
    const name = pipeline.name;
    let outcome;
    try {
      outcome = await evaluateTriggers(pipeline, this.options.deps, this.now());
    } catch (error) {
      this.log(`trigger loop: pipeline ${name}: evaluation failed: ${messageOf(error)}`);
      return { pipeline: name, outcome: 'failed', evaluations: [], error: messageOf(error) };
    }
    const { firing } = outcome;
    let evaluations = outcome.evaluations;
    let result: PipelineTick = { pipeline: name, outcome: 'idle', evaluations };
    if (firing !== undefined) {
      try {
        await this.options.startRun(pipeline, firing);
        this.log(`trigger loop: pipeline ${name}: run started: ${firing.reason}`);
        result = { pipeline: name, firing, outcome: 'started', evaluations };
      } catch (error) {
        const conflict = error instanceof SlipwayError && error.code === 'CONFLICT';
        const note = conflict ? `not started: ${runningRun(error)}` : `run failed to start: ${messageOf(error)}`;
        evaluations = annotateFired(evaluations, firing, note);
        if (!conflict) this.log(`trigger loop: pipeline ${name}: ${note}`);
        result = {
          pipeline: name,
          firing,
          outcome: conflict ? 'conflict' : 'failed',
          evaluations,
          ...(conflict ? {} : { error: messageOf(error) }),
        };
      }
    }
    try {
      if (evaluations.length > 0) await this.options.record(evaluations);
    } catch (error) {
      this.log(`trigger loop: pipeline ${name}: recording evaluations failed: ${messageOf(error)}`);
      return { ...result, outcome: result.outcome === 'idle' ? 'failed' : result.outcome, error: messageOf(error) };
    }
    return result;
  }
}

/** `run X running` from a CONFLICT's details (`runId`), else the error's own message. */
function runningRun(error: SlipwayError): string {
  const details = error.details as { runId?: unknown } | undefined;
  return typeof details?.runId === 'string' ? `run ${details.runId} running` : error.message;
}

/** The fired evaluation (the one the firing came from) with why no run started appended to its reason. */
function annotateFired(
  evaluations: readonly TriggerEvaluation[],
  firing: TriggerFiring,
  note: string,
): TriggerEvaluation[] {
  let done = false;
  return evaluations.map((e) => {
    if (done || !e.fired || e.trigger !== firing.kind || e.reason !== firing.reason) return e;
    done = true;
    return { ...e, reason: `${e.reason}; ${note}` };
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
