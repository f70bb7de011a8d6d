import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnxModel } from '../registry/onnx/read-onnx.js';
import { evalSetSlice, readEvalSet } from './eval-set.js';

// Read directly rather than through src/testing/fixtures.ts, which opens the whole platform's import graph.
const fixtureBytes = (file: string): Buffer => readFileSync(path.resolve('fixtures/models', file));
const BREAST_CANCER_TEST = path.resolve('fixtures/optimize/breast_cancer_test.csv');
const breastCancer = readOnnxModel(fixtureBytes('breast_cancer.onnx')).signature;
const iris = readOnnxModel(fixtureBytes('iris_mixed.onnx')).signature;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-eval-set-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csv(name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

/** breast_cancer's 30 feature columns + label, `rows` rows of 1..30 with label = row % 2. */
function breastCancerCsv(rows: number, edit?: (cells: string[], row: number) => void): string {
  const header = [...Array.from({ length: 30 }, (_, j) => `input_${j}`), 'label'].join(',');
  const lines = Array.from({ length: rows }, (_, row) => {
    const cells = [...Array.from({ length: 30 }, (_, j) => String(j + 1 + row / 10)), String(row % 2)];
    edit?.(cells, row);
    return cells.join(',');
  });
  return [header, ...lines].join('\n') + '\n';
}

describe('readEvalSet', () => {
  it('maps the held-out table to the model input, rows in file order, labels apart', async () => {
    const set = await readEvalSet(BREAST_CANCER_TEST, breastCancer, { labelColumn: 'label', purpose: 'eval' });
    const lines = readFileSync(BREAST_CANCER_TEST, 'utf8').trim().split('\n').slice(1);
    expect(set.rowCount).toBe(143);
    expect(set.source).toBe(BREAST_CANCER_TEST);
    const input = set.inputs['input']!;
    expect(input.datatype).toBe('FP32');
    expect(input.dims).toEqual([143, 30]);
    const last = lines[142]!.split(',').map(Number);
    expect(Array.from((input.data as Float32Array).slice(142 * 30, 143 * 30))).toEqual(
      last.slice(0, 30).map((v) => Math.fround(v)),
    );
    expect(set.labels).toEqual(lines.map((line) => Number(line.split(',')[30])));
    expect(set.labelColumn).toBe('label');
  });

  it('feeds BYTES inputs from text and numbers (as their text), FP32 from numbers', async () => {
    const file = await csv(
      'iris.csv',
      'sepal_length,sepal_width,petal_length,petal_width_band,species\n5.1,3.5,1.4,narrow,setosa\n6.2,2.9,4.3,7,versicolor\n',
    );
    const set = await readEvalSet(file, iris, { labelColumn: 'species', purpose: 'eval' });
    expect(set.inputs['petal_width_band']).toEqual({ datatype: 'BYTES', dims: [2, 1], data: ['narrow', '7'] });
    expect(Array.from(set.inputs['sepal_length']!.data as Float32Array)).toEqual([Math.fround(5.1), Math.fround(6.2)]);
    expect(set.labels).toEqual(['setosa', 'versicolor']);
  });

  it('refuses a null feature naming the file, column and row', async () => {
    const file = await csv(
      'null.csv',
      breastCancerCsv(5, (cells, row) => {
        if (row === 3) cells[7] = '';
      }),
    );
    await expect(readEvalSet(file, breastCancer, { labelColumn: 'label', purpose: 'calibration' })).rejects.toThrow(
      `the calibration file "${file}": column "input_7", row 4 is null; input "input" (FP32) needs a number`,
    );
  });

  it('refuses text where a number is needed, naming the column, row and value', async () => {
    const file = await csv(
      'text.csv',
      breastCancerCsv(4, (cells, row) => {
        if (row === 2) cells[12] = 'n/a';
      }),
    );
    await expect(readEvalSet(file, breastCancer, { labelColumn: 'label', purpose: 'eval' })).rejects.toThrow(
      'column "input_12", row 3 is "n/a", not a number',
    );
  });

  it('refuses a missing label column naming it and the columns present', async () => {
    const file = await csv('nolabel.csv', 'input,y\n1,0\n');
    await expect(readEvalSet(file, breastCancer, { labelColumn: 'target', purpose: 'eval' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `the eval file "${file}" has no label column "target"; its columns are input, y`,
    });
  });

  it('refuses more rows than maxRows (naming the limit) and an empty file', async () => {
    const many = await csv('many.csv', breastCancerCsv(11));
    await expect(
      readEvalSet(many, breastCancer, { labelColumn: 'label', maxRows: 10, purpose: 'train' }),
    ).rejects.toThrow('has more than 10 rows, the limit for train sets');
    const exactly = await readEvalSet(many, breastCancer, { labelColumn: 'label', maxRows: 11, purpose: 'train' });
    expect(exactly.rowCount).toBe(11);
    const empty = await csv('empty.csv', breastCancerCsv(0));
    await expect(readEvalSet(empty, breastCancer, { labelColumn: 'label', purpose: 'data' })).rejects.toThrow(
      `the data file "${empty}" has no rows`,
    );
  });
});

describe('evalSetSlice', () => {
  it('copies rows [start, end) of every input into ONNX Runtime tensors', async () => {
    const file = await csv(
      'iris-slice.csv',
      'sepal_length,sepal_width,petal_length,petal_width_band\n1,2,3,a\n4,5,6,b\n7,8,9,c\n',
    );
    const set = await readEvalSet(file, iris, { purpose: 'data' });
    const feeds = evalSetSlice(set, 1, 3);
    expect(feeds['sepal_width']!.dims).toEqual([2, 1]);
    expect(Array.from(feeds['sepal_width']!.data as Float32Array)).toEqual([5, 8]);
    expect(feeds['petal_width_band']!.data).toEqual(['b', 'c']);
    (feeds['sepal_width']!.data as Float32Array)[0] = 99;
    expect((set.inputs['sepal_width']!.data as Float32Array)[1]).toBe(5);
    expect(() => evalSetSlice(set, 2, 4)).toThrow('rows [2, 4) are not a non-empty range of the 3 rows');
  });
});
