import { expect, it } from 'vitest';
import { describeEachDialect } from '../testing/databases.js';
import { OPTIMIZE_HEARTBEAT_TIMEOUT_MS, SqlOptimizeJobStore } from './job-store.js';

const spec = { kind: 'optimize', model: 'digits@1.0.0', passes: [{ pass: 'fp16', settings: {} }], eval: '/data/e.csv' };

describeEachDialect('SqlOptimizeJobStore', (fixture) => {
  it('stores a job, starts it once, keeps the last progress line and finishes it with its result', async () => {
    const database = await fixture.open();
    const jobs = new SqlOptimizeJobStore(database);
    const job = await jobs.insert({
      id: 'j1',
      kind: 'optimize',
      model: 'digits',
      parentVersion: '1.0.0',
      spec,
      actor: 'ci',
    });
    expect(job).toMatchObject({ id: 'j1', status: 'queued', spec, actor: 'ci', progress: null, result: null });
    await jobs.start('j1', 'host/1');
    await expect(jobs.start('j1', 'host/2')).rejects.toMatchObject({ code: 'CONFLICT' });
    await jobs.progress('j1', 'pass 1/1: fp16');
    expect((await jobs.get('j1')).progress?.message).toBe('pass 1/1: fp16');
    const report = { rows: 3, agreement: 1 } as never;
    await jobs.finish('j1', { status: 'succeeded', result: { report, gates: [] }, resultVersion: '1.0.1' });
    const done = await jobs.get('j1');
    expect(done).toMatchObject({
      status: 'succeeded',
      resultVersion: '1.0.1',
      result: { report, gates: [] },
      error: null,
    });
    // A finished job never changes again.
    await jobs.finish('j1', { status: 'failed', error: 'late' });
    expect((await jobs.get('j1')).status).toBe('succeeded');
    await expect(jobs.get('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('shows a running job whose runner went quiet as failed, and lists newest first by model', async () => {
    const database = await fixture.open();
    const jobs = new SqlOptimizeJobStore(database);
    await jobs.insert({ id: 'a', kind: 'optimize', model: 'm', parentVersion: '1.0.0', spec, actor: null });
    await jobs.insert({ id: 'b', kind: 'distill', model: 'other', parentVersion: '2.0.0', spec, actor: null });
    await jobs.start('a', 'host/1');
    const stale = new Date(Date.now() - OPTIMIZE_HEARTBEAT_TIMEOUT_MS - 1000).toISOString();
    await database.db.updateTable('optimize_jobs').set({ heartbeat_at: stale }).where('id', '=', 'a').execute();
    const a = await jobs.get('a');
    expect(a.status).toBe('failed');
    expect(a.error).toMatch(/interrupted/);
    expect((await jobs.list({ model: 'other' })).map((j) => j.id)).toEqual(['b']);
    expect((await jobs.list()).length).toBe(2);
  });
});
