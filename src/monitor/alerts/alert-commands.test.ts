import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAlertCommands } from '../../cli/alert-commands.js';
import { toSlipwayError } from '../../core/errors.js';
import { openDatabase } from '../../store/database.js';
import { AlertService } from './alert-service.js';
import type { StoredAlertRule } from './alert-store.js';
import { DEFAULT_ALERT_METRICS } from './open-alert-service.js';
import { SqlAlertStore } from './sql-alert-store.js';

/** The alert commands on their own program, run the way `runCli` runs them. */
describe('slipway alerts', () => {
  let home: string;

  async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io = {
      stdout: (t: string) => void (out += t),
      stderr: (t: string) => void (err += t),
      env: { SLIPWAY_HOME: home, SLIPWAY_LOG_LEVEL: 'silent' },
      cwd: home,
    };
    const program = new Command('slipway')
      .version('0')
      .enablePositionalOptions()
      .exitOverride()
      .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
    registerAlertCommands(program, io);
    try {
      await program.parseAsync(argv, { from: 'user' });
      return { code: 0, out, err };
    } catch (error) {
      if (error instanceof CommanderError) return { code: 2, out, err };
      return { code: 1, out, err: err + `error: ${toSlipwayError(error).message}\n` };
    }
  }

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'slipway-alerts-cli-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('adds, lists, shows history and removes rules in the store', async () => {
    expect((await cli('alerts', 'list')).out).toBe(
      'no alert rules: add one with `slipway alerts add <name> "p99_ms > 50 for 5m"`\n',
    );

    const added = await cli(
      'alerts',
      'add',
      'fraud-p99',
      'p99_ms > 50 for 5m',
      '--model',
      'fraud',
      '--version',
      '1.2.0',
      '--severity',
      'critical',
      '--webhook',
      'https://hooks.example.com/x',
    );
    expect(added).toEqual({
      code: 0,
      out: 'added alert fraud-p99: p99_ms > 50 for 5m (scope model=fraud version=1.2.0, critical)\n',
      err: '',
    });
    expect((await cli('alerts', 'add', 'errors', 'error_rate > 0.01', '--json')).out).toContain('"name": "errors"');

    const table = (await cli('alerts', 'list')).out.split('\n');
    expect(table[0]).toMatch(/^NAME\s+STATE\s+SINCE\s+VALUE\s+EXPR\s+SCOPE\s+SEVERITY\s+SOURCE$/);
    expect(table[2]).toMatch(
      /^fraud-p99\s+ok\s+-\s+-\s+p99_ms > 50 for 5m\s+model=fraud version=1\.2\.0\s+critical\s+api$/,
    );
    const rules = JSON.parse((await cli('alerts', 'list', '--json')).out) as StoredAlertRule[];
    expect(rules.map((rule) => [rule.name, rule.scope, rule.for])).toEqual([
      ['errors', {}, 0],
      ['fraud-p99', { model: 'fraud', version: '1.2.0' }, 300_000],
    ]);

    // A server process evaluates and records an event; the CLI reads the history from the store.
    const database = await openDatabase({ sqlitePath: path.join(home, 'slipway.db') });
    const server = new AlertService({
      store: new SqlAlertStore(database),
      knownMetrics: DEFAULT_ALERT_METRICS,
      readMetric: () => Promise.resolve(1),
      log: () => undefined,
    });
    await server.evaluate();
    await server.close();
    const history = await cli('alerts', 'history', '--rule', 'errors');
    expect(history.out.split('\n')[0]).toMatch(/^AT\s+RULE\s+STATE\s+VALUE\s+EXPR\s+SCOPE\s+DELIVERY$/);
    expect(history.out.split('\n')[1]).toMatch(/\s+errors\s+firing\s+1\s+error_rate > 0\.01\s+all\s+log only$/);
    expect(JSON.parse((await cli('alerts', 'history', '--json')).out)).toHaveLength(1);
    expect((await cli('alerts', 'history', '--rule', 'fraud-p99')).out).toBe('no alert events\n');

    expect((await cli('alerts', 'rm', 'errors')).out).toBe('removed alert errors\n');
    expect(
      (JSON.parse((await cli('alerts', 'list', '--json')).out) as StoredAlertRule[]).map((rule) => rule.name),
    ).toEqual(['fraud-p99']);
  });

  it('reports mistakes in one line', async () => {
    expect(await cli('alerts', 'add', 'x', 'p99_ms >')).toMatchObject({
      code: 1,
      err: 'error: expr "p99_ms >": expected a number after ">", found the end\n',
    });
    expect((await cli('alerts', 'add', 'y', 'qps > 1')).err).toMatch(
      /^error: unknown metric "qps" in "qps > 1"; valid metrics: accuracy, /,
    );
    expect(await cli('alerts', 'rm', 'nope')).toMatchObject({
      code: 1,
      err: 'error: alert rule "nope" does not exist\n',
    });
    expect(await cli('alerts', 'history', '--state', 'open')).toMatchObject({
      code: 1,
      err: 'error: state "open": expected firing or resolved\n',
    });
    expect((await cli('alerts', 'add', 'z')).code).toBe(2);
  });
});
