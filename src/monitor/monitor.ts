/**
 * The monitoring hub of one process: subscribes to inference events and fans each one out to the
 * Prometheus metrics, the live windows and the prediction log, with one cached lookup per request.
 */
import type { VersionKey } from './metrics.js';
import type { InferenceEvent, InferenceObserver } from './events.js';
import { LiveStats, type SeriesWindow } from './live-stats.js';
import { ServingMetrics, type GaugeSource, type RequestSeries } from './metrics.js';
import { ModelStatistics } from './model-statistics.js';

/** Where logged predictions go; implemented by the prediction log. */
export interface PredictionSink {
  recordInference(event: InferenceEvent): void;
}

export interface MonitorOptions {
  readonly gauges: GaugeSource;
  readonly sink?: PredictionSink;
  readonly processMetrics?: boolean;
  readonly now?: () => number;
}

interface Handles {
  readonly metrics: RequestSeries;
  readonly window: SeriesWindow;
}

export class Monitor {
  readonly metrics: ServingMetrics;
  readonly stats: LiveStats;
  /** Triton's per-version statistics (model-statistics.ts), for the statistics extension. */
  readonly statistics = new ModelStatistics();
  private readonly handles = new Map<string, Handles>();
  private sink: PredictionSink | undefined;

  constructor(options: MonitorOptions) {
    this.metrics = new ServingMetrics(options.gauges, { processMetrics: options.processMetrics });
    this.stats = new LiveStats(options.now);
    this.sink = options.sink;
  }

  /** Attach (or detach) the prediction log. */
  setSink(sink: PredictionSink | undefined): void {
    this.sink = sink;
  }

  /**
   * One successful batcher run of a version (the model pool's `onBatch`): the batch size
   * histogram and the statistics' executions.
   */
  observeBatch(key: VersionKey, rows: number, computeMs: number): void {
    this.metrics.observeBatch(key, rows);
    this.statistics.observeExecution(key.model, key.version, rows, computeMs);
  }

  /** The observer to give the inference service. */
  readonly observer: InferenceObserver = (event) => {
    this.statistics.observe(event);
    const key = `${event.deployment ?? ''}\u0000${event.model}\u0000${event.version}\u0000${event.protocol}`;
    let handles = this.handles.get(key);
    if (handles === undefined) {
      handles = {
        metrics: this.metrics.series(event.deployment, event.model, event.version, event.protocol),
        window: this.stats.window(event.deployment, event.model, event.version),
      };
      this.handles.set(key, handles);
    }
    this.metrics.observe(event, handles.metrics);
    handles.window.record(event.timeMs, event.outcome, event.durationSeconds * 1000);
    if (event.outcome === 'success') this.sink?.recordInference(event);
  };
}
