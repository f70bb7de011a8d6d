import type { ExperimentService } from './experiment-service.js';
import type { RolloutService } from './rollout-service.js';
import type { SqlShadowStore } from './shadow-store.js';
import type { SqlTrafficStatsStore } from './traffic-stats.js';

/** Traffic counters (per minute once an hour old) are kept this long. */
const TRAFFIC_RETENTION_MS = 90 * 86_400_000;

/**
 * The background loop of rollouts and experiments (`serve` runs it in its first worker): every
 * tick each running rollout or experiment whose interval has passed takes one look. Several
 * servers may each run one; the stores' conditional writes make every transition happen once.
 */
export class DeploymentController {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private lastPrune = 0;

  constructor(
    private readonly parts: {
      rollouts: RolloutService;
      experiments: ExperimentService;
      traffic: SqlTrafficStatsStore;
      shadows: SqlShadowStore;
      shadowRetentionMs: number;
      log: (line: string) => void;
    },
    private readonly tickMs = 1000,
  ) {}

  /** One tick now (serialised with the timer's). */
  tick(): Promise<void> {
    this.running = this.running.then(async () => {
      for (const [what, look] of [
        ['rollout', () => this.parts.rollouts.tick()],
        ['experiment', () => this.parts.experiments.tick()],
      ] as const) {
        try {
          await look();
        } catch (error) {
          this.parts.log(`${what} controller: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      if (Date.now() - this.lastPrune > 600_000) {
        this.lastPrune = Date.now();
        try {
          // Rollout gates read the last minutes per second; older traffic is kept per minute.
          await this.parts.traffic.compact(Date.now() - 3_600_000);
          await this.parts.traffic.prune(Date.now() - TRAFFIC_RETENTION_MS);
          await this.parts.shadows.deleteBefore(Date.now() - this.parts.shadowRetentionMs);
        } catch (error) {
          this.parts.log(`traffic counters: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    });
    return this.running;
  }

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
