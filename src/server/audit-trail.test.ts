import type { FastifyInstance, FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../audit/audit-store.js';
import type { Principal } from '../auth/principal.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/**
 * The audit trail over HTTP: every change records who, when, from which address, what and how it
 * ended; failures record their error code; reads are filtered and paged. The principal is put on the
 * request the way the auth hook does (`request.principal`), from a test header.
 */
describe('audit trail over HTTP', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      monitor: platform.monitor,
      observability: platform,
      alerts: platform.alerts,
      features: platform.features,
      jobs: platform.jobs,
      deployments: platform.deployments,
      audit: platform.audit,
    });
    app.addHook('onRequest', (request: FastifyRequest, _reply, done) => {
      const name = request.headers['x-test-principal'];
      if (typeof name === 'string')
        (request as FastifyRequest & { principal?: Principal }).principal = { name, role: 'admin' };
      done();
    });
    await platform.deployments.startServing();
  });
  afterAll(async () => {
    await app.close();
    await platform.deployments.stopServing();
    await platform.dispose();
  });

  const send = (
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    options: { payload?: unknown; actor?: string; address?: string; bytes?: Buffer } = {},
  ) =>
    app.inject({
      method,
      url,
      remoteAddress: options.address ?? '10.1.2.3',
      headers: {
        ...(options.actor === undefined ? {} : { 'x-test-principal': options.actor }),
        ...(options.bytes === undefined ? {} : { 'content-type': 'application/octet-stream' }),
      },
      ...(options.bytes !== undefined
        ? { payload: options.bytes }
        : options.payload === undefined
          ? {}
          : { payload: options.payload as object }),
    });

  /** The newest event, once written (writes are not awaited by the request). */
  const newest = async (): Promise<AuditEvent> => {
    await platform.audit.flush();
    const { events } = await platform.audit.list({ limit: 1 });
    return events[0]!;
  };
  const count = async (): Promise<number> => {
    await platform.audit.flush();
    return (await platform.audit.list({ limit: 1000 })).events.length;
  };

  const expectRecorded = async (
    expected: Pick<AuditEvent, 'actor' | 'action' | 'target' | 'outcome'> & Partial<AuditEvent>,
  ) => {
    const event = await newest();
    expect(event).toMatchObject({ address: '10.1.2.3', ...expected });
    expect(event.requestId).toMatch(/^req-/);
    expect(Math.abs(Date.parse(event.time) - Date.now())).toBeLessThan(10_000);
    return event;
  };

  it('records pushes, a refused push with its code, and not dry runs', async () => {
    const pushed = await send('POST', '/api/v1/models/cancer/versions', {
      actor: 'ci-bot',
      bytes: fixtureBytes('breast_cancer.onnx'),
    });
    expect(pushed.statusCode, pushed.body).toBe(201);
    await expectRecorded({
      actor: 'ci-bot',
      actorRole: 'admin',
      action: 'model.push',
      target: 'cancer@1.0.0',
      outcome: 'ok',
    });
    const second = await send('POST', '/api/v1/models/cancer/versions', {
      actor: 'ci-bot',
      bytes: fixtureBytes('breast_cancer_retrained.onnx'),
    });
    expect(second.statusCode, second.body).toBe(201);

    const before = await count();
    const dry = await send('POST', '/api/v1/models/cancer/versions?dry_run=true', {
      bytes: fixtureBytes('breast_cancer_renamed_input.onnx'),
    });
    expect(dry.statusCode).toBe(200);
    expect(await count()).toBe(before);

    const duplicate = await send('POST', '/api/v1/models/cancer/versions', {
      bytes: fixtureBytes('breast_cancer.onnx'),
    });
    expect(duplicate.statusCode).toBe(409);
    await expectRecorded({ actor: 'anonymous', action: 'model.push', target: 'cancer', outcome: 'ALREADY_EXISTS' });

    const empty = await send('POST', '/api/v1/models/cancer/versions', { bytes: Buffer.alloc(0) });
    expect(empty.statusCode).toBe(400);
    await expectRecorded({ actor: 'anonymous', action: 'model.push', target: 'cancer', outcome: 'INVALID_ARGUMENT' });
  });

  it('records alias moves with the actor in the alias history too, and removals', async () => {
    const set = await send('PUT', '/api/v1/models/cancer/aliases/champion', {
      actor: 'alice',
      payload: { version: '1.0.0', reason: 'launch' },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ alias: 'champion', toVersion: '1.0.0', actor: 'alice' });
    await expectRecorded({
      actor: 'alice',
      action: 'alias.set',
      target: 'cancer:champion',
      outcome: 'ok',
      details: { version: '1.0.0', reason: 'launch' },
    });

    const missing = await send('PUT', '/api/v1/models/cancer/aliases/champion', {
      actor: 'alice',
      payload: { version: '9.9.9' },
    });
    expect(missing.statusCode).toBe(404);
    await expectRecorded({ actor: 'alice', action: 'alias.set', target: 'cancer:champion', outcome: 'NOT_FOUND' });

    await send('PUT', '/api/v1/models/cancer/aliases/staging', { actor: 'bob', payload: { version: '1.1.0' } });
    const removed = await send('DELETE', '/api/v1/models/cancer/aliases/staging', { actor: 'bob' });
    expect(removed.statusCode).toBe(200);
    await expectRecorded({ actor: 'bob', action: 'alias.remove', target: 'cancer:staging', outcome: 'ok' });

    const history = await send('GET', '/api/v1/models/cancer/aliases/history');
    expect(
      history.json<{ events: Array<{ alias: string; toVersion: string | null; actor: string | null }> }>().events,
    ).toEqual([
      expect.objectContaining({ alias: 'champion', toVersion: '1.0.0', actor: 'alice' }),
      expect.objectContaining({ alias: 'staging', toVersion: '1.1.0', actor: 'bob' }),
      expect.objectContaining({ alias: 'staging', toVersion: null, actor: 'bob' }),
    ]);
  });

  it('records archives (a refused one with FAILED_PRECONDITION) and serving config changes', async () => {
    const refused = await send('POST', '/api/v1/models/cancer/versions/1.0.0/archive', {
      actor: 'alice',
      payload: { reason: 'old' },
    });
    expect(refused.statusCode).toBe(409);
    await expectRecorded({
      actor: 'alice',
      action: 'version.archive',
      target: 'cancer@1.0.0',
      outcome: 'FAILED_PRECONDITION',
      details: { reason: 'old' },
    });

    const config = await send('PUT', '/api/v1/models/cancer/serving', {
      actor: 'alice',
      payload: { maxBatchSize: 8 },
    });
    expect(config.statusCode, config.body).toBe(200);
    await expectRecorded({ actor: 'alice', action: 'config.set', target: 'cancer', outcome: 'ok' });
  });

  it('records deploys and rollbacks, with the actor in the deployment history', async () => {
    const first = await send('PUT', '/api/v1/deployments/cancer-prod', {
      actor: 'carol',
      payload: { model: 'cancer', routes: { '1.0.0': 100 } },
    });
    expect(first.statusCode, first.body).toBe(201);
    await expectRecorded({
      actor: 'carol',
      action: 'deployment.deploy',
      target: 'cancer-prod',
      outcome: 'ok',
      details: { revision: 1 },
    });
    const second = await send('PUT', '/api/v1/deployments/cancer-prod', {
      actor: 'dave',
      payload: { model: 'cancer', routes: { '1.1.0': 100 } },
    });
    expect(second.statusCode, second.body).toBe(200);
    const bad = await send('PUT', '/api/v1/deployments/cancer-prod', {
      actor: 'dave',
      payload: { model: 'cancer', routes: { '7.0.0': 100 } },
    });
    expect(bad.statusCode).toBe(404);
    await expectRecorded({ actor: 'dave', action: 'deployment.deploy', target: 'cancer-prod', outcome: 'NOT_FOUND' });

    const rollback = await send('POST', '/api/v1/deployments/cancer-prod/rollback', {
      actor: 'erin',
      payload: { why: 'errors' },
    });
    expect(rollback.statusCode, rollback.body).toBe(200);
    await expectRecorded({
      actor: 'erin',
      action: 'deployment.rollback',
      target: 'cancer-prod',
      outcome: 'ok',
      details: { revision: 3 },
    });

    const history = await send('GET', '/api/v1/deployments/cancer-prod/history');
    expect(
      history.json<{ revisions: Array<{ revision: number; source: string; actor: string | null }> }>().revisions,
    ).toEqual([
      expect.objectContaining({ revision: 1, source: 'user', actor: 'carol' }),
      expect.objectContaining({ revision: 2, source: 'user', actor: 'dave' }),
      expect.objectContaining({ revision: 3, source: 'rollback', actor: 'erin' }),
    ]);
  });

  it('records rollout and experiment actions, feature pushes and deletes, jobs, alerts and repository loads', async () => {
    const rollout = await send('POST', '/api/v1/deployments/cancer-prod/rollout', {
      actor: 'carol',
      payload: { candidate: '1.1.0', steps: [50, 100], interval: '1h' },
    });
    expect(rollout.statusCode, rollout.body).toBe(201);
    await expectRecorded({
      actor: 'carol',
      action: 'rollout.start',
      target: 'cancer-prod',
      outcome: 'ok',
      details: { candidate: '1.1.0' },
    });
    const pause = await send('POST', '/api/v1/deployments/cancer-prod/rollout/pause', { actor: 'carol' });
    expect(pause.statusCode, pause.body).toBe(200);
    await expectRecorded({ actor: 'carol', action: 'rollout.pause', target: 'cancer-prod', outcome: 'ok' });
    const abort = await send('POST', '/api/v1/deployments/cancer-prod/rollout/abort', { actor: 'carol' });
    expect(abort.statusCode, abort.body).toBe(200);
    await expectRecorded({ actor: 'carol', action: 'rollout.abort', target: 'cancer-prod', outcome: 'ok' });

    const experiment = await send('POST', '/api/v1/deployments/cancer-prod/experiment', {
      actor: 'frank',
      payload: { arms: ['1.0.0', '1.1.0'] },
    });
    expect(experiment.statusCode, experiment.body).toBe(201);
    await expectRecorded({ actor: 'frank', action: 'experiment.start', target: 'cancer-prod', outcome: 'ok' });
    const stop = await send('POST', '/api/v1/deployments/cancer-prod/experiment/stop', {
      actor: 'frank',
      payload: { winner: '1.1.0' },
    });
    expect(stop.statusCode, stop.body).toBe(200);
    await expectRecorded({
      actor: 'frank',
      action: 'experiment.stop',
      target: 'cancer-prod',
      outcome: 'ok',
      details: { winner: '1.1.0' },
    });

    const push = await send('POST', '/api/v1/features/push', {
      actor: 'feeder',
      payload: { view: 'no_such_view', rows: [] },
    });
    expect(push.statusCode).toBe(404);
    await expectRecorded({ actor: 'feeder', action: 'features.push', target: 'no_such_view', outcome: 'NOT_FOUND' });
    const del = await send('DELETE', '/api/v1/features/views/no_such_view/online?id=1', { actor: 'feeder' });
    expect(del.statusCode).toBe(404);
    await expectRecorded({ actor: 'feeder', action: 'features.delete', target: 'no_such_view', outcome: 'NOT_FOUND' });

    const job = await send('POST', '/api/v1/jobs', {
      actor: 'batcher',
      payload: { jobId: 'nightly', model: 'nope', input: '/nonexistent/in.csv', output: '/nonexistent/out.csv' },
    });
    expect(job.statusCode).toBeGreaterThanOrEqual(400);
    const jobEvent = await newest();
    expect(jobEvent).toMatchObject({
      actor: 'batcher',
      action: 'job.submit',
      target: 'nightly',
      details: { model: 'nope' },
    });
    expect(jobEvent.outcome).not.toBe('ok');
    const cancel = await send('POST', '/api/v1/jobs/ghost/cancel', { actor: 'batcher' });
    expect(cancel.statusCode).toBe(404);
    await expectRecorded({ actor: 'batcher', action: 'job.cancel', target: 'ghost', outcome: 'NOT_FOUND' });

    const rule = await send('POST', '/api/v1/alerts/rules', {
      actor: 'sre',
      payload: { name: 'slow', expr: 'p99_ms > 50 for 5m' },
    });
    expect(rule.statusCode, rule.body).toBe(201);
    await expectRecorded({ actor: 'sre', action: 'alert.create', target: 'slow', outcome: 'ok' });
    const ruleGone = await send('DELETE', '/api/v1/alerts/rules/slow', { actor: 'sre' });
    expect(ruleGone.statusCode).toBe(200);
    await expectRecorded({ actor: 'sre', action: 'alert.delete', target: 'slow', outcome: 'ok' });

    const load = await send('POST', '/v2/repository/models/cancer/load', { actor: 'ops' });
    expect(load.statusCode, load.body).toBe(200);
    await expectRecorded({ actor: 'ops', action: 'repository.load', target: 'cancer@1.1.0', outcome: 'ok' });
    const unload = await send('POST', '/v2/repository/models/ghost/unload', { actor: 'ops' });
    expect(unload.statusCode).toBe(404);
    await expectRecorded({ actor: 'ops', action: 'repository.unload', target: 'ghost', outcome: 'NOT_FOUND' });
  });

  it('records nothing for inference and reads', async () => {
    const before = await count();
    const infer = await send('POST', '/v2/models/cancer/infer', {
      payload: { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: new Array(30).fill(0.5) }] },
    });
    expect(infer.statusCode, infer.body).toBe(200);
    expect((await send('GET', '/api/v1/models/cancer')).statusCode).toBe(200);
    expect((await send('GET', '/api/v1/deployments/cancer-prod/history')).statusCode).toBe(200);
    expect(await count()).toBe(before);
    // The inference routes carry no hook at all (hooks cost on the hot path); changing routes carry the audit's.
    const hooksOf = (path: string): string[] => {
      const lines = app.printRoutes({ includeHooks: true, commonPrefix: false, method: 'POST' }).split('\n');
      const at = lines.findIndex((line) => line.endsWith(`${path} (POST)`));
      expect(at, path).toBeGreaterThanOrEqual(0);
      const hooks: string[] = [];
      for (const line of lines.slice(at + 1)) {
        const hook = /• \((\w+)\)/.exec(line);
        if (hook === null) break;
        hooks.push(hook[1]!);
      }
      return hooks;
    };
    // Only this test's own onRequest hook (it plays the auth hook).
    expect(hooksOf('/v2/models/:model/infer')).toEqual(['onRequest']);
    expect(hooksOf('/v2/models/:model/versions/:version/infer')).toEqual(['onRequest']);
    expect(hooksOf('/v2/repository/models/:model/load')).toEqual(expect.arrayContaining(['onResponse', 'onError']));
  });

  it('GET /api/v1/audit filters by actor, action prefix and time, newest first, in keyset pages', async () => {
    const byActor = await send('GET', '/api/v1/audit?actor=carol');
    expect(byActor.statusCode).toBe(200);
    expect(byActor.json<{ events: AuditEvent[] }>().events.map((e) => e.action)).toEqual([
      'rollout.abort',
      'rollout.pause',
      'rollout.start',
      'deployment.deploy',
    ]);
    const rollouts = await send('GET', '/api/v1/audit?action=rollout');
    expect(rollouts.json<{ events: AuditEvent[] }>().events.map((e) => e.action)).toEqual([
      'rollout.abort',
      'rollout.pause',
      'rollout.start',
    ]);
    expect((await send('GET', '/api/v1/audit?since=2099-01-01T00:00:00Z')).json()).toEqual({ events: [] });

    const all = (await platform.audit.list({ limit: 1000 })).events;
    const first = (await send('GET', '/api/v1/audit?limit=5')).json<{ events: AuditEvent[]; next: number }>();
    expect(first.events.map((e) => e.id)).toEqual(all.slice(0, 5).map((e) => e.id));
    const second = (await send('GET', `/api/v1/audit?limit=5&before=${first.next}`)).json<{ events: AuditEvent[] }>();
    expect(second.events.map((e) => e.id)).toEqual(all.slice(5, 10).map((e) => e.id));

    const unknown = await send('GET', '/api/v1/audit?user=carol');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual({
      error: 'unknown query parameter "user"; the audit trail takes since, actor, action, limit, before',
      code: 'INVALID_ARGUMENT',
    });
    const badLimit = await send('GET', '/api/v1/audit?limit=0');
    expect(badLimit.statusCode).toBe(400);
    expect(badLimit.json<{ error: string }>().error).toBe('limit "0" must be an integer from 1 to 1000');
  });
});
