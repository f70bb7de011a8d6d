import { tensorRequest } from '../serving/index.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTable, writeTable } from '../io/index.js';
import { identityModel } from '../runtime/onnx/tiny-onnx.test-support.js';
import type { Datatype, Tensor } from '../tensor/datatypes.js';
import { DATATYPES } from '../tensor/datatypes.js';
import { decodeElements } from '../tensor/elements.js';
import { fromHalfBits } from '../tensor/fp16.js';
import { openTestPlatform } from '../testing/fixtures.js';
import { batchDepsOf, runBatchJob, type BatchDeps } from './run-batch-job.js';
import { COLOR_CODES, stringInputModel } from './string-model.test-support.js';

/**
 * Every datatype the online path accepts can be scored from CSV, Parquet and JSONL, equal to the
 * online predictions of the same values (issue 13, item 12): a model with a string (BYTES) input
 * through ai.onnx.ml's LabelEncoder, and an identity model per datatype. Values a datatype cannot
 * hold reject their row with a reason naming the column and the datatype.
 */

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;
let platform: TestPlatform;
let deps: BatchDeps;
let dir: string;

const FORMATS = ['csv', 'parquet', 'jsonl'] as const;

beforeAll(async () => {
  platform = await openTestPlatform();
  deps = batchDepsOf(platform);
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-batch-types-'));
  await platform.registry.push({ name: 'colors', bytes: stringInputModel() });
  for (const datatype of DATATYPES)
    await platform.registry.push({ name: `id-${datatype.toLowerCase()}`, bytes: identityModel(datatype) });
}, 60_000);

afterAll(async () => {
  await platform?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** The output file's rows as objects (numbers, 0/1 booleans, strings). */
async function readRows(file: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for await (const chunk of readTable(file)) {
    for (let r = 0; r < chunk.rows; r++) {
      const row: Record<string, unknown> = {};
      for (const [name, column] of chunk.columns)
        row[name] =
          column.type === 'string' || column.type === 'other'
            ? column.values[r]
            : column.nulls[r] === 1
              ? null
              : column.values[r];
      rows.push(row);
    }
  }
  return rows;
}

async function rejectsOf(output: string): Promise<{ id: unknown; reason: string }[]> {
  const text = await readFile(output.replace(/\.[a-z]+$/, '.rejects.jsonl'), 'utf8').catch(() => '');
  return text.trim() === ''
    ? []
    : text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: unknown; reason: string });
}

/** An online tensor's elements as the output file holds them: numbers (FP16 decoded, 64-bit ints as numbers, BOOL 0/1) or strings. */
function elementsOf(tensor: Tensor): unknown[] {
  if (tensor.datatype === 'FP16') return [...(tensor.data as Uint16Array)].map(fromHalfBits);
  if (tensor.datatype === 'BYTES') return [...(tensor.data as string[])];
  return Array.from(tensor.data as ArrayLike<number | bigint>, Number);
}

describe('batch scoring: a model with a string (BYTES) input', () => {
  const ROWS: [string, string | null, number][] = [
    ['a', 'red', 0.5],
    ['b', 'green', -1.25],
    ['c', 'blue', 10],
    ['d', 'purple', 0],
    ['e', null, 1],
    ['f', 'héllo 日本', 2.5],
    ['g', '007', 3],
  ];

  it.each(FORMATS)(
    'scores it from %s equal to online predictions, rejecting a null string with its reason',
    async (format) => {
      const input = path.join(dir, `colors.${format}`);
      await writeTable(
        input,
        [
          { name: 'id', type: 'string' },
          { name: 'color', type: 'string' },
          { name: 'x', type: 'number' },
        ],
        [ROWS],
      );
      const output = path.join(dir, `colors-${format}-out.parquet`);
      const summary = await runBatchJob(
        { jobId: `colors-${format}`, model: 'colors@1.0.0', input, output, idColumn: 'id', workers: 1 },
        deps,
      );
      expect(summary).toMatchObject({ status: 'succeeded', rows: 7, scored: 6, rejected: 1 });
      expect(await rejectsOf(output)).toEqual([{ id: 'e', reason: 'column "color" is null' }]);
      const good = ROWS.filter((r) => r[1] !== null) as [string, string, number][];
      const online = await platform.serving.pipeline.infer(
        tensorRequest('colors', [
          { name: 'color', datatype: 'BYTES', shape: [good.length, 1], data: good.map((r) => r[1]) },
          { name: 'x', datatype: 'FP32', shape: [good.length, 1], data: Float32Array.from(good.map((r) => r[2])) },
        ]),
      );
      const y = elementsOf(online.outputs.find((o) => o.name === 'y')!);
      const colorOut = elementsOf(online.outputs.find((o) => o.name === 'color_out')!);
      expect(y).toEqual(good.map(([, color, x]) => (COLOR_CODES[color] ?? -1) + x)); // the model did what it says
      expect(await readRows(output)).toEqual(good.map(([id], k) => ({ id, y: y[k], color_out: colorOut[k] })));
    },
    60_000,
  );
});

/** Per datatype: two good rows of two values, one row with a value it cannot hold (and why), the file column type. */
const CASES: Record<
  Datatype,
  { type: 'integer' | 'number' | 'boolean' | 'string'; good: unknown[][]; bad: unknown[]; reason: string }
> = {
  BOOL: {
    type: 'boolean',
    good: [
      [true, false],
      [false, true],
    ],
    bad: [null, true],
    reason: 'column "x_0" is null',
  },
  INT8: {
    type: 'integer',
    good: [
      [-128, 127],
      [0, -1],
    ],
    bad: [128, 0],
    reason: 'column "x_0" holds 128, out of range for INT8 (-128..127)',
  },
  INT16: {
    type: 'integer',
    good: [
      [-32768, 32767],
      [0, 7],
    ],
    bad: [0, -32769],
    reason: 'column "x_1" holds -32769, out of range for INT16 (-32768..32767)',
  },
  INT32: {
    type: 'integer',
    good: [
      [-2147483648, 2147483647],
      [0, 7],
    ],
    bad: [2147483648, 0],
    reason: 'column "x_0" holds 2147483648, out of range for INT32 (-2147483648..2147483647)',
  },
  INT64: {
    type: 'number',
    good: [
      [-(2 ** 53 - 1), 2 ** 53 - 1],
      [0, -7],
    ],
    bad: [2 ** 60, 0],
    reason: `column "x_0" holds ${2 ** 60}, beyond ±2^53 where a number read from a file is exact`,
  },
  UINT8: {
    type: 'integer',
    good: [
      [0, 255],
      [1, 2],
    ],
    bad: [-1, 0],
    reason: 'column "x_0" holds -1, out of range for UINT8 (0..255)',
  },
  UINT16: {
    type: 'integer',
    good: [
      [0, 65535],
      [1, 2],
    ],
    bad: [65536, 0],
    reason: 'column "x_0" holds 65536, out of range for UINT16 (0..65535)',
  },
  UINT32: {
    type: 'integer',
    good: [
      [0, 4294967295],
      [1, 2],
    ],
    bad: [4294967296, 0],
    reason: 'column "x_0" holds 4294967296, out of range for UINT32 (0..4294967295)',
  },
  UINT64: {
    type: 'number',
    good: [
      [0, 2 ** 53 - 1],
      [1, 2],
    ],
    bad: [-5, 0],
    reason: 'column "x_0" holds -5, out of range for UINT64 (0..9007199254740991)',
  },
  FP16: {
    type: 'number',
    good: [
      [1.5, -2],
      [65504, 0.1],
    ],
    bad: [70000, 0],
    reason: 'column "x_0" holds 70000, out of range for FP16 (±65504)',
  },
  FP32: {
    type: 'number',
    good: [
      [0.1, -1.5e38],
      [3.25, 1e-30],
    ],
    bad: [0, 1e39],
    reason: 'column "x_1" holds 1e+39, out of range for FP32',
  },
  FP64: {
    type: 'number',
    good: [
      [0.1, 1e300],
      [-2.5, 5e-324],
    ],
    bad: [null, 1],
    reason: 'column "x_0" is null',
  },
  BYTES: {
    type: 'string',
    good: [
      ['a', 'héllo'],
      ['日本語 🚢', '007'],
    ],
    bad: [null, 'b'],
    reason: 'column "x_0" is null',
  },
};

describe('batch scoring: every datatype the online path accepts', () => {
  for (const datatype of DATATYPES) {
    it.each(FORMATS)(
      `${datatype} from %s equals the online predictions; a value ${datatype} cannot hold rejects its row`,
      async (format) => {
        const { type, good, bad, reason } = CASES[datatype];
        const input = path.join(dir, `${datatype}.${format}`);
        const rows = [
          ['r0', ...good[0]!],
          ['r1', ...bad],
          ['r2', ...good[1]!],
        ];
        await writeTable(
          input,
          [
            { name: 'id', type: 'string' },
            { name: 'x_0', type },
            { name: 'x_1', type },
          ],
          [rows],
        );
        const output = path.join(dir, `${datatype}-${format}-out.parquet`);
        const summary = await runBatchJob(
          {
            jobId: `${datatype}-${format}`,
            model: `id-${datatype.toLowerCase()}@1.0.0`,
            input,
            output,
            idColumn: 'id',
            workers: 1,
          },
          deps,
        );
        expect(summary, summary.error).toMatchObject({ status: 'succeeded', rows: 3, scored: 2, rejected: 1 });
        expect(await rejectsOf(output)).toEqual([{ id: 'r1', reason }]);
        // The values as a JSON client sends them, decoded by the online path's own codec.
        const data = decodeElements(datatype, good.flat(), (i) => `element ${i}`);
        const online = await platform.serving.pipeline.infer(
          tensorRequest(`id-${datatype.toLowerCase()}`, [{ name: 'x', datatype, shape: [2, 2], data }]),
        );
        const y = elementsOf(online.outputs[0]!);
        const asFile = (value: unknown) => (datatype === 'BOOL' ? Number(value) : value);
        expect(await readRows(output)).toEqual([
          { id: 'r0', y_0: asFile(y[0]), y_1: asFile(y[1]) },
          { id: 'r2', y_0: asFile(y[2]), y_1: asFile(y[3]) },
        ]);
      },
      60_000,
    );
  }
});

describe('batch scoring: a text column among the inferred feature columns', () => {
  it('is refused up front, naming the column, the input and its datatype', async () => {
    const input = path.join(dir, 'named.csv');
    await writeFile(input, 'name,x_a,x_b\nalice,1,2\nbob,3,4\n');
    const pushed = await platform.registry.push({ name: 'pair', bytes: identityModel('FP32') });
    expect(pushed.version).toBe('1.0.0');
    await expect(
      runBatchJob({ jobId: 'named', model: 'pair@1.0.0', input, output: path.join(dir, 'named-out.csv') }, deps),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/column "name" holds text \("alice"\), not numbers, but input "x" is FP32/),
    });
  });

  it('a chunk whose every row is rejected is written empty instead of failing the job', async () => {
    const input = path.join(dir, 'all-bad.csv');
    await writeFile(
      input,
      `id,x_0,x_1\n${Array.from({ length: 10 }, (_, i) => `r${i},${i < 5 ? 'oops' : i},1`).join('\n')}\n`,
    );
    const output = path.join(dir, 'all-bad-out.csv');
    const summary = await runBatchJob(
      { jobId: 'all-bad', model: 'id-fp32@1.0.0', input, output, idColumn: 'id', chunkRows: 5, workers: 1 },
      deps,
    );
    expect(summary, summary.error).toMatchObject({ status: 'succeeded', rows: 10, scored: 5, rejected: 5 });
    expect((await rejectsOf(output)).map((r) => r.reason)).toEqual(
      Array.from({ length: 5 }, () => 'column "x_0" holds "oops", not a number'),
    );
    expect(await readRows(output)).toEqual([5, 6, 7, 8, 9].map((i) => ({ id: `r${i}`, y_0: i, y_1: 1 })));
  });
});
