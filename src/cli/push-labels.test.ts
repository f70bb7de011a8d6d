import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.js';
import { FIXTURES, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { cliRunner } from './cli.test-support.js';

const MODEL = path.join(FIXTURES, 'breast_cancer.onnx');
const FIT_RULE = 'labels apply to the outputs whose fixed last dimension equals their count';

/** Class labels at push (Triton's classification extension): `slipway push --labels`, `slipway show`. */
describe('slipway push --labels', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-labels-'));
    await writeFile(path.join(home, 'labels.txt'), 'malignant\nbenign\n');
    await writeFile(path.join(home, 'three.txt'), 'a\nb\nc\n');
    await writeFile(path.join(home, 'gap.txt'), 'malignant\n\n');
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('refuses a labels file that fits no output or has a blank line, in a dry run too, and stores nothing', async () => {
    const three = await cli('push', MODEL, '--name', 'cancer', '--labels', 'three.txt');
    expect(three.code).toBe(1);
    expect(three.err).toBe(
      'error: labels file three.txt has 3 labels, but no numeric output has a last dimension of 3 ' +
        `(outputs: "label" INT64 [-1], "probabilities" FP32 [-1, 2]); ${FIT_RULE}\n`,
    );
    expect((await cli('push', MODEL, '--name', 'cancer', '--labels', 'three.txt', '--dry-run')).err).toBe(three.err);
    expect((await cli('push', MODEL, '--name', 'cancer', '--labels', 'gap.txt')).err).toBe(
      'error: labels file gap.txt: label 1 (line 2) is empty; every class index needs a label\n',
    );
    expect((await cli('push', MODEL, '--name', 'cancer', '--labels', 'missing.txt')).err).toBe(
      'error: cannot read labels file missing.txt: ENOENT\n',
    );
    expect(JSON.parse((await cli('models', '--json')).out)).toEqual([]);
  });

  it('stores the labels with the version; show says so', async () => {
    expect((await cli('push', MODEL, '--name', 'cancer', '--labels', 'labels.txt', '--dry-run')).out).toMatch(
      /^would push cancer@1\.0\.0\n/,
    );
    const pushed = await cli('push', MODEL, '--name', 'cancer', '--labels', 'labels.txt', '--json');
    expect(pushed.err).toBe('');
    expect(JSON.parse(pushed.out)).toMatchObject({ version: '1.0.0', labels: ['malignant', 'benign'] });
    const shown = await cli('show', 'cancer@1.0.0');
    expect(shown.out).toContain('\nlabels    2 (malignant, benign)\n');
    expect(JSON.parse((await cli('show', 'cancer', '--json')).out).labels).toEqual(['malignant', 'benign']);

    expect((await cli('push', MODEL, '--name', 'cancer', '--allow-duplicate')).code).toBe(0);
    expect((await cli('show', 'cancer@1.1.0')).out).not.toContain('labels');
  });
});

describe('push labels over HTTP', () => {
  it('takes label= query parameters with raw bytes and "labels" in JSON; refuses the other spelling and bad lists with 400', async () => {
    const platform = await openTestPlatform();
    const app = await buildApp({
      config: platform.config,
      registry: platform.registry,
      serving: platform.serving,
      observability: platform,
      monitor: platform.monitor,
    });
    try {
      const bytes = fixtureBytes('breast_cancer.onnx');
      const upload = (query: string) =>
        app.inject({
          method: 'POST',
          url: `/api/v1/models/cancer/versions${query}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: bytes,
        });
      const json = (body: Record<string, unknown>) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/models/cancer/versions',
          payload: { artifact_base64: bytes.toString('base64'), allow_duplicate: true, ...body },
        });

      const raw = await upload('?label=malignant&label=benign%20%F0%9F%8C%B8');
      expect(raw.statusCode, raw.body).toBe(201);
      expect(raw.json()).toMatchObject({ version: '1.0.0', labels: ['malignant', 'benign 🌸'] });
      const body = await json({ labels: ['M', 'B'] });
      expect(body.statusCode, body.body).toBe(201);
      expect(body.json()).toMatchObject({ version: '1.1.0', labels: ['M', 'B'] });
      expect((await app.inject({ method: 'GET', url: '/api/v1/models/cancer/versions/1.0.0' })).json()).toMatchObject({
        labels: ['malignant', 'benign 🌸'],
      });

      const refusals: Array<[Promise<{ statusCode: number; json(): unknown }>, string]> = [
        [
          upload('?label=a&label=b&label=c&allow_duplicate=true'),
          `query parameters "label" has 3 labels, but no numeric output has a last dimension of 3 (outputs: "label" INT64 [-1], "probabilities" FP32 [-1, 2]); ${FIT_RULE}`,
        ],
        [
          upload('?label=a&label=b&label=c&allow_duplicate=true&dry_run=true'),
          `query parameters "label" has 3 labels, but no numeric output has a last dimension of 3 (outputs: "label" INT64 [-1], "probabilities" FP32 [-1, 2]); ${FIT_RULE}`,
        ],
        [
          upload('?labels=a&allow_duplicate=true'),
          'give class labels as "label" query parameters, one per class in index order (label=cat&label=dog)',
        ],
        [json({ label: ['M', 'B'] }), 'give class labels as "labels", a JSON array of strings in index order'],
        [json({ labels: 'M\nB' }), '"labels" must be a JSON array of strings, one per class in index order'],
        [json({ labels: ['M', 2] }), '"labels": label 1 must be a string, got 2'],
        [json({ labels: ['M', 'B\nC'] }), '"labels": label 1 spans more than one line'],
      ];
      for (const [response, error] of refusals) {
        const answer = await response;
        expect(answer.statusCode).toBe(400);
        expect(answer.json()).toMatchObject({ error });
      }
      expect((await platform.registry.listVersions('cancer')).map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);
    } finally {
      await app.close();
      await platform.dispose();
    }
  });
});
