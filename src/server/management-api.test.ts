import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { buildApp } from './app.js';

describe('management API /api/v1', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let app: FastifyInstance;

  beforeAll(async () => {
    platform = await openTestPlatform();
    app = await buildApp({ config: platform.config, registry: platform.registry, serving: platform.serving });
  });
  afterAll(async () => {
    await app.close();
    await platform.dispose();
  });

  const upload = (name: string, file: Buffer, query = '') =>
    app.inject({
      method: 'POST',
      url: `/api/v1/models/${name}/versions${query}`,
      headers: { 'content-type': 'application/octet-stream' },
      payload: file,
    });

  it('uploads raw bytes and JSON pushes, answering 201 with the version record', async () => {
    const first = await upload(
      'cancer',
      fixtureBytes('breast_cancer.onnx'),
      '?description=first&tag=team=risk&tag=stage=dev&dataset=wdbc',
    );
    expect(first.statusCode, first.body).toBe(201);
    expect(first.json()).toMatchObject({
      model: 'cancer',
      version: '1.0.0',
      description: 'first',
      tags: { team: 'risk', stage: 'dev' },
      lineage: { dataset: 'wdbc' },
    });
    const second = await app.inject({
      method: 'POST',
      url: '/api/v1/models/cancer/versions',
      payload: {
        artifact_base64: fixtureBytes('breast_cancer_extra_output.onnx').toString('base64'),
        description: 'adds a logit output',
        card: '# Intended use\nScreening support only.',
        metrics: { accuracy: 0.958 },
        params: { C: 1 },
      },
    });
    expect(second.statusCode, second.body).toBe(201);
    expect(second.json()).toMatchObject({
      version: '1.1.0',
      metrics: { accuracy: 0.958 },
      card: '# Intended use\nScreening support only.',
    });
  });

  it('answers 409 with the schema differences when the requested version breaks the policy', async () => {
    const response = await upload('cancer', fixtureBytes('breast_cancer_renamed_input.onnx'), '?version=1.2.0');
    expect(response.statusCode).toBe(409);
    const body = response.json<{
      error: string;
      details: { requiredBump: string; differences: Array<{ kind: string }> };
    }>();
    expect(body.error).toMatch(/needs a major bump/);
    expect(body.details.requiredBump).toBe('major');
    expect(body.details.differences.map((d) => d.kind)).toContain('renamed');
    const plan = await upload('cancer', fixtureBytes('breast_cancer_renamed_input.onnx'), '?dry_run=true');
    expect(plan.statusCode).toBe(200);
    expect(plan.json()).toMatchObject({ version: '2.0.0', comparedTo: '1.1.0' });
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/models/cancer/versions' })).json<{ versions: unknown[] }>()
        .versions,
    ).toHaveLength(2);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['not ONNX', fixtureBytes('not_onnx.onnx')],
    ['truncated', fixtureBytes('truncated.onnx')],
  ])('refuses an %s upload with 400 and stores nothing', async (_name, bytes) => {
    const response = await upload('broken', bytes);
    expect(response.statusCode, response.body).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/api/v1/models/broken' })).statusCode).toBe(404);
  });

  it('moves aliases, records history and refuses to archive an aliased version', async () => {
    const set = await app.inject({
      method: 'PUT',
      url: '/api/v1/models/cancer/aliases/champion',
      payload: { version: '1.0.0', reason: 'launch' },
    });
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({ alias: 'champion', fromVersion: null, toVersion: '1.0.0', reason: 'launch' });
    const resolved = await app.inject({ method: 'GET', url: '/api/v1/models/cancer/versions/champion' });
    expect(resolved.json()).toMatchObject({ version: '1.0.0', aliases: ['champion'] });
    const archive = await app.inject({
      method: 'POST',
      url: '/api/v1/models/cancer/versions/1.0.0/archive',
      payload: {},
    });
    expect(archive.statusCode).toBe(409);
    expect(archive.json<{ error: string }>().error).toMatch(/champion/);
    const infer = await app.inject({ method: 'GET', url: '/v2/models/cancer/versions/champion' });
    expect(infer.headers['x-slipway-version']).toBe('1.0.0');
    const removed = await app.inject({ method: 'DELETE', url: '/api/v1/models/cancer/aliases/champion' });
    expect(removed.statusCode).toBe(200);
    const archived = await app.inject({
      method: 'POST',
      url: '/api/v1/models/cancer/versions/1.0.0/archive',
      payload: { reason: 'old' },
    });
    expect(archived.statusCode, archived.body).toBe(200);
    expect(archived.json()).toMatchObject({ status: 'archived' });
    const history = await app.inject({ method: 'GET', url: '/api/v1/models/cancer/aliases/history' });
    expect(history.json<{ events: Array<{ toVersion: string | null }> }>().events.map((e) => e.toVersion)).toEqual([
      '1.0.0',
      null,
    ]);
  });

  it('serves the OpenAPI document at /docs', async () => {
    const doc = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(doc.statusCode).toBe(200);
    const paths = Object.keys(doc.json<{ paths: Record<string, unknown> }>().paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/v2/models/{model}/infer',
        '/api/v1/models/{name}/versions',
        '/api/v1/models/{name}/aliases/{alias}',
      ]),
    );
    expect((await app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});
