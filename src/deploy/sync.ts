/**
 * Keeps a process's router equal to the store: every `intervalMs` it reads each deployment's
 * active revision number (one small query), and for each that changed it loads the new spec,
 * warms every version it names, and only then swaps the router's entry. Requests in flight finish
 * on the version they were routed to; new ones see the new revision. Every server sharing one
 * database follows the same way, whoever made the change (CLI, API, a controller).
 */
import { ActiveDeployment, type DeploymentRouter } from './router.js';
import type { SqlDeploymentStore } from './deployment-store.js';
import { versionsOf } from './spec.js';
import { isConnectionError } from '../store/database-errors.js';

export interface DeploymentSyncOptions {
  readonly store: SqlDeploymentStore;
  readonly router: DeploymentRouter;
  /** Load and warm these versions of a model (the model pool); throws when one cannot load. */
  readonly prepare: (model: string, versions: readonly string[]) => Promise<void>;
  readonly intervalMs?: number;
  readonly onError?: (error: unknown) => void;
}

/** A revision that failed to prepare is tried again after this long. */
const RETRY_FAILED_MS = 30_000;

export class DeploymentSync {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly failed = new Map<string, number>();

  constructor(private readonly options: DeploymentSyncOptions) {}

  /** Bring the router up to date now (serialised with the timer's refreshes). */
  refresh(): Promise<void> {
    this.running = this.running.then(() => this.refreshOnce()).catch((error: unknown) => this.options.onError?.(error));
    return this.running;
  }

  private async refreshOnce(): Promise<void> {
    const { store, router } = this.options;
    const active = await store.activeRevisions();
    for (const name of router.names()) if (!active.has(name)) router.remove(name);
    for (const [name, revision] of active) {
      if (router.get(name)?.revision === revision) continue;
      const key = `${name}@${revision}`;
      const failedAt = this.failed.get(key);
      if (failedAt !== undefined && Date.now() - failedAt < RETRY_FAILED_MS) continue;
      try {
        const { spec } = await store.revision(name, revision);
        await this.options.prepare(spec.model, versionsOf(spec));
        router.install(new ActiveDeployment(name, revision, spec));
        this.failed.delete(key);
      } catch (error) {
        // A version that does not load waits RETRY_FAILED_MS; an unreachable database is not the
        // revision's fault, so it is tried again at the next poll (the router keeps the old one).
        if (!isConnectionError(error)) this.failed.set(key, Date.now());
        this.options.onError?.(error);
      }
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.refresh(), this.options.intervalMs ?? 500);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
