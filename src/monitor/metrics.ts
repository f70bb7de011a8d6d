/**
 * The Prometheus metrics of a Slipway process (`GET /metrics`), named by Prometheus conventions
 * (`slipway_` prefix, base units, `_total` counters) with bounded labels only: deployment, model,
 * version (names the registry knows, '' otherwise) and protocol.
 */
import {
  AggregatorRegistry,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';
import type { InferenceEvent, RequestOutcome } from './events.js';
import { REQUEST_OUTCOMES } from './events.js';
import {
  LATENCY_BUCKETS,
  SeriesCounter,
  SeriesHistogram,
  type CounterSeries,
  type HistogramSeries,
} from './series-metrics.js';

const REQUEST_LABELS = ['deployment', 'model', 'version', 'protocol'] as const;
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const LOAD_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The handles of one deployment/model/version/protocol, looked up once per request. */
export interface RequestSeries {
  readonly outcomes: Readonly<Record<RequestOutcome, CounterSeries>>;
  readonly duration: HistogramSeries;
  readonly queue: HistogramSeries;
  readonly compute: HistogramSeries;
}

/** One process's registry as `Registry.getMetricsAsJSON()` gives it (what workers send each other). */
export type RegistryJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * With `--workers N`: every worker's {@link RegistryJson} (this one's included), and how many
 * workers did not answer in time.
 */
export type MetricsGather = () => Promise<{ results: RegistryJson[]; missing: number }>;

/** What the scrape-time gauges read. */
export interface GaugeSource {
  /** Per loaded `model@version` with a batcher: requests waiting and runs in flight. */
  queues(): { key: VersionKey; queued: number; inFlight: number }[];
  loadedModels(): number;
  /** Per ready `model@version`: the execution provider it runs on (optional: sources without one export nothing). */
  providers?(): { key: VersionKey; provider: string }[];
}

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly requests = new SeriesCounter(
    'slipway_requests_total',
    'Inference requests by outcome (success, invalid, error, rejected).',
    [...REQUEST_LABELS, 'outcome'],
  ).register(this.registry);
  private readonly duration = new SeriesHistogram(
    'slipway_request_duration_seconds',
    'Inference request duration, arrival to answer.',
    REQUEST_LABELS,
    LATENCY_BUCKETS,
  ).register(this.registry);
  private readonly queue = new SeriesHistogram(
    'slipway_queue_duration_seconds',
    'Time inference requests waited in the batch queue.',
    REQUEST_LABELS,
    LATENCY_BUCKETS,
  ).register(this.registry);
  private readonly compute = new SeriesHistogram(
    'slipway_compute_duration_seconds',
    'Duration of the model run that carried each request.',
    REQUEST_LABELS,
    LATENCY_BUCKETS,
  ).register(this.registry);
  private readonly batchSize = new SeriesHistogram(
    'slipway_batch_size',
    'Rows per model run made by the dynamic batcher.',
    ['model', 'version'],
    BATCH_BUCKETS,
  ).register(this.registry);
  private readonly loadDuration: Histogram<'model' | 'version' | 'result'>;
  private readonly cache = new Map<string, RequestSeries>();
  private readonly batchCache = new Map<string, HistogramSeries>();
  private gather: MetricsGather | undefined;

  constructor(source: GaugeSource, options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.loadDuration = new Histogram({
      name: 'slipway_model_load_duration_seconds',
      help: 'Model load time, including warm-up.',
      labelNames: ['model', 'version', 'result'],
      buckets: LOAD_BUCKETS,
      registers,
    });
    // `aggregator`: how `--workers N` combines the workers' values into one scrape (cluster.ts in
    // prom-client): queues and runs add up; loaded models is the fewest any worker has loaded, so
    // it counts what every worker can serve without a load.
    new Gauge({
      name: 'slipway_queue_depth',
      help: "Requests waiting in a model version's batch queue.",
      labelNames: ['model', 'version'],
      registers,
      aggregator: 'sum',
      collect() {
        this.reset();
        for (const q of source.queues()) this.set({ model: q.key.model, version: q.key.version }, q.queued);
      },
    });
    new Gauge({
      name: 'slipway_inflight_runs',
      help: 'Model runs executing now.',
      labelNames: ['model', 'version'],
      registers,
      aggregator: 'sum',
      collect() {
        this.reset();
        for (const q of source.queues()) this.set({ model: q.key.model, version: q.key.version }, q.inFlight);
      },
    });
    new Gauge({
      name: 'slipway_loaded_models',
      help: 'Model versions loaded and ready (with --workers N: in every worker).',
      registers,
      aggregator: 'min',
      collect() {
        this.set(source.loadedModels());
      },
    });
    new Gauge({
      name: 'slipway_model_execution_provider',
      help: 'The execution provider each loaded model version runs on (1 per version and provider).',
      labelNames: ['model', 'version', 'provider'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const p of source.providers?.() ?? [])
          this.set({ model: p.key.model, version: p.key.version, provider: p.provider }, 1);
      },
    });
    // CPU, resident memory, heap and event-loop lag (nodejs_eventloop_lag_* from monitorEventLoopDelay).
    // GPU figures would come from the execution provider; none is active, so none are exported.
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The series of one request's labels; cached, so the hot path does one map lookup. */
  series(deployment: string | undefined, model: string, version: string, protocol: string): RequestSeries {
    const key = `${deployment ?? ''}\u0000${model}\u0000${version}\u0000${protocol}`;
    let series = this.cache.get(key);
    if (series === undefined) {
      const labels = [deployment ?? '', model, version, protocol];
      const outcomes = {} as Record<RequestOutcome, CounterSeries>;
      for (const outcome of REQUEST_OUTCOMES) outcomes[outcome] = this.requests.child([...labels, outcome]);
      series = {
        outcomes,
        duration: this.duration.child(labels),
        queue: this.queue.child(labels),
        compute: this.compute.child(labels),
      };
      this.cache.set(key, series);
    }
    return series;
  }

  observe(
    event: InferenceEvent,
    series = this.series(event.deployment, event.model, event.version, event.protocol),
  ): void {
    series.outcomes[event.outcome].inc();
    series.duration.observe(event.durationSeconds);
    if (event.outcome === 'success') {
      series.queue.observe(event.queueSeconds);
      series.compute.observe(event.computeSeconds);
    }
  }

  observeBatch(key: VersionKey, rows: number): void {
    const id = `${key.model}\u0000${key.version}`;
    let series = this.batchCache.get(id);
    if (series === undefined) {
      series = this.batchSize.child([key.model, key.version]);
      this.batchCache.set(id, series);
    }
    series.observe(rows);
  }

  observeLoad(key: VersionKey, seconds: number, ok: boolean): void {
    this.loadDuration.observe({ model: key.model, version: key.version, result: ok ? 'loaded' : 'failed' }, seconds);
  }

  /**
   * Scrape every worker from now on (`--workers N`): counters and histograms add up, gauges follow
   * their `aggregator` (prom-client's cluster aggregation), so any worker's `/metrics` describes
   * the whole server.
   */
  aggregateWith(gather: MetricsGather): void {
    this.gather = gather;
  }

  /** This process's metrics, for another worker's aggregated scrape. */
  local(): Promise<RegistryJson> {
    return this.registry.getMetricsAsJSON();
  }

  /** The exposition text and its content type (of every worker once {@link aggregateWith} is set). */
  async scrape(): Promise<{ contentType: string; body: string }> {
    if (this.gather === undefined)
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    const { results, missing } = await this.gather();
    const body = await AggregatorRegistry.aggregate(results).metrics();
    // A worker busy past the gather timeout (a model load) is left out, and the scrape says so.
    const note =
      missing > 0
        ? `# slipway: ${missing} worker(s) did not answer in time; their series are missing from this scrape\n`
        : '';
    return { contentType: this.registry.contentType, body: note + body };
  }
}

/** A model version (the model pool's key; monitor/ does not import runtime/). */
export interface VersionKey {
  readonly model: string;
  readonly version: string;
}
