/**
 * Optimize and distill runs asked for over the API: checked and stored as a job (queued), then run
 * one at a time, each in its own `slipway optimize-job <id>` process. A separate process because a
 * run trains and times models for minutes on the CPU and holds their sessions in memory; in the
 * server's own thread it would stall inference and distort its own latency figures. The child
 * writes progress, the report and the outcome into the job's row (optimize/run-job.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { confinePath } from '../core/data-roots.js';
import { SlipwayError } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { OptimizeJobRecord, SqlOptimizeJobStore } from './job-store.js';
import { buildPasses } from './pass-catalog.js';
import { parseSpecBody, specFiles, type OptimizeSpec } from './optimize-spec.js';

const SLIPWAY_BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));

export interface OptimizeJobsOptions {
  readonly store: SqlOptimizeJobStore;
  readonly registry: RegistryService;
  /** Files named over the API must lie inside these (core/data-roots.ts). */
  readonly dataRoots: readonly string[];
  /** The environment the runner process gets: it must open the same home and database. */
  readonly env: NodeJS.ProcessEnv;
  readonly log?: (line: string) => void;
}

export class OptimizeJobs {
  readonly #options: OptimizeJobsOptions;
  readonly #queue: string[] = [];
  #running: { id: string; child: ChildProcess } | undefined;
  #stopped = false;

  constructor(options: OptimizeJobsOptions) {
    this.#options = options;
  }

  /**
   * Check a request whole (spec, pass settings, parent version, files inside the data roots and
   * present), store it as a queued job and start it when none runs. 400/404 before anything is stored.
   */
  async submit(
    kind: 'optimize' | 'distill',
    model: string,
    version: string,
    body: unknown,
    actor: string | null,
  ): Promise<OptimizeJobRecord> {
    if (this.#stopped) throw new SlipwayError('UNAVAILABLE', 'the server is stopping');
    const parsed = parseSpecBody(kind, `${model}@${version}`, body);
    buildPasses(parsed.passes);
    const parent = await this.#options.registry.resolve(parsed.model);
    const spec: OptimizeSpec = { ...parsed, model: `${parent.model}@${parent.version}` };
    const confined: Record<string, string> = {};
    for (const { field, file } of specFiles(spec)) {
      const real = await confinePath(file, this.#options.dataRoots, `field "${field}"`);
      const found = await stat(real).catch(() => undefined);
      if (found === undefined || !found.isFile())
        throw new SlipwayError('INVALID_ARGUMENT', `field "${field}": "${file}" is not a file`, { details: { field } });
      confined[field] = real;
    }
    const job = await this.#options.store.insert({
      id: randomUUID(),
      kind,
      model: parent.model,
      parentVersion: parent.version,
      spec: { ...spec, ...confined },
      actor,
    });
    this.#queue.push(job.id);
    this.#next();
    return job;
  }

  get(id: string): Promise<OptimizeJobRecord> {
    return this.#options.store.get(id);
  }

  list(query: { readonly model?: string; readonly limit?: number } = {}): Promise<OptimizeJobRecord[]> {
    return this.#options.store.list(query);
  }

  /** Stop starting jobs; the running one is killed and recorded as interrupted. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running = this.#running;
    this.#queue.length = 0;
    if (running === undefined) return;
    const exited = new Promise<void>((resolve) => running.child.once('exit', () => resolve()));
    running.child.kill('SIGTERM');
    await exited;
  }

  #next(): void {
    if (this.#running !== undefined || this.#stopped) return;
    const id = this.#queue.shift();
    if (id === undefined) return;
    const child = spawn(process.execPath, [SLIPWAY_BIN, 'optimize-job', id], {
      env: this.#options.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.#running = { id, child };
    child.once('exit', (code, signal) => {
      this.#running = undefined;
      void this.#afterExit(id, code, signal, stderr).finally(() => this.#next());
    });
    child.once('error', (error) =>
      this.#options.log?.(`optimize job ${id}: cannot start its process: ${error.message}`),
    );
  }

  /** A runner that exited without finishing its job leaves it failed, with the reason. */
  async #afterExit(id: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): Promise<void> {
    try {
      const job = await this.#options.store.get(id);
      if (job.status !== 'queued' && job.status !== 'running') return;
      const how = signal !== null ? `was stopped by ${signal}` : `exited with code ${code}`;
      const last = stderr.trim().split('\n').at(-1) ?? '';
      await this.#options.store.abandon(
        id,
        `interrupted: its process ${how}${last ? ` (${last})` : ''}; nothing was registered`,
      );
    } catch (error) {
      this.#options.log?.(`optimize job ${id}: cannot record its end: ${(error as Error).message}`);
    }
  }
}
