import type { SlipwayConfig } from '../core/config.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { expectedOutputs, fixtureBytes, openTestPlatform } from '../testing/fixtures.js';

export const expected = expectedOutputs('breast_cancer');
/** The held-out rows of breast_cancer, 30 features each. */
export const ROWS: number[][] = Array.from(
  { length: expected.inputs[0]!.shape[0]! },
  (_, i) => expected.inputs[0]!.data.slice(i * 30, i * 30 + 30) as number[],
);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

/**
 * A server on a fresh home with `cancer` 1.0.0 (breast_cancer), 1.1.0 (retrained: other weights;
 * a retrain is a minor bump), 1.2.0 (fails at run time on real rows: breast_cancer_faulty.onnx).
 */
export async function startCancerServer(
  overrides: Partial<SlipwayConfig> = {},
  home?: TestPlatform,
): Promise<{ platform: TestPlatform; server: RunningServer }> {
  const platform = home ?? (await openTestPlatform(overrides));
  if (home === undefined) {
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_faulty.onnx') });
  }
  const server = await startServer(platform, { host: '127.0.0.1', port: 0 });
  await server.preloaded;
  return { platform, server };
}

export function inferBody(row: readonly number[], id?: string): string {
  return JSON.stringify({
    ...(id === undefined ? {} : { id }),
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: row }],
  });
}

export interface Answer {
  readonly status: number;
  readonly version: string | null;
  readonly body: {
    model_name?: string;
    model_version?: string;
    id?: string;
    outputs?: Array<{ name: string; data: number[] }>;
    error?: string;
    code?: string;
  };
}

/** POST one row to `/v2/models/{name}/infer`. */
export async function infer(
  url: string,
  name: string,
  row: readonly number[],
  headers: Record<string, string> = {},
  id?: string,
): Promise<Answer> {
  const response = await fetch(`${url}/v2/models/${name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: inferBody(row, id),
  });
  return {
    status: response.status,
    version: response.headers.get('x-slipway-version'),
    body: (await response.json()) as Answer['body'],
  };
}

// Tests read JSON answers loosely, as `response.json()` types them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LooseJson = any;

export async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: LooseJson }> {
  const response = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

export interface LoadResult {
  readonly statuses: Map<number, number>;
  readonly versions: Map<string, number>;
  total: number;
  readonly failures: string[];
}

/** `connections` loops sending rows to a deployment until `stop` resolves; counts statuses and versions. */
export function loadUntil(
  url: string,
  name: string,
  connections: number,
  stop: Promise<unknown>,
  rows: readonly number[][] = ROWS,
): Promise<LoadResult> {
  const result: LoadResult = { statuses: new Map(), versions: new Map(), total: 0, failures: [] };
  let done = false;
  void stop.then(() => (done = true));
  let i = 0;
  const loop = async () => {
    while (!done) {
      const answer = await infer(url, name, rows[i++ % rows.length] as number[]);
      result.total++;
      result.statuses.set(answer.status, (result.statuses.get(answer.status) ?? 0) + 1);
      if (answer.status !== 200 && result.failures.length < 5)
        result.failures.push(`${answer.status} ${answer.body.error ?? ''}`);
      result.versions.set(answer.version ?? '-', (result.versions.get(answer.version ?? '-') ?? 0) + 1);
    }
  };
  return Promise.all(Array.from({ length: connections }, loop)).then(() => result);
}

/** Poll `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
