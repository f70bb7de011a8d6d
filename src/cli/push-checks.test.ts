import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { FIXTURES, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const TRAIN = fileURLToPath(new URL('../../fixtures/monitor/breast_cancer_train.csv', import.meta.url));
const MODEL = path.join(FIXTURES, 'breast_cancer.onnx');

async function blobCount(home: string): Promise<number> {
  try {
    return (await readdir(path.join(home, 'blobs', 'sha256'), { recursive: true, withFileTypes: true })).filter((e) =>
      e.isFile(),
    ).length;
  } catch {
    return 0;
  }
}

/** Issue 13 item 13 (b, c): `push --reference-ignore` names a real column; identical bytes need --allow-duplicate. */
describe('slipway push checks', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-push-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('refuses a --reference-ignore column the reference file lacks, naming the columns, and stores nothing', async () => {
    const refused = await cli('push', MODEL, '--name', 'cancer', '--reference', TRAIN, '--reference-ignore', 'label');
    expect(refused.code).toBe(1);
    expect(refused.out).toBe('');
    expect(refused.err).toMatch(
      /^error: ignored column "label" is not in the file; its columns are mean radius, mean texture, .*, target\n/,
    );
    expect(JSON.parse((await cli('models', '--json')).out)).toEqual([]);
    expect(await blobCount(home)).toBe(0);

    const orphan = await cli('push', MODEL, '--name', 'cancer', '--reference-ignore', 'target');
    expect(orphan.code).toBe(1);
    expect(orphan.err).toBe('error: --reference-ignore applies to a --reference file; give one or drop the flag\n');

    const pushed = await cli('push', MODEL, '--name', 'cancer', '--reference', TRAIN, '--reference-ignore', 'target');
    expect(pushed.err).toBe('');
    expect(pushed.out).toContain('reference: 426 rows, 30 features, 3 outputs profiled');
  });

  it('refuses identical bytes again unless --allow-duplicate, in a dry run too', async () => {
    const again = await cli('push', MODEL, '--name', 'cancer');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(
      /^error: model "cancer": same artifact as 1\.0\.0 \(sha256 [0-9a-f]{12}…\); pass --allow-duplicate \(API: allow_duplicate\) to register it again\n/,
    );
    const dry = await cli('push', MODEL, '--name', 'cancer', '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.err).toMatch(/same artifact as 1\.0\.0/);
    expect(JSON.parse((await cli('versions', 'cancer', '--json')).out)).toHaveLength(1);

    expect((await cli('push', MODEL, '--name', 'cancer', '--allow-duplicate', '--dry-run')).out).toMatch(
      /^would push cancer@1\.1\.0/,
    );
    const allowed = await cli('push', MODEL, '--name', 'cancer', '--allow-duplicate', '--json');
    expect(allowed.err).toBe('');
    expect(JSON.parse(allowed.out)).toMatchObject({ version: '1.1.0' });
    // Other bytes need no flag; the same bytes under another model neither.
    expect((await cli('push', path.join(FIXTURES, 'breast_cancer_retrained.onnx'), '--name', 'cancer')).code).toBe(0);
    expect((await cli('push', MODEL, '--name', 'cancer-copy')).code).toBe(0);
    expect(await blobCount(home)).toBe(2);
  });

  it("gc deletes blobs no version references (a crashed push's) and keeps every referenced one", async () => {
    const orphan = 'f'.repeat(64);
    await mkdir(path.join(home, 'blobs', 'sha256', 'ff'), { recursive: true });
    await writeFile(path.join(home, 'blobs', 'sha256', 'ff', orphan), 'left by a push killed before its version row');
    const swept = await cli('gc', '--json');
    expect(swept.err).toBe('');
    expect(JSON.parse(swept.out)).toEqual({ removed: [orphan], temporaries: 0 });
    expect(await blobCount(home)).toBe(2);
    expect((await cli('gc')).out).toBe('removed 0 unreferenced blob(s)\n');
  });
});

describe('push checks over HTTP', () => {
  it('answers 409 for identical bytes unless allow_duplicate, and 400 for an unknown ignored reference column', async () => {
    // The reference file is a repository fixture: its folder is a data root (core/data-roots.ts).
    const platform = await openTestPlatform({ dataRoots: [path.dirname(TRAIN)] });
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      observability: platform,
      monitor: platform.monitor,
    });
    try {
      const upload = (query: string) =>
        app.inject({
          method: 'POST',
          url: `/api/v1/models/cancer/versions${query}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: fixtureBytes('breast_cancer.onnx'),
        });
      expect((await upload('')).statusCode).toBe(201);
      const duplicate = await upload('');
      expect(duplicate.statusCode).toBe(409);
      expect(duplicate.json()).toMatchObject({
        error: expect.stringMatching(/^model "cancer": same artifact as 1\.0\.0 \(sha256/),
      });
      expect((await upload('?allow_duplicate=maybe')).statusCode).toBe(400);
      const allowed = await upload('?allow_duplicate=true');
      expect(allowed.statusCode, allowed.body).toBe(201);
      expect(allowed.json()).toMatchObject({ version: '1.1.0' });
      const json = (body: Record<string, unknown>) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/models/cancer/versions',
          payload: { artifact_base64: fixtureBytes('breast_cancer.onnx').toString('base64'), ...body },
        });
      expect((await json({})).statusCode).toBe(409);
      expect((await json({ allow_duplicate: 'yes' })).json()).toMatchObject({
        error: '"allow_duplicate" must be true or false',
      });
      expect((await json({ allow_duplicate: true })).json()).toMatchObject({ version: '1.2.0' });

      const reference = await app.inject({
        method: 'PUT',
        url: '/api/v1/models/cancer@1.0.0/reference',
        payload: { file: TRAIN, ignore: ['label'] },
      });
      expect(reference.statusCode).toBe(400);
      expect(reference.json()).toMatchObject({
        error: expect.stringMatching(
          /^ignored column "label" is not in the file; its columns are mean radius, .*, target$/,
        ),
      });
      expect(
        (
          await app.inject({
            method: 'PUT',
            url: '/api/v1/models/cancer@1.0.0/reference',
            payload: { file: TRAIN, ignore: ['target'] },
          })
        ).statusCode,
      ).toBe(200);
    } finally {
      await app.close();
      await platform.dispose();
    }
  });
});
