import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunningServer } from '../server/serve.js';
import { fixtureBytes, firstMismatch } from '../testing/fixtures.js';
import { api, expected, infer, ROWS, startCancerServer, type TestPlatform } from './deploy.test-support.js';

describe('deployments over HTTP', () => {
  let platform: TestPlatform;
  let server: RunningServer;

  beforeEach(async () => {
    ({ platform, server } = await startCancerServer());
  });
  afterEach(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  it('serves a deployment as a model name: routed version in model_version and x-slipway-version, outputs equal scikit-learn', async () => {
    const created = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: { '1.0.0': 100 },
      why: 'first release',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      deployment: 'cancer-live',
      revision: 1,
      source: 'user',
      why: 'first release',
      spec: { model: 'cancer', routes: [{ version: '1.0.0', weight: 100 }] },
    });
    const answer = await infer(server.url, 'cancer-live', ROWS[0]!);
    expect(answer.status).toBe(200);
    expect(answer.version).toBe('1.0.0');
    expect(answer.body.model_name).toBe('cancer-live');
    expect(answer.body.model_version).toBe('1.0.0');
    const probabilities = answer.body.outputs!.find((o) => o.name === 'probabilities')!.data;
    expect(
      firstMismatch(
        probabilities,
        expected.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, 2),
        expected.tolerance,
      ),
    ).toBeUndefined();
    // :predict through the deployment, and metadata describing its primary version.
    const predict = await fetch(`${server.url}/v1/deployments/cancer-live:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [ROWS[0]] }),
    });
    expect(predict.status).toBe(200);
    expect(predict.headers.get('x-slipway-version')).toBe('1.0.0');
    expect(((await predict.json()) as { predictions: unknown[] }).predictions).toHaveLength(1);
    const metadata = await api(server.url, 'GET', '/v2/models/cancer-live');
    expect(metadata.body).toMatchObject({ name: 'cancer-live', inputs: [{ name: 'input', datatype: 'FP32' }] });
    expect((await api(server.url, 'POST', '/v1/deployments/nope:predict', { instances: [ROWS[0]] })).status).toBe(404);
    // An explicit version of the deployment's model bypasses the weights.
    expect(
      (
        await fetch(`${server.url}/v2/models/cancer-live/versions/1.1.0/infer`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: ROWS[0] }] }),
        })
      ).headers.get('x-slipway-version'),
    ).toBe('1.1.0');
  });

  it('splits traffic by weight, keeps sticky users on their version, and refuses bad specs with the reason', async () => {
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    const changed = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=50', '1.1.0=50'],
      sticky: 'header:x-user-id',
      why: 'try the retrained one',
    });
    expect(changed.status).toBe(200);
    expect(changed.body.revision).toBe(2);
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const answer = await infer(server.url, 'cancer-live', ROWS[i % ROWS.length]!, { 'x-user-id': `user-${i}` });
      seen.set(answer.version!, (seen.get(answer.version!) ?? 0) + 1);
      // The same user again: the same version.
      if (i % 20 === 0)
        expect((await infer(server.url, 'cancer-live', ROWS[0]!, { 'x-user-id': `user-${i}` })).version).toBe(
          answer.version,
        );
    }
    expect(seen.get('1.0.0')! + seen.get('1.1.0')!).toBe(200);
    expect(seen.get('1.0.0')).toBeGreaterThan(60);
    expect(seen.get('1.1.0')).toBeGreaterThan(60);

    const bad = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=60', '1.1.0=50'],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('route weights must sum to 100, got 1.0.0=60 + 1.1.0=50 = 110');
    const unknown = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['9.9.9=100'],
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toContain('9.9.9');
    const sticky = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=100'],
      sticky: 'input:customer',
    });
    expect(sticky.status).toBe(400);
    expect(sticky.body.error).toContain('has no input "customer"');
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live')).body.activeRevision).toBe(2);
  });

  it('refuses a change naming a version that cannot load, and the current revision keeps serving', async () => {
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    const broken = await platform.registry.push({
      name: 'cancer',
      bytes: fixtureBytes('breast_cancer_extra_output.onnx'),
    });
    await rm(platform.registry.artifactPath(broken));
    const refused = await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=90', `${broken.version}=10`],
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('FAILED_PRECONDITION');
    expect(refused.body.error).toContain('the current revision stays');
    const view = await api(server.url, 'GET', '/api/v1/deployments/cancer-live');
    expect(view.body.activeRevision).toBe(1);
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live/history')).body.revisions).toHaveLength(1);
    for (let i = 0; i < 20; i++) expect((await infer(server.url, 'cancer-live', ROWS[i]!)).version).toBe('1.0.0');
  });

  it('rolls back to the previous revision, keeps every revision, and answers which share a version served when', async () => {
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=100'],
      why: 'v1',
    });
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=80', '1.1.0=20'],
      why: 'canary by hand',
    });
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.1.0=100'],
      why: 'all in',
    });
    const rolledBack = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollback', {});
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.body).toMatchObject({
      revision: 4,
      source: 'rollback',
      why: 'rollback to revision 2',
      spec: {
        routes: [
          { version: '1.0.0', weight: 80 },
          { version: '1.1.0', weight: 20 },
        ],
      },
    });
    const history = (await api(server.url, 'GET', '/api/v1/deployments/cancer-live/history')).body.revisions as Array<{
      revision: number;
      why: string;
    }>;
    expect(history.map((r) => [r.revision, r.why])).toEqual([
      [1, 'v1'],
      [2, 'canary by hand'],
      [3, 'all in'],
      [4, 'rollback to revision 2'],
    ]);
    const traffic = (await api(server.url, 'GET', '/api/v1/models/cancer/versions/1.1.0/traffic')).body
      .intervals as Array<{ revision: number; share: number; untilMs: number | null }>;
    expect(traffic.map((t) => [t.revision, t.share, t.untilMs === null])).toEqual([
      [2, 20, false],
      [3, 100, false],
      [4, 20, true],
    ]);
    const { deployments } = (await api(server.url, 'GET', '/api/v1/deployments')).body as {
      deployments: Array<{ name: string; activeRevision: number }>;
    };
    expect(deployments.map((d) => [d.name, d.activeRevision])).toEqual([['cancer-live', 4]]);
  });

  it("rolls back over a rollout's steps: during a rollout and after its promotion, the traffic from before it returns", async () => {
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    expect(
      (
        await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
          candidate: '1.1.0',
          steps: [10, 50, 100],
          interval: '1h',
        })
      ).status,
    ).toBe(201);
    const during = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollback');
    expect(during.body).toMatchObject({
      revision: 3,
      why: 'rollback to revision 1',
      spec: { routes: [{ version: '1.0.0', weight: 100 }] },
    });
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live/rollout')).body).toMatchObject({
      status: 'aborted',
      reason: 'stopped by a rollback to revision 1',
    });
    await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollout', {
      candidate: '1.1.0',
      steps: [10, 50, 100],
      interval: '1h',
    });
    expect((await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollout/promote')).body.status).toBe(
      'promoted',
    );
    const after = await api(server.url, 'POST', '/api/v1/deployments/cancer-live/rollback');
    expect(after.body).toMatchObject({
      revision: 6,
      why: 'rollback to revision 3',
      spec: { routes: [{ version: '1.0.0', weight: 100 }] },
    });
    const history = (await api(server.url, 'GET', '/api/v1/deployments/cancer-live/history')).body.revisions as Array<{
      source: string;
      intermediate: boolean;
    }>;
    expect(history.map((r) => [r.source, r.intermediate])).toEqual([
      ['user', false],
      ['rollout', true],
      ['rollback', false],
      ['rollout', true],
      ['rollout', false],
      ['rollback', false],
    ]);
  });

  it('takes batch jobs naming a deployment: scored with its primary version', async () => {
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=70', '1.1.0=30'],
    });
    // Jobs are checked when submitted (the input must exist and fit the model): two real rows.
    const header = Array.from({ length: 30 }, (_, i) => `f${i}`).join(',');
    // In the home's data folder: the default data root, where API clients may name files (core/data-roots.ts).
    const data = path.join(platform.home, 'data');
    await mkdir(data, { recursive: true });
    await writeFile(
      path.join(data, 'in.csv'),
      [header, ...ROWS.slice(0, 2).map((row) => row.join(','))].join('\n') + '\n',
    );
    const job = { input: path.join(data, 'in.csv'), output: path.join(data, 'out.csv') };
    const submitted = await api(server.url, 'POST', '/api/v1/jobs', {
      deployment: 'cancer-live',
      jobId: 'through-deployment',
      ...job,
    });
    expect(submitted.status).toBe(201);
    expect(submitted.body.spec).toMatchObject({ jobId: 'through-deployment', model: 'cancer@1.0.0' });
    expect(
      (await api(server.url, 'POST', '/api/v1/jobs', { deployment: 'cancer-live', model: 'cancer@1.1.0', ...job })).body
        .error,
    ).toBe('give exactly one of "model" and "deployment"');
    expect((await api(server.url, 'POST', '/api/v1/jobs', { deployment: 'nope', ...job })).status).toBe(404);
  });
});
