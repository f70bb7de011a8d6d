import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import { invalid } from '../../core/errors.js';
import type { DriftService } from '../../monitor/drift-service.js';
import { parseFeedback } from '../../monitor/feedback-input.js';
import type { PerformanceService } from '../../monitor/performance-service.js';
import type { PredictionLog } from '../../monitor/prediction-log.js';
import { predictionJsonPieces, type PredictionJsonOptions } from '../../monitor/prediction-json.js';
import { MAX_QUERY_ROWS } from '../../monitor/prediction-store.js';
import type {
  PredictionCursor,
  PredictionPage,
  PredictionPageQuery,
  PredictionStore,
} from '../../monitor/prediction-store.js';
import { parseTime } from '../../monitor/time-params.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { isPlainObject } from '../../tensor/format.js';
import { confinePath } from '../../core/data-roots.js';
import type { SlipwayConfig } from '../../core/config.js';

type Query = Record<string, string | undefined>;

export interface ObservabilityApi {
  readonly predictions: PredictionStore;
  readonly log: PredictionLog;
  readonly performance: PerformanceService;
  readonly drift: DriftService;
  /** The folders a reference file named by a client must be in (`SLIPWAY_DATA_ROOTS`, core/data-roots.ts). */
  readonly config: Pick<SlipwayConfig, 'dataRoots'>;
}

const monitoring = (summary: string) => ({ schema: { tags: ['monitoring'], summary } });
/** A changing route: recorded in the audit trail as `action` (http/audit-hook.ts). */
const audited = (action: string, summary: string) => ({ ...monitoring(summary), config: { audit: action } });

/** Prediction log, feedback, performance and drift under `/api/v1`. */
export function registerObservabilityRoutes(app: FastifyInstance, api: ObservabilityApi): void {
  app.get(
    '/api/v1/predictions',
    monitoring(
      'Logged predictions, a page at a time: ?model=&version=&deployment=&since=&until=&request_id=&limit=&order=asc|desc&max_bytes=&full=true&cursor= (the last page\'s "next")',
    ),
    async (request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) => {
      const query = predictionPageQuery(singleValues(request.query));
      const page = await api.predictions.page(query);
      const stats = api.log.stats();
      // Streamed: rows are encoded as they are written, a slice of a tensor at a time (prediction-json.ts).
      return reply
        .type('application/json; charset=utf-8')
        .send(Readable.from(pageJson(page, query.order, { full: query.full }, stats)));
    },
  );

  app.post(
    '/api/v1/feedback',
    monitoring('Ground truth: {request_id, label} or {request_id, value}, or a list of them'),
    async (request) => {
      const items = parseFeedback(request.body);
      const accepted = await api.predictions.addFeedback(items);
      return { accepted };
    },
  );

  app.get(
    '/api/v1/performance',
    monitoring('Accuracy and friends from feedback, per version: ?model=&version=&window=24h'),
    async (request: FastifyRequest<{ Querystring: Query }>) => {
      const { model, version, window } = singleValues(request.query);
      if (model === undefined || model === '') throw invalid('the "model" query parameter is required');
      return api.performance.report(model, parseDuration(window ?? '24h', 'window'), version);
    },
  );

  app.get(
    '/api/v1/drift',
    monitoring(
      'Drift of a version against its reference over a window ending now (or at ?until=), computed now: ?model=&version=&window=1h',
    ),
    async (request: FastifyRequest<{ Querystring: Query }>) => {
      const { model, version, window, until } = singleValues(request.query);
      if (model === undefined || model === '') throw invalid('the "model" query parameter is required');
      return api.drift.check({
        model,
        windowMs: parseDuration(window ?? '1h', 'window'),
        ...(version === undefined ? {} : { selector: version }),
        ...(until === undefined ? {} : { until: parseTime(until, 'until') }),
      });
    },
  );

  app.get(
    '/api/v1/drift/results',
    monitoring('Stored drift results, newest first: ?model=&version=&limit='),
    async (request: FastifyRequest<{ Querystring: Query }>) => {
      const { model, version, limit } = singleValues(request.query);
      return {
        results: await api.drift.results({
          ...(model === undefined ? {} : { model }),
          ...(version === undefined ? {} : { version }),
          ...(limit === undefined ? {} : { limit: driftResultLimit(limit) }),
        }),
      };
    },
  );

  app.get(
    '/api/v1/models/:ref/reference',
    monitoring("A version's reference profile (model@version, or model for the latest)"),
    async (request: FastifyRequest<{ Params: { ref: string } }>) => {
      const { model, selector } = parseModelRef(request.params.ref);
      return api.drift.getReference(model, selector);
    },
  );

  app.put(
    '/api/v1/models/:ref/reference',
    audited(
      'drift.reference',
      'Set a reference: {"file": "train.csv", "ignore": ["target"]} (a file in the server\'s data roots, SLIPWAY_DATA_ROOTS; relative to the first) or {"from_served": 1000}',
    ),
    async (request: FastifyRequest<{ Params: { ref: string } }>) => {
      const { model, selector } = parseModelRef(request.params.ref);
      const body = request.body;
      if (!isPlainObject(body)) throw invalid('send {"file": "...", "ignore"?: [...]} or {"from_served": N}');
      if (typeof body.file === 'string') {
        const ignore = Array.isArray(body.ignore) ? body.ignore.map(String) : [];
        // A file on the server named by a client: only inside the data roots, symlinks followed.
        const file = await confinePath(body.file, api.config.dataRoots, 'reference "file"');
        return summary(await api.drift.setReferenceFromFile(model, selector, file, ignore));
      }
      if (typeof body.from_served === 'number')
        return summary(await api.drift.setReferenceFromServed(model, selector, body.from_served));
      throw invalid('send {"file": "...", "ignore"?: [...]} or {"from_served": N}');
    },
  );

  app.get(
    '/api/v1/models/:model/drift-settings',
    monitoring("A model's drift thresholds (unset ones take Evidently's defaults)"),
    async (request: FastifyRequest<{ Params: { model: string } }>) => api.drift.settings(request.params.model),
  );
  app.put(
    '/api/v1/models/:model/drift-settings',
    audited('drift.settings', 'Replace a model\'s drift thresholds, e.g. {"ksPValue": 0.01, "driftShare": 0.3}'),
    async (request: FastifyRequest<{ Params: { model: string } }>) => {
      if (!isPlainObject(request.body)) throw invalid('drift settings are a JSON object, e.g. {"ksPValue": 0.01}');
      return api.drift.setSettings(request.params.model, request.body);
    },
  );
}

function summary(profile: {
  model: string;
  version: string;
  source: string;
  sourceDetail: string;
  rows: number;
  features: unknown[];
  outputs: unknown[];
  skipped: string[];
}) {
  return {
    model: profile.model,
    version: profile.version,
    source: profile.source,
    detail: profile.sourceDetail,
    rows: profile.rows,
    features: profile.features.length,
    outputs: profile.outputs.length,
    skipped: profile.skipped,
  };
}

/** Stored bytes a page reads by default, and at most (`max_bytes`). */
export const DEFAULT_PAGE_BYTES = 8 * 1024 * 1024;
export const MAX_PAGE_BYTES = 256 * 1024 * 1024;

/**
 * The query with each parameter given at most once: Fastify turns `?version=a&version=b` into an
 * array, which these routes would hand to SQL as a row value (500 "row value misused", found by
 * test/fuzz-routes.test.ts).
 */
function singleValues(query: Record<string, string | string[] | undefined>): Query {
  for (const [key, value] of Object.entries(query))
    if (Array.isArray(value)) throw invalid(`query parameter "${key}" is given more than once`);
  return query as Query;
}

/** `?limit=` of /api/v1/drift/results: a whole number from 1 to 1000 (what the store returns at most). */
function driftResultLimit(text: string): number {
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw invalid(`limit "${text.slice(0, 60)}": expected a whole number from 1 to 1000`);
  return limit;
}

function predictionPageQuery(
  q: Query,
): PredictionPageQuery & { readonly order: 'asc' | 'desc'; readonly full: boolean } {
  const now = Date.now();
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_ROWS)
    throw invalid(`limit "${q.limit}": expected a whole number from 1 to ${MAX_QUERY_ROWS}`);
  if (q.order !== undefined && q.order !== 'asc' && q.order !== 'desc')
    throw invalid(`order "${q.order}": expected asc or desc`);
  const order = q.order ?? 'desc';
  const maxBytes = q.max_bytes === undefined ? DEFAULT_PAGE_BYTES : Number(q.max_bytes);
  if (!Number.isInteger(maxBytes) || maxBytes < 1024 || maxBytes > MAX_PAGE_BYTES)
    throw invalid(`max_bytes "${q.max_bytes}": expected a whole number of bytes from 1024 to ${MAX_PAGE_BYTES}`);
  if (q.full !== undefined && q.full !== 'true' && q.full !== 'false')
    throw invalid(`full "${q.full}": expected true or false`);
  return {
    ...(q.model === undefined ? {} : { model: q.model }),
    ...(q.version === undefined ? {} : { version: q.version }),
    ...(q.deployment === undefined ? {} : { deployment: q.deployment }),
    ...(q.request_id === undefined ? {} : { requestId: q.request_id }),
    ...(q.since === undefined ? {} : { since: parseTime(q.since, 'since', now) }),
    ...(q.until === undefined ? {} : { until: parseTime(q.until, 'until', now) }),
    ...(q.cursor === undefined ? {} : { after: parseCursor(q.cursor, order) }),
    limit,
    order,
    maxBytes,
    full: q.full === 'true',
  };
}

/** `a.<time ms>.<id>` (ascending) or `d.<time ms>.<id>` (descending): the row a page ended on. */
function cursorText(cursor: PredictionCursor, order: 'asc' | 'desc'): string {
  return `${order === 'asc' ? 'a' : 'd'}.${cursor.timeMs}.${cursor.id}`;
}

function parseCursor(text: string, order: 'asc' | 'desc'): PredictionCursor {
  const match = /^([ad])\.(-?\d{1,16})\.(\d{1,16})$/.exec(text);
  if (match === null) throw invalid(`cursor "${text.slice(0, 60)}": expected the "next" of a previous page`);
  if ((match[1] === 'a') !== (order === 'asc'))
    throw invalid(
      `cursor "${text}" continues a page in ${match[1] === 'a' ? 'asc' : 'desc'} order; ask with order=${match[1] === 'a' ? 'asc' : 'desc'}`,
    );
  return { timeMs: Number(match[2]), id: Number(match[3]) };
}

/** Pieces joined into chunks of about CHUNK characters; the event loop gets a turn between rows every ROWS_PER_TURN rows. */
const CHUNK = 64 * 1024;
const ROWS_PER_TURN = 64;

async function* pageJson(
  page: PredictionPage,
  order: 'asc' | 'desc',
  options: PredictionJsonOptions,
  stats: unknown,
): AsyncGenerator<string> {
  let text = '{"predictions":[';
  for (let i = 0; i < page.rows.length; i++) {
    if (i > 0) text += ',';
    if (i % ROWS_PER_TURN === ROWS_PER_TURN - 1) await nextTurn();
    for await (const piece of predictionJsonPieces(page.rows[i]!, options)) {
      text += piece;
      if (text.length >= CHUNK) {
        yield text;
        text = '';
      }
    }
  }
  yield `${text}],"next":${page.next === undefined ? 'null' : JSON.stringify(cursorText(page.next, order))},"log":${JSON.stringify(stats)}}`;
}
