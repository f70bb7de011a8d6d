import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import { invalid } from '../../core/errors.js';
import type { DriftService } from '../../monitor/drift-service.js';
import { parseFeedback } from '../../monitor/feedback-input.js';
import type { PerformanceService } from '../../monitor/performance-service.js';
import type { PredictionLog } from '../../monitor/prediction-log.js';
import type { PredictionStore, StoredPrediction } from '../../monitor/prediction-store.js';
import { parseTime } from '../../monitor/time-params.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { encodeResponseOutput } from '../../tensor/json-codec.js';
import { isPlainObject } from '../../tensor/format.js';

type Query = Record<string, string | undefined>;

export interface ObservabilityApi {
  readonly predictions: PredictionStore;
  readonly log: PredictionLog;
  readonly performance: PerformanceService;
  readonly drift: DriftService;
}

/** A logged prediction as JSON: tensors in the protocol's JSON form. */
export function predictionJson(p: StoredPrediction): Record<string, unknown> {
  return {
    request_id: p.requestId,
    time: new Date(p.timeMs).toISOString(),
    deployment: p.deployment ?? null,
    model: p.model,
    version: p.version,
    protocol: p.protocol,
    latency_ms: p.latencyMs,
    inputs: p.inputs.map(encodeResponseOutput),
    outputs: p.outputs.map(encodeResponseOutput),
    ...(p.shadow === null || p.shadow === undefined ? {} : { shadow: p.shadow }),
    ...(p.features === null || p.features === undefined ? {} : { features: p.features }),
  };
}

const monitoring = (summary: string) => ({ schema: { tags: ['monitoring'], summary } });

/** Prediction log, feedback, performance and drift under `/api/v1`. */
export function registerObservabilityRoutes(app: FastifyInstance, api: ObservabilityApi): void {
  app.get('/api/v1/predictions', monitoring('Logged predictions: ?model=&version=&deployment=&since=&until=&request_id=&limit=&order=asc|desc'), async (request: FastifyRequest<{ Querystring: Query }>) => {
    const q = request.query;
    const now = Date.now();
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1) throw invalid(`limit "${q.limit}": expected a positive integer`);
    if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc') throw invalid(`order "${q.order}": expected asc or desc`);
    const rows = await api.predictions.query({
      ...(q.model === undefined ? {} : { model: q.model }),
      ...(q.version === undefined ? {} : { version: q.version }),
      ...(q.deployment === undefined ? {} : { deployment: q.deployment }),
      ...(q.request_id === undefined ? {} : { requestId: q.request_id }),
      ...(q.since === undefined ? {} : { since: parseTime(q.since, 'since', now) }),
      ...(q.until === undefined ? {} : { until: parseTime(q.until, 'until', now) }),
      limit,
      order: q.order ?? 'desc',
    });
    return { predictions: rows.map(predictionJson), log: api.log.stats() };
  });

  app.post('/api/v1/feedback', monitoring('Ground truth: {request_id, label} or {request_id, value}, or a list of them'), async (request) => {
    const items = parseFeedback(request.body);
    const accepted = await api.predictions.addFeedback(items);
    return { accepted };
  });

  app.get('/api/v1/performance', monitoring('Accuracy and friends from feedback, per version: ?model=&version=&window=24h'), async (request: FastifyRequest<{ Querystring: Query }>) => {
    const { model, version, window } = request.query;
    if (model === undefined || model === '') throw invalid('the "model" query parameter is required');
    return api.performance.report(model, parseDuration(window ?? '24h', 'window'), version);
  });

  app.get('/api/v1/drift', monitoring('Drift of a version against its reference over a window ending now (or at ?until=), computed now: ?model=&version=&window=1h'), async (request: FastifyRequest<{ Querystring: Query }>) => {
    const { model, version, window, until } = request.query;
    if (model === undefined || model === '') throw invalid('the "model" query parameter is required');
    return api.drift.check({
      model,
      windowMs: parseDuration(window ?? '1h', 'window'),
      ...(version === undefined ? {} : { selector: version }),
      ...(until === undefined ? {} : { until: parseTime(until, 'until') }),
    });
  });

  app.get('/api/v1/drift/results', monitoring('Stored drift results, newest first: ?model=&version=&limit='), async (request: FastifyRequest<{ Querystring: Query }>) => {
    const { model, version, limit } = request.query;
    return { results: await api.drift.results({ ...(model === undefined ? {} : { model }), ...(version === undefined ? {} : { version }), ...(limit === undefined ? {} : { limit: Number(limit) }) }) };
  });

  app.get('/api/v1/models/:ref/reference', monitoring("A version's reference profile (model@version, or model for the latest)"), async (request: FastifyRequest<{ Params: { ref: string } }>) => {
    const { model, selector } = parseModelRef(request.params.ref);
    return api.drift.getReference(model, selector);
  });

  app.put(
    '/api/v1/models/:ref/reference',
    monitoring('Set a reference: {"file": "/path/train.csv", "ignore": ["target"]} (a file on the server) or {"from_served": 1000}'),
    async (request: FastifyRequest<{ Params: { ref: string } }>) => {
      const { model, selector } = parseModelRef(request.params.ref);
      const body = request.body;
      if (!isPlainObject(body)) throw invalid('send {"file": "...", "ignore"?: [...]} or {"from_served": N}');
      if (typeof body.file === 'string') {
        const ignore = Array.isArray(body.ignore) ? body.ignore.map(String) : [];
        return summary(await api.drift.setReferenceFromFile(model, selector, body.file, ignore));
      }
      if (typeof body.from_served === 'number') return summary(await api.drift.setReferenceFromServed(model, selector, body.from_served));
      throw invalid('send {"file": "...", "ignore"?: [...]} or {"from_served": N}');
    },
  );

  app.get('/api/v1/models/:model/drift-settings', monitoring("A model's drift thresholds (unset ones take Evidently's defaults)"), async (request: FastifyRequest<{ Params: { model: string } }>) =>
    api.drift.settings(request.params.model),
  );
  app.put('/api/v1/models/:model/drift-settings', monitoring("Replace a model's drift thresholds, e.g. {\"ksPValue\": 0.01, \"driftShare\": 0.3}"), async (request: FastifyRequest<{ Params: { model: string } }>) => {
    if (!isPlainObject(request.body)) throw invalid('drift settings are a JSON object, e.g. {"ksPValue": 0.01}');
    return api.drift.setSettings(request.params.model, request.body);
  });
}

function summary(profile: { model: string; version: string; source: string; sourceDetail: string; rows: number; features: unknown[]; outputs: unknown[]; skipped: string[] }) {
  return { model: profile.model, version: profile.version, source: profile.source, detail: profile.sourceDetail, rows: profile.rows, features: profile.features.length, outputs: profile.outputs.length, skipped: profile.skipped };
}
