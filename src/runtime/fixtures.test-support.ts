/**
 * Test support: the committed fixture models (fixtures/models/, see its README), their expected
 * outputs as Slipway tensors, and disposable temporary folders.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Datatype, Tensor } from '../tensor/datatypes.js';

/** The committed fixture models (fixtures/models/, see its README). */
export const FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/models/', import.meta.url));

export function fixturePath(file: string): string {
  return join(FIXTURE_DIR, file);
}

interface ExpectedJsonTensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: number[];
  readonly data: (number | string)[];
}

/** A fixture's `<model>.expected.json`: scikit-learn's outputs for held-out inputs. */
export interface ExpectedCase {
  readonly inputs: Tensor[];
  readonly outputs: readonly ExpectedJsonTensor[];
  readonly tolerance: number;
}

export async function readExpected(model: string): Promise<ExpectedCase> {
  const json = JSON.parse(await readFile(fixturePath(`${model}.expected.json`), 'utf8')) as {
    inputs: ExpectedJsonTensor[];
    outputs: ExpectedJsonTensor[];
    tolerance: number;
  };
  return { inputs: json.inputs.map(fromJson), outputs: json.outputs, tolerance: json.tolerance };
}

function fromJson(t: ExpectedJsonTensor): Tensor {
  const base = { name: t.name, datatype: t.datatype, shape: t.shape };
  if (t.datatype === 'FP32') return { ...base, data: Float32Array.from(t.data.map(Number)) };
  if (t.datatype === 'FP64') return { ...base, data: Float64Array.from(t.data.map(Number)) };
  if (t.datatype === 'INT64') return { ...base, data: BigInt64Array.from(t.data.map((v) => BigInt(v))) };
  if (t.datatype === 'BYTES') return { ...base, data: t.data.map(String) };
  throw new Error(`expected.json datatype ${t.datatype} is not handled by the test support`);
}

/** A fresh temporary folder, removed by `dispose()`; `write` puts a file in it and returns its path. */
export async function tempFolder(): Promise<{
  path: string;
  write(name: string, bytes: Uint8Array): Promise<string>;
  dispose(): Promise<void>;
}> {
  const folder = await mkdtemp(join(tmpdir(), 'slipway-runtime-'));
  return {
    path: folder,
    async write(name, bytes) {
      const file = join(folder, name);
      await writeFile(file, bytes);
      return file;
    },
    dispose: () => rm(folder, { recursive: true, force: true }),
  };
}
