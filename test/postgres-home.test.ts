import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, TEST_POSTGRES_URL } from '../src/testing/databases.js';
import { FIXTURES } from '../src/testing/fixtures.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const bin = path.join(root, 'bin', 'slipway.js');
const postgres = DIALECTS.find((d) => d.name === 'postgres')!;

interface Run {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** The real `slipway` CLI as a user runs it: its own process, in `cwd`, with `env` only. */
function slipway(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

async function postgresQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

const FEATURES_YAML = `
entities: [{ name: patient, join_keys: [{ name: patient_id, type: int64 }] }]
feature_views:
  - name: vitals
    entities: [patient]
    source: { path: vitals.csv }
    timestamp_field: event_ts
    features: [{ name: heart_rate, type: float64 }]
`;

/**
 * Issue 13 item 14: PostgreSQL mode with a home that does not exist yet used to fail every command
 * with "cannot open SQLite online store" (only SQLite mode created the folder, with slipway.db).
 * No SLIPWAY_HOME here: the default `./.slipway` of the working folder is used, and the command
 * that creates it says so once, with its absolute path and how to choose another.
 */
describe.skipIf(postgres.skipReason !== undefined)('a fresh home in PostgreSQL mode (real slipway processes)', () => {
  const schema = `slipway_test_${randomBytes(6).toString('hex')}`;
  let cwd: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    expect(existsSync(path.join(root, 'dist', 'cli', 'main.js')), 'dist/ is missing: run `npm run build`').toBe(true);
    await postgresQuery(`create schema "${schema}"`);
    cwd = await mkdtemp(path.join(os.tmpdir(), 'slipway-pg-home-'));
    // No SLIPWAY_HOME: the default home of the working folder.
    env = {
      ...process.env,
      SLIPWAY_HOME: undefined,
      SLIPWAY_DATABASE_URL: `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      SLIPWAY_LOG_LEVEL: 'silent',
    };
    await writeFile(path.join(cwd, 'features.yaml'), FEATURES_YAML);
    await writeFile(path.join(cwd, 'vitals.csv'), 'patient_id,event_ts,heart_rate\n1,2026-01-01T00:00:00Z,70\n');
    await writeFile(
      path.join(cwd, 'rows.jsonl'),
      '{"patient_id": 42, "event_ts": "2026-11-29T10:00:00Z", "heart_rate": 71.5}\n',
    );
  });
  afterAll(async () => {
    await postgresQuery(`drop schema if exists "${schema}" cascade`);
    await rm(cwd, { recursive: true, force: true });
  });

  it('push, features apply and features push succeed; the home is announced once, when created', async () => {
    const home = path.join(cwd, '.slipway');
    expect(existsSync(home)).toBe(false);
    const runs: Run[] = [];
    const run = async (...args: string[]): Promise<Run> => {
      const result = await slipway(cwd, env, ...args);
      runs.push(result);
      expect(result.code, `slipway ${args.join(' ')}\n${result.out}${result.err}`).toBe(0);
      return result;
    };
    const pushed = await run('push', path.join(FIXTURES, 'breast_cancer.onnx'), '--name', 'cancer');
    expect(pushed.err).toBe(`slipway: created home ${home} (set SLIPWAY_HOME to use another folder)\n`);
    expect(pushed.out).toContain('1.0.0');
    expect((await run('features', 'apply', 'features.yaml', '--yes')).out).toContain('Applied 2 changes.');
    const rows = await run('features', 'push', 'vitals', '--input', 'rows.jsonl');
    expect(rows.out).toMatch(/^Pushed 1 row to view vitals: 1 written online, 0 stale; offline log .*\.parquet\n$/);
    expect((await run('models', '--json')).out).toContain('"cancer"');
    expect(runs.slice(1).map((r) => r.err)).toEqual(['', '', '']);
    expect(runs.filter((r) => r.err.includes('created home')).length).toBe(1);
    // Artifacts, the online store and the push log live in the home; the metadata in PostgreSQL.
    const inHome = await readdir(home);
    expect(inHome).toEqual(expect.arrayContaining(['blobs', 'features', 'online.db']));
    expect(inHome).not.toContain('slipway.db');
  });
});
