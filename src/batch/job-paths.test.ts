import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { confineGlob, confinePath } from '../core/data-roots.js';
import { loadConfig } from '../core/config.js';
import { buildApp } from '../server/app.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

const HEADER = `id,${Array.from({ length: 30 }, (_, j) => `f${j}`).join(',')}`;
const ROW = `r0,${Array.from({ length: 30 }, () => '1.5').join(',')}`;

/**
 * Files a client names over the API stay inside SLIPWAY_DATA_ROOTS (issue 15 §3: a job's output
 * overwrote a file outside any data folder): ../ escapes, absolute paths outside, symlinks pointing
 * outside, and an existing output replaced only with "overwrite": true. Real platform, real files.
 */
describe('paths a client names resolve inside the data roots', () => {
  let platform: TestPlatform;
  let app: FastifyInstance;
  let root: string;
  let outsideDir: string;
  let outsideFile: string;

  beforeAll(async () => {
    const base = await realpath(await mkdtemp(path.join(os.tmpdir(), 'slipway-roots-')));
    root = path.join(base, 'data');
    outsideDir = path.join(base, 'elsewhere');
    await mkdir(root);
    await mkdir(outsideDir);
    await writeFile(path.join(root, 'in.csv'), `${HEADER}\n${ROW}\n`);
    await mkdir(path.join(root, 'parts'));
    await writeFile(path.join(root, 'parts', 'a.csv'), `${HEADER}\n${ROW}\n`);
    outsideFile = path.join(outsideDir, 'precious.csv');
    await writeFile(outsideFile, `${HEADER}\n${ROW}\n`);
    await writeFile(path.join(outsideDir, 'b.csv'), `${HEADER}\n${ROW}\n`);
    await symlink(outsideDir, path.join(root, 'link-out'));
    await symlink(outsideFile, path.join(root, 'parts', 'sneaky.csv'));
    platform = await openTestPlatform({ dataRoots: [root] });
    await platform.registry.push({ name: 'bc', bytes: fixtureBytes('breast_cancer.onnx') });
    app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      jobs: platform.jobs,
      observability: platform,
    });
    return async () => {
      await app.close();
      await platform.dispose();
      await rm(base, { recursive: true, force: true });
    };
  }, 60_000);

  const submit = (body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/api/v1/jobs', payload: { model: 'bc@1.0.0', idColumn: 'id', ...body } });
  // An absolute name is echoed as <path>: messages to clients carry no server path (server/client-errors.ts).
  const echoed = (name: string) => (path.isAbsolute(name) ? '<path>' : name);
  const outsideMessage = (field: string, name: string) =>
    `job field "${field}" "${echoed(name)}" is outside the folders this server reads and writes for clients (SLIPWAY_DATA_ROOTS)`;

  it.each([
    ['output', '../elsewhere/precious.csv'],
    ['output', 'sub/../../elsewhere/new.csv'],
    ['input', '../elsewhere/precious.csv'],
    ['output', '/etc/slipway-owned.csv'],
    ['input', '/etc/passwd'],
    ['output', 'link-out/new.csv'],
    ['output', 'link-out/precious.csv'],
    ['input', 'link-out/precious.csv'],
    ['input', '../elsewhere/*.csv'],
    ['input', 'parts/../../elsewhere/*.csv'],
    ['input', 'link-out/*.csv'],
    ['input', 'parts/*.csv'],
  ])('%s %s: 400 naming the field, nothing stored or written', async (field, name) => {
    const response = await submit({ input: 'in.csv', output: 'out.csv', [field]: name });
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_ARGUMENT', error: outsideMessage(field, name) });
    expect(await platform.jobs.list()).toEqual([]);
    expect(await readFile(outsideFile, 'utf8')).toBe(`${HEADER}\n${ROW}\n`);
  });

  it('a job inside the root is accepted; an existing output is refused (409) until overwrite: true', async () => {
    await writeFile(path.join(root, 'existing.csv'), 'keep me\n');
    const refused = await submit({ jobId: 'j-refused', input: 'in.csv', output: 'existing.csv' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({
      code: 'ALREADY_EXISTS',
      error: 'job field "output": "existing.csv" exists; set "overwrite": true to replace it',
      details: { field: 'output' },
    });
    expect(await readFile(path.join(root, 'existing.csv'), 'utf8')).toBe('keep me\n');
    expect((await submit({ input: 'in.csv', output: 'existing.csv', overwrite: 'yes' })).json()).toMatchObject({
      error: 'job field "overwrite" must be true or false',
    });

    const allowed = await submit({ jobId: 'j-allowed', input: 'in.csv', output: 'existing.csv', overwrite: true });
    expect(allowed.statusCode, allowed.body).toBe(201);
    expect(allowed.json()).toMatchObject({
      spec: { input: path.join(root, 'in.csv'), output: path.join(root, 'existing.csv'), overwrite: true },
    });
    // A relative name is taken from the first root; an absolute one inside it is fine too.
    const absolute = await submit({ jobId: 'j-abs', input: path.join(root, 'in.csv'), output: 'fresh.csv' });
    expect(absolute.statusCode, absolute.body).toBe(201);
    expect((await platform.jobs.list()).map((job) => job.id).sort()).toEqual(['j-abs', 'j-allowed']);
  });

  it('a drift reference file is confined the same way', async () => {
    const reference = (file: string) =>
      app.inject({ method: 'PUT', url: '/api/v1/models/bc@1.0.0/reference', payload: { file } });
    for (const file of [outsideFile, '../elsewhere/precious.csv', 'link-out/precious.csv', 'parts/sneaky.csv']) {
      const response = await reference(file);
      expect([file, response.statusCode, response.json<{ error: string }>().error]).toEqual([
        file,
        400,
        `reference "file" "${echoed(file)}" is outside the folders this server reads and writes for clients (SLIPWAY_DATA_ROOTS)`,
      ]);
    }
    expect(await platform.drift.getReference('bc', '1.0.0').catch(() => undefined)).toBeUndefined();
  });

  it('resolution: real paths returned, roots from SLIPWAY_DATA_ROOTS (absolute only), default <home>/data', async () => {
    expect(await confinePath('parts/new/x.csv', [root], 'f')).toBe(path.join(root, 'parts', 'new', 'x.csv'));
    expect(await confineGlob('parts/*.csv', [root], 'f')).toBe(path.join(root, 'parts', '*.csv'));
    expect(await confineGlob('*.csv', [root], 'f')).toBe(path.join(root, '*.csv'));
    await expect(confineGlob('/*.csv', [root], 'f')).rejects.toThrow('is outside');
    await expect(confinePath(root, [root], 'f')).rejects.toThrow('is outside');
    expect(loadConfig({ SLIPWAY_DATA_ROOTS: `${root}, ${outsideDir}` }).dataRoots).toEqual([root, outsideDir]);
    expect(loadConfig({ SLIPWAY_HOME: '/srv/slipway' }).dataRoots).toEqual(['/srv/slipway/data']);
    expect(() => loadConfig({ SLIPWAY_DATA_ROOTS: 'data' })).toThrow(
      'SLIPWAY_DATA_ROOTS: "data" is not an absolute path',
    );
  });
});
