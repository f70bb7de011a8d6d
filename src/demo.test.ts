import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoExamples, optimizeDemo, seedDemo, shortFloat32, toCurl, type DemoExample } from './demo.js';
import { startServer, type RunningServer } from './server/serve.js';
import { FIXTURES, expectedOutputs, firstMismatch, openTestPlatform } from './testing/fixtures.js';

const sh = promisify(execFile);

describe('the demo (npm start)', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let server: RunningServer;
  let examples: DemoExample[];
  let pushed: string[];

  beforeAll(async () => {
    platform = await openTestPlatform();
    pushed = await seedDemo(platform, FIXTURES);
    server = await startServer(platform, { host: '127.0.0.1', port: 0 });
    await server.preloaded;
    examples = await demoExamples(FIXTURES);
  });
  afterAll(async () => {
    await server.stop();
    await platform.dispose();
  });

  it('registers an INT8 version of the wide MLP next to its parent, with the report in its card', async () => {
    const outcome = await optimizeDemo(platform, FIXTURES);
    expect(outcome.status).toBe('registered');
    expect(outcome.report.size.ratio).toBeLessThan(0.3);
    expect(outcome.report.metrics?.delta.accuracy).toBeGreaterThanOrEqual(-0.005);
    const int8 = await platform.registry.resolve(`digits_wide@${outcome.version!.version}`);
    expect(int8.lineage).toMatchObject({ parentVersion: '1.0.0', passes: ['quantize-dynamic'] });
    expect(int8.card).toMatch(/## Optimization report/);
    expect(int8.metrics['optimize.agreement']).toBe(outcome.report.agreement);
  }, 60_000);

  it('pushes the fixture models with cards and metrics, and a second breast_cancer version', async () => {
    expect(pushed).toEqual([
      'breast_cancer@1.0.0',
      'digits_mlp@1.0.0',
      'diabetes_ridge@1.0.0',
      'diabetes_ridge_fp64@1.0.0',
      'wine_forest@1.0.0',
      'iris_mixed@1.0.0',
      'breast_cancer@1.1.0',
    ]);
    const champion = await platform.registry.resolve('breast_cancer@champion');
    expect(champion.version).toBe('1.0.0');
    expect(champion.card).toMatch(/Intended use/);
    expect(champion.metrics.accuracy).toBeCloseTo(0.958, 3);
    expect(server.app.server.listening).toBe(true);
  });

  it('prints curl commands that work as printed', async () => {
    const cancer = expectedOutputs('breast_cancer');
    const iris = expectedOutputs('iris_mixed');
    const results: Record<string, unknown> = {};
    for (const example of examples) {
      const { stdout } = await sh('bash', ['-c', `${toCurl(server.url, example)} -w '\\n%{http_code}'`]);
      const lines = stdout.trimEnd().split('\n');
      const status = lines.pop();
      expect(status, `${example.title}: ${stdout}`).toBe('200');
      results[example.path] = JSON.parse(lines.join('\n'));
    }
    const infer = results['/v2/models/breast_cancer/versions/champion/infer'] as {
      model_version: string;
      id: string;
      outputs: Array<{ name: string; data: number[] }>;
    };
    expect(infer.model_version).toBe('1.0.0');
    expect(infer.id).toBe('demo-1');
    expect(infer.outputs.find((o) => o.name === 'label')!.data).toEqual([
      cancer.outputs.find((o) => o.name === 'label')!.data[0],
    ]);
    const wantProba = cancer.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, 2);
    expect(firstMismatch(infer.outputs.find((o) => o.name === 'probabilities')!.data, wantProba, 1e-5)).toBeUndefined();
    expect(results['/api/v1/feedback']).toEqual({ accepted: 1 });
    const stats = results['/api/v1/stats?model=breast_cancer&window=5m'] as {
      versions: { version: string; outcomes: { success: number } }[];
    };
    expect(stats.versions.find((v) => v.version === '1.0.0')?.outcomes.success).toBe(1);
    const performance = results['/api/v1/performance?model=breast_cancer&window=1h'] as {
      versions: { version: string; count: number; task: string }[];
    };
    expect(performance.versions).toMatchObject([{ version: '1.0.0', count: 1, task: 'binary' }]);
    const drift = results['/api/v1/drift?model=breast_cancer&version=champion&window=1h'] as {
      status: string;
      reference: { rows: number };
    };
    expect(drift).toMatchObject({ status: 'not_enough_data', reference: { rows: 426 } });
    // The feature store: patient 1 is the first training row; by entity equals sending that row.
    const online = results['/api/v1/features:get'] as {
      features: string[];
      results: { values: number[]; statuses: string[] }[];
    };
    expect(online.features).toHaveLength(30);
    expect(online.results[0]!.statuses.every((s) => s === 'PRESENT')).toBe(true);
    expect(online.results[0]!.values[0]).toBeCloseTo(12.31, 5);
    const byEntity = results['/v1/models/breast_cancer@1.0.0:predict'] as { predictions: { label: number }[] };
    const explicit = await fetch(`${server.url}/v1/models/breast_cancer@1.0.0:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [online.results[0]!.values] }),
    });
    expect(byEntity.predictions[0]).toEqual(((await explicit.json()) as { predictions: unknown[] }).predictions[0]);
    const routed = results['/v2/models/cancer-live/infer'] as { model_name: string; model_version: string };
    expect(routed.model_name).toBe('cancer-live');
    expect(['1.0.0', '1.1.0']).toContain(routed.model_version);
    const history = results['/api/v1/deployments/cancer-live/history'] as {
      revisions: Array<{ revision: number; spec: { routes: unknown } }>;
    };
    expect(history.revisions).toMatchObject([
      {
        revision: 1,
        spec: {
          routes: [
            { version: '1.0.0', weight: 90 },
            { version: '1.1.0', weight: 10 },
          ],
        },
      },
    ]);
    const predict = results['/v1/models/iris_mixed:predict'] as {
      predictions: Array<{ label: number; probabilities: number[] }>;
    };
    expect(predict.predictions[0]!.label).toBe(iris.outputs.find((o) => o.name === 'label')!.data[0]);
    expect(
      firstMismatch(
        predict.predictions[0]!.probabilities,
        iris.outputs.find((o) => o.name === 'probabilities')!.data.slice(0, 3),
        1e-5,
      ),
    ).toBeUndefined();
  });

  it('prints floats in their shortest exact form', () => {
    expect(shortFloat32(Math.fround(13.68))).toBe(13.68);
    expect(shortFloat32(Math.fround(0.003828))).toBe(0.003828);
  });
});
