import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { readOnnxModel } from './onnx/read-onnx.js';

type TestPlatform = Awaited<ReturnType<typeof openTestPlatform>>;

async function blobFiles(home: string): Promise<string[]> {
  const root = path.join(home, 'blobs');
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

async function refusal(promise: Promise<unknown>): Promise<SlipwayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('readOnnxModel', () => {
  it('reads names, datatypes and shapes with symbolic dims as -1', () => {
    const info = readOnnxModel(fixtureBytes('breast_cancer.onnx'));
    expect(info.signature).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 30] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    });
    expect(info.irVersion).toBe(8);
    expect(info.opsets['']).toBe(13);
    expect(
      readOnnxModel(fixtureBytes('iris_mixed.onnx')).signature.inputs.map((s) => `${s.name}:${s.datatype}`),
    ).toEqual(['sepal_length:FP32', 'sepal_width:FP32', 'petal_length:FP32', 'petal_width_band:BYTES']);
    expect(readOnnxModel(fixtureBytes('diabetes_ridge_fp64.onnx')).signature.outputs).toEqual([
      { name: 'variable', datatype: 'FP64', shape: [-1, 1] },
    ]);
  });

  it.each([
    ['empty', Buffer.alloc(0), /empty/],
    ['plain text', fixtureBytes('not_onnx.onnx'), /not a valid ONNX model/],
    ['truncated', fixtureBytes('truncated.onnx'), /not a valid ONNX model/],
  ])('refuses %s bytes', (_name, bytes, message) => {
    expect(() => readOnnxModel(bytes)).toThrow(message);
  });
});

describe('RegistryService.push', () => {
  let platform: TestPlatform;
  beforeEach(async () => {
    platform = await openTestPlatform();
  });
  afterEach(async () => {
    await platform.dispose();
  });

  it('derives each version from the schema diff of real models', async () => {
    const push = (file: string, extra: { bump?: string; version?: string; allowDuplicate?: boolean } = {}) =>
      platform.registry.push({ name: 'cancer', bytes: fixtureBytes(file), ...extra });
    expect((await push('breast_cancer.onnx')).version).toBe('1.0.0');
    const retrained = await push('breast_cancer_retrained.onnx');
    expect(retrained.version).toBe('1.1.0');
    expect(retrained.schemaChange).toMatchObject({
      comparedTo: '1.0.0',
      requiredBump: null,
      appliedBump: 'minor',
      differences: [],
    });
    expect((await push('breast_cancer.onnx', { bump: 'patch', allowDuplicate: true })).version).toBe('1.1.1');
    const extra = await push('breast_cancer_extra_output.onnx');
    expect(extra.version).toBe('1.2.0');
    expect(extra.schemaChange.differences.map((d) => `${d.severity} ${d.kind} ${d.side} ${d.name}`)).toEqual([
      'compatible added output logit',
    ]);

    const refused = await refusal(push('breast_cancer_no_label.onnx', { version: '1.3.0' }));
    expect(refused.code).toBe('CONFLICT');
    expect(refused.message).toMatch(/version 1.3.0 is a minor bump from 1.2.0.*needs a major bump \(2.0.0 or later\)/);
    expect(refused.message).toMatch(/BREAKING output "label" was removed/);
    expect(refused.message).toMatch(/BREAKING output "logit" was removed/);
    const major = await push('breast_cancer_no_label.onnx');
    expect(major.version).toBe('2.0.0');
    expect(major.schemaChange.appliedBump).toBe('major');
    expect((await platform.registry.listVersions('cancer')).map((v) => v.version)).toEqual([
      '2.0.0',
      '1.2.0',
      '1.1.1',
      '1.1.0',
      '1.0.0',
    ]);
  });

  it.each([
    ['breast_cancer_renamed_input.onnx', 'major', /renamed/],
    ['breast_cancer_fp64_input.onnx', 'minor', /safe widening/],
    ['breast_cancer_29_features.onnx', 'major', /dimension 1 changed 30 -> 29/],
    ['breast_cancer_extra_input.onnx', 'major', /input "weight" was added/],
  ])('%s needs a %s bump', async (file, bump, message) => {
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    if (bump === 'major') {
      const refused = await refusal(
        platform.registry.push({ name: 'cancer', bytes: fixtureBytes(file), bump: 'minor' }),
      );
      expect(refused.code).toBe('CONFLICT');
      expect(refused.message).toMatch(message);
    }
    const record = await platform.registry.push({ name: 'cancer', bytes: fixtureBytes(file) });
    expect(record.schemaChange.appliedBump).toBe(bump);
    expect(record.version).toBe(bump === 'major' ? '2.0.0' : '1.1.0');
    expect(record.schemaChange.differences.map((d) => d.message).join('\n')).toMatch(message);
  });

  it('stores identical bytes once and reuses the blob', async () => {
    const a = await platform.registry.push({ name: 'a', bytes: fixtureBytes('breast_cancer.onnx') });
    const b = await platform.registry.push({ name: 'b', bytes: fixtureBytes('breast_cancer.onnx') });
    expect(a.artifact.sha256).toBe(b.artifact.sha256);
    expect(await blobFiles(platform.home)).toEqual([a.artifact.sha256]);
  });

  it.each([
    ['an empty upload', Buffer.alloc(0), /empty/],
    ['a file that is not ONNX', fixtureBytes('not_onnx.onnx'), /not a valid ONNX model/],
    ['a truncated model', fixtureBytes('truncated.onnx'), /not a valid ONNX model|cannot load/],
  ])('refuses %s and stores nothing', async (_name, bytes, message) => {
    const refused = await refusal(platform.registry.push({ name: 'bad', bytes }));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toMatch(message);
    expect(await platform.registry.listModels()).toEqual([]);
    expect(await blobFiles(platform.home)).toEqual([]);
  });

  it('refuses bytes a version of the model already has unless allowDuplicate, naming that version', async () => {
    const first = await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    const refused = await refusal(
      platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') }),
    );
    expect(refused.code).toBe('ALREADY_EXISTS');
    expect(refused.message).toBe(
      `model "cancer": same artifact as 1.0.0 (sha256 ${first.artifact.sha256.slice(0, 12)}…); pass --allow-duplicate (API: allow_duplicate) to register it again`,
    );
    expect((await platform.registry.listVersions('cancer')).map((v) => v.version)).toEqual(['1.1.0', '1.0.0']);
    const again = await platform.registry.push({
      name: 'cancer',
      bytes: fixtureBytes('breast_cancer.onnx'),
      allowDuplicate: true,
    });
    expect(again.version).toBe('1.2.0');
    expect(again.artifact.sha256).toBe(first.artifact.sha256);
    expect((await blobFiles(platform.home)).length).toBe(2);
  });

  it('removes a new blob when the version is refused', async () => {
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await refusal(
      platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_no_label.onnx'), bump: 'minor' }),
    );
    expect((await blobFiles(platform.home)).length).toBe(1);
  });

  it('gives concurrent pushes of one model distinct versions', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        platform.registry.push({ name: 'race', bytes: fixtureBytes('breast_cancer.onnx'), allowDuplicate: true }),
      ),
    );
    expect(results.map((r) => r.version).sort()).toEqual(['1.0.0', '1.1.0', '1.2.0', '1.3.0', '1.4.0', '1.5.0']);
  });

  it('resolves numbers, aliases and latest, and archives only unused versions', async () => {
    await platform.registry.push({ name: 'm', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'm', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    await platform.registry.setAlias('m', 'champion', '1.0.0', 'first to production');
    expect((await platform.registry.resolve('m@champion')).version).toBe('1.0.0');
    expect((await platform.registry.resolve('m@latest')).version).toBe('1.1.0');
    expect((await platform.registry.resolve('m')).version).toBe('1.1.0');
    expect((await platform.registry.resolve('m@1.0.0')).aliases).toEqual(['champion']);
    const refused = await refusal(platform.registry.archive('m', '1.0.0'));
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(/champion/);
    await platform.registry.setAlias('m', 'champion', 'latest', 'promote the retrain');
    await platform.registry.archive('m', '1.0.0', 'superseded');
    expect((await platform.registry.listVersions('m')).map((v) => v.version)).toEqual(['1.1.0']);
    const history = await platform.registry.aliasHistory('m');
    expect(history.map((e) => [e.alias, e.fromVersion, e.toVersion, e.reason])).toEqual([
      ['champion', null, '1.0.0', 'first to production'],
      ['champion', '1.0.0', '1.1.0', 'promote the retrain'],
    ]);
    await expect(platform.registry.resolve('m@nope')).rejects.toThrow(/no alias "nope"/);
    await expect(platform.registry.resolve('other')).rejects.toThrow('model "other" does not exist');
  });
});
