import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.js';
import { BASE, definitionsYaml, generate, writeGenerated } from '../features/offline/feature-data.test-support.js';
import { openPlatform } from '../platform.js';
import { cliRunner } from './cli.test-support.js';

describe('slipway features push | delete', () => {
  let home: string;
  const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));

  /** Reads (or writes) the online store the CLI uses, through a platform on the same home. */
  const withStore = async <T>(work: (platform: Awaited<ReturnType<typeof openPlatform>>) => Promise<T>): Promise<T> => {
    const platform = await openPlatform(loadConfig({ SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' }), {
      predictionLogThread: false,
    });
    try {
      return await work(platform);
    } finally {
      await platform.close();
    }
  };
  const readB = (k1: number) =>
    withStore(async (p) => (await p.features.online.read('b', ['b_val'], [{ k1 }]))[0]![0]!);

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-cli-online-'));
    await writeGenerated(home, generate(5, 10));
    await writeFile(path.join(home, 'features.yaml'), definitionsYaml());
    expect((await cli('features', 'apply', 'features.yaml', '--yes')).code).toBe(0);
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('push takes JSON Lines or a JSON array and reports what the online store took', async () => {
    await writeFile(
      path.join(home, 'rows.jsonl'),
      `{"k1": 70, "event_ts": ${BASE}, "b_val": 1.5}\n\n{"k1": 71, "event_ts": "2026-01-01T00:00:01Z", "b_val": null}\n`,
    );
    const pushed = await cli('features', 'push', 'b', '--input', 'rows.jsonl');
    expect(pushed.err).toBe('');
    expect(pushed.out).toMatch(/^Pushed 2 rows to view b: 2 written online, 0 stale; offline log .*\.parquet\n$/);
    expect(await readB(70)).toEqual({ status: 'PRESENT', value: 1.5, eventTimeMs: BASE });
    await writeFile(path.join(home, 'rows.json'), JSON.stringify([{ k1: 70, event_ts: BASE - 1, b_val: 0 }]));
    const stale = await cli('features', 'push', 'b', '--input', 'rows.json', '--to', 'online', '--json');
    expect(JSON.parse(stale.out)).toEqual({ rows: 1, written: 0, stale: 1 });
  });

  it('push refuses a far-future event time naming the row and the limit, and bad options', async () => {
    await writeFile(
      path.join(home, 'future.jsonl'),
      `{"k1": 72, "event_ts": ${BASE}, "b_val": 1}\n{"k1": 73, "event_ts": "+099999-01-01", "b_val": 666}\n`,
    );
    const refused = await cli('features', 'push', 'b', '--input', 'future.jsonl');
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(
      'rows[1].event_ts: +099999-01-01T00:00:00.000Z is more than 5m in the future (entity {"k1":73}; limit SLIPWAY_FEATURE_MAX_FUTURE_SKEW=5m)',
    );
    expect((await readB(72)).status).toBe('NOT_FOUND');
    expect((await cli('features', 'push', 'b', '--input', 'rows.json', '--to', 'sideways')).err).toContain(
      '--to "sideways": expected one of online_and_offline, online, offline',
    );
    await writeFile(path.join(home, 'broken.jsonl'), '{"k1": 1}\n{oops\n');
    expect((await cli('features', 'push', 'b', '--input', 'broken.jsonl')).err).toContain(
      '--input broken.jsonl line 2 is not valid JSON',
    );
    expect((await cli('features', 'push', 'b', '--input', 'missing.jsonl')).err).toContain(
      'cannot read --input missing.jsonl: ENOENT',
    );
  });

  it('delete removes a poisoned key so a normal push is accepted again', async () => {
    // A store poisoned before pushes were checked: written directly.
    await withStore((p) =>
      p.features.online.write('b', [{ key: { k1: 74 }, values: { b_val: 666 }, eventTimeMs: Date.UTC(99_999, 0, 1) }]),
    );
    await writeFile(path.join(home, 'real.jsonl'), `{"k1": 74, "event_ts": ${BASE}, "b_val": 2}\n`);
    expect((await cli('features', 'push', 'b', '--input', 'real.jsonl', '--to', 'online')).out).toContain(
      '0 written online, 1 stale',
    );
    const deleted = await cli('features', 'delete', 'b', '--entity', 'k1=74', '--entity', 'k1=75');
    expect(deleted).toEqual({
      code: 0,
      out: 'Deleted the online values of 1 of 2 entities in view b (the others had none)\n',
      err: '',
    });
    expect((await cli('features', 'push', 'b', '--input', 'real.jsonl', '--to', 'online')).out).toContain(
      '1 written online, 0 stale',
    );
    expect(await readB(74)).toEqual({ status: 'PRESENT', value: 2, eventTimeMs: BASE });
    expect(JSON.parse((await cli('features', 'delete', 'a', '--entity', 'k1=1,k2=2', '--json')).out)).toEqual({
      view: 'a',
      entities: 1,
      deleted: 0,
    });
  });

  it('delete names a bad entity', async () => {
    const cases: [string[], string][] = [
      [['b', '--entity', 'k1'], '--entity "k1": expected join_key=value pairs'],
      [['b', '--entity', 'k1=x'], 'join key "k1" must be an integer (int64), got "x"'],
      [['a', '--entity', 'k1=1'], 'entities[0] is missing join key "k2" (int64)'],
      [['b', '--entity', 'k1=1,k1=2'], 'join key "k1" is given 2 times'],
      [['nope', '--entity', 'k1=1'], 'feature view "nope" does not exist'],
      [['b'], 'give at least one --entity'],
    ];
    for (const [args, message] of cases) {
      const result = await cli('features', 'delete', ...args);
      expect([args, result.code]).toEqual([args, 1]);
      expect(result.err).toContain(message);
    }
  });
});
