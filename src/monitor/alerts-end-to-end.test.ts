import { tensorRequest } from '../serving/index.js';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../tensor/datatypes.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

const MONITOR_FIXTURES = fileURLToPath(new URL('../../fixtures/monitor/', import.meta.url));
const rows = (file: string): Tensor[] =>
  (
    JSON.parse(fs.readFileSync(MONITOR_FIXTURES + file, 'utf8')) as {
      inputs: { name: string; shape: number[]; data: number[] }[];
    }
  ).inputs.map((t) => ({
    name: t.name,
    datatype: 'FP32',
    shape: t.shape,
    data: Float32Array.from(t.data),
  }));

/**
 * A drift alert through the whole platform: served rows → prediction log → drift check → alert
 * rule on `drift_share` → webhook receiver that fails twice before accepting → resolution.
 */
describe('an alert on drift, fired and resolved through a flaky webhook', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let receiver: http.Server;
  const received: { status: number; body: { rule: string; state: string; value: number } }[] = [];

  beforeAll(async () => {
    // The receiver listens on 127.0.0.1: webhooks may reach loopback only when allowed (alerts/webhook-policy.ts).
    platform = await openTestPlatform({ webhookAllow: { targets: [], private: false, loopback: true } });
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'breast_cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    for (const version of ['1.0.0', '1.1.0'])
      await platform.drift.setReferenceFromFile(
        'breast_cancer',
        version,
        `${MONITOR_FIXTURES}breast_cancer_train.csv`,
        ['target'],
      );
    receiver = http.createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const status = received.length < 2 ? 500 : 200;
        received.push({ status, body: JSON.parse(text) as (typeof received)[number]['body'] });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => receiver.close(resolve));
    await platform.dispose();
  });

  async function serve(version: string, inputs: readonly Tensor[]): Promise<void> {
    for (const input of inputs)
      await platform.serving.pipeline.infer(tensorRequest('breast_cancer', [input], { version }));
    await platform.log.flush();
  }

  it('fires when half the features drift, delivers on the third attempt, and resolves', async () => {
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    await platform.alerts.addRule({
      name: 'cancer-drift',
      expr: 'drift_share >= 0.5',
      scope: { model: 'breast_cancer' },
      webhook: url,
      severity: 'critical',
    });

    expect(await platform.alerts.evaluate()).toEqual([]); // no drift result yet: no data, no transition

    await serve('1.0.0', rows('breast_cancer_shifted.json'));
    const shifted = await platform.drift.check({ model: 'breast_cancer', selector: '1.0.0', windowMs: 3_600_000 });
    expect(shifted.dataset.share).toBeGreaterThanOrEqual(20 / 30);
    const [fired] = await platform.alerts.evaluate();
    expect(fired).toMatchObject({ rule: 'cancer-drift', state: 'firing', threshold: 0.5 });
    expect(fired?.value).toBeCloseTo(shifted.dataset.share, 12);
    await platform.alerts.drain();
    expect(received.map((r) => [r.status, r.body.state])).toEqual([
      [500, 'firing'],
      [500, 'firing'],
      [200, 'firing'],
    ]);

    await serve('1.1.0', rows('breast_cancer_same.json'));
    const quiet = await platform.drift.check({ model: 'breast_cancer', selector: '1.1.0', windowMs: 3_600_000 });
    expect(quiet.dataset.drifted).toBe(false);
    const [resolved] = await platform.alerts.evaluate();
    expect(resolved).toMatchObject({ rule: 'cancer-drift', state: 'resolved', value: quiet.dataset.share });
    await platform.alerts.drain();
    expect(received.at(-1)).toMatchObject({ status: 200, body: { rule: 'cancer-drift', state: 'resolved' } });

    const history = await platform.alerts.history({ rule: 'cancer-drift' });
    expect(history.map((e) => e.state)).toEqual(['resolved', 'firing']);
    expect(history[1]?.delivery).toMatchObject({ delivered: true, attempts: 3 });
  }, 30_000);
});
