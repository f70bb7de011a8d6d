import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import type { InferenceEvent } from './events.js';
import { ServingMetrics } from './metrics.js';

/** `name{labels} value` lines of an exposition, as a map from `name{labels}` to the number. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

function event(overrides: Partial<InferenceEvent>): InferenceEvent {
  return {
    requestId: 'r',
    timeMs: 0,
    deployment: undefined,
    model: 'm',
    version: '1.0.0',
    protocol: 'http',
    outcome: 'success',
    errorCode: undefined,
    durationSeconds: 0.001,
    queueSeconds: 0,
    computeSeconds: 0.0005,
    inputs: undefined,
    outputs: undefined,
    ...overrides,
  };
}

describe('ServingMetrics', () => {
  it('puts each observation in the right bucket, cumulative, with sum and count', async () => {
    const metrics = new ServingMetrics(
      { queues: () => [{ key: { model: 'm', version: '1.0.0' }, queued: 3, inFlight: 1 }], loadedModels: () => 2 },
      { processMetrics: false },
    );
    for (const seconds of [0.0002, 0.0003, 0.004, 0.004, 7, 12]) metrics.observe(event({ durationSeconds: seconds }));
    metrics.observe(event({ outcome: 'invalid', errorCode: 'INVALID_ARGUMENT', durationSeconds: 0.0001 }));
    metrics.observeBatch({ model: 'm', version: '1.0.0' }, 3);
    metrics.observeBatch({ model: 'm', version: '1.0.0' }, 64);
    const s = samples((await metrics.scrape()).body);
    const labels = 'deployment="",model="m",version="1.0.0",protocol="http"';
    expect(s.get(`slipway_requests_total{${labels},outcome="success"}`)).toBe(6);
    expect(s.get(`slipway_requests_total{${labels},outcome="invalid"}`)).toBe(1);
    // 0.0001 and 0.0002 <= 0.25 ms; 0.0003 <= 0.5 ms; two 4 ms <= 5 ms; 7 s <= 10 s; 12 s only in +Inf.
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="0.00025"}`)).toBe(2);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="0.0005"}`)).toBe(3);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="0.0025"}`)).toBe(3);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="0.005"}`)).toBe(5);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="5"}`)).toBe(5);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="10"}`)).toBe(6);
    expect(s.get(`slipway_request_duration_seconds_bucket{${labels},le="+Inf"}`)).toBe(7);
    expect(s.get(`slipway_request_duration_seconds_count{${labels}}`)).toBe(7);
    expect(s.get(`slipway_request_duration_seconds_sum{${labels}}`)).toBeCloseTo(
      0.0001 + 0.0002 + 0.0003 + 0.008 + 19,
      9,
    );
    // queue and compute count successes only
    expect(s.get(`slipway_compute_duration_seconds_count{${labels}}`)).toBe(6);
    expect(s.get('slipway_batch_size_bucket{model="m",version="1.0.0",le="2"}')).toBe(0);
    expect(s.get('slipway_batch_size_bucket{model="m",version="1.0.0",le="4"}')).toBe(1);
    expect(s.get('slipway_batch_size_bucket{model="m",version="1.0.0",le="64"}')).toBe(2);
    expect(s.get('slipway_queue_depth{model="m",version="1.0.0"}')).toBe(3);
    expect(s.get('slipway_inflight_runs{model="m",version="1.0.0"}')).toBe(1);
    expect(s.get('slipway_loaded_models')).toBe(2);
  });
});

describe('GET /metrics and /api/v1/stats after a scripted sequence of requests', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      monitor: platform.monitor,
    });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  it('counts every outcome exactly, with bounded labels', async () => {
    const { inputs } = expectedOutputs('breast_cancer');
    for (let i = 0; i < 5; i++) {
      const ok = await app.inject({ method: 'POST', url: '/v2/models/breast_cancer/infer', payload: { inputs } });
      expect(ok.statusCode, ok.body).toBe(200);
    }
    const predict = await app.inject({
      method: 'POST',
      url: '/v1/models/breast_cancer:predict',
      payload: { instances: [Array.from({ length: 30 }, () => 0.5)] },
    });
    expect(predict.statusCode, predict.body).toBe(200);
    const badShape = await app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/infer',
      payload: { inputs: [{ ...inputs[0], shape: [1, 29], data: Array.from({ length: 29 }, () => 0) }] },
    });
    expect(badShape.statusCode).toBe(400);
    const badJson = await app.inject({
      method: 'POST',
      url: '/v2/models/breast_cancer/infer',
      headers: { 'content-type': 'application/json' },
      payload: '{"inputs": [',
    });
    expect(badJson.statusCode).toBe(400);
    for (const name of ['no_such_model_a', 'no_such_model_b']) {
      const unknown = await app.inject({ method: 'POST', url: `/v2/models/${name}/infer`, payload: { inputs } });
      expect(unknown.statusCode).toBe(404);
    }

    const response = await app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const s = samples(response.body);
    const labels = 'deployment="",model="breast_cancer",version="1.0.0",protocol="http"';
    expect(s.get(`slipway_requests_total{${labels},outcome="success"}`)).toBe(6);
    expect(s.get(`slipway_request_duration_seconds_count{${labels}}`)).toBe(7); // 6 successes + the bad shape
    expect(s.get(`slipway_requests_total{${labels},outcome="invalid"}`)).toBe(1);
    // The malformed body never resolved a version; unknown model names never become labels.
    expect(
      s.get('slipway_requests_total{deployment="",model="breast_cancer",version="",protocol="http",outcome="invalid"}'),
    ).toBe(1);
    expect(s.get('slipway_requests_total{deployment="",model="",version="",protocol="http",outcome="invalid"}')).toBe(
      2,
    );
    expect(response.body).not.toContain('no_such_model');
    expect(s.get(`slipway_batch_size_count{model="breast_cancer",version="1.0.0"}`)).toBe(6);
    expect(s.get('slipway_loaded_models')).toBe(1);
    expect(
      s.get('slipway_model_load_duration_seconds_count{model="breast_cancer",version="1.0.0",result="loaded"}'),
    ).toBe(1);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(response.body, name).toMatch(new RegExp(`^${name} `, 'm'));
    }

    const stats = await app.inject({ method: 'GET', url: '/api/v1/stats?model=breast_cancer&window=5m' });
    expect(stats.statusCode, stats.body).toBe(200);
    const report = stats.json<{
      window: string;
      versions: {
        version: string;
        requests: number;
        errorRate: number;
        p50Ms: number;
        p99Ms: number;
        outcomes: Record<string, number>;
      }[];
    }>();
    expect(report.window).toBe('5m');
    const v1 = report.versions.find((v) => v.version === '1.0.0');
    expect(v1?.requests).toBe(7);
    expect(v1?.outcomes).toEqual({ success: 6, invalid: 1, error: 0, rejected: 0 });
    expect(v1?.errorRate).toBe(0);
    expect(v1?.p50Ms).toBeGreaterThan(0);
    expect(v1!.p99Ms).toBeGreaterThanOrEqual(v1!.p50Ms);

    const bad = await app.inject({ method: 'GET', url: '/api/v1/stats?window=2m' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toContain('window');
  });
});
