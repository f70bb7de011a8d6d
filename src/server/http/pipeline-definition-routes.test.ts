import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pipelineSpec } from '../../pipelines/definitions/spec.test-support.js';
import { SqlPipelineStore } from '../../pipelines/pipeline-store.js';
import { SqlRunStore } from '../../pipelines/run-store.js';
import { openDatabase, type Database } from '../../store/database.js';
import { installErrorHandling } from './errors.js';
import { registerPipelineDefinitionRoutes } from './pipeline-definition-routes.js';

describe('GET /api/v1/pipelines[/:name]', () => {
  let folder: string;
  let database: Database;
  let app: FastifyInstance;
  let runId: string;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(os.tmpdir(), 'slipway-pipeline-routes-'));
    database = await openDatabase({ sqlitePath: path.join(folder, 'slipway.db') });
    const stores = { pipelines: new SqlPipelineStore(database), runs: new SqlRunStore(database) };
    await stores.pipelines.apply([pipelineSpec('a'), pipelineSpec('b', { model: 'fraud' })]);
    await stores.pipelines.apply([pipelineSpec('a'), pipelineSpec('b', { model: 'fraud2' })]);
    runId = (await stores.runs.create(await stores.pipelines.get('a'), { kind: 'manual', reason: 'by hand' })).id;
    await stores.pipelines.recordEvaluations([
      { pipeline: 'a', trigger: 'manual', at: '2026-12-01T00:00:00.000Z', fired: false, value: null, reason: 'manual' },
    ]);
    app = Fastify();
    installErrorHandling(app, 1 << 20);
    registerPipelineDefinitionRoutes(app, stores);
    await app.ready();
  });
  afterEach(async () => {
    await app.close();
    await database.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('lists the active pipelines with their versions and last run', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/pipelines' });
    expect(response.statusCode).toBe(200);
    const body = response.json<{
      pipelines: { name: string; version: number; spec: { model: string }; lastRun: unknown }[];
    }>();
    expect(body.pipelines.map((p) => [p.name, p.version, p.spec.model])).toEqual([
      ['a', 1, 'digits_mlp'],
      ['b', 2, 'fraud2'],
    ]);
    expect(body.pipelines[0]?.lastRun).toMatchObject({ id: runId, status: 'running', step: 'pending' });
    expect(body.pipelines[1]?.lastRun).toBeNull();
  });

  it('shows one pipeline as `pipelines show --json` does, and 404 names an unknown one', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/v1/pipelines/a' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      pipeline: { name: 'a', version: 1, active: true },
      evaluations: [{ trigger: 'manual', fired: false, reason: 'manual' }],
      runs: [{ id: runId, status: 'running' }],
    });
    const missing = await app.inject({ method: 'GET', url: '/api/v1/pipelines/nope' });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toContain('pipeline \\"nope\\" does not exist');
  });
});
