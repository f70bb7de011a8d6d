import * as ort from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.js';
import { classify } from '../serving/classification.js';
import type { Signature } from '../tensor/datatypes.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { identityModel } from '../runtime/onnx/tiny-onnx.test-support.js';
import { linearClassifierModel, withMetadata } from './labeled-models.test-support.js';
import { checkLabelsFit, labelsForOutput, parseLabelLines } from './labels.js';
import { declaredLabels, readOnnxModel } from './onnx/read-onnx.js';

function refusal(fn: () => unknown): SlipwayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

async function rejected(promise: Promise<unknown>): Promise<SlipwayError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SlipwayError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('parseLabelLines', () => {
  it('reads one label per line, CRLF or LF, one final line break and a BOM dropped', () => {
    expect(parseLabelLines('cat\ndog\nbird\n', 'f')).toEqual(['cat', 'dog', 'bird']);
    expect(parseLabelLines('\uFEFFcat\r\ndog\r\n', 'f')).toEqual(['cat', 'dog']);
    expect(parseLabelLines('a:b "c"\n 🌸 ', 'f')).toEqual(['a:b "c"', ' 🌸 ']);
  });

  it.each([
    ['', 'labels file l.txt holds no labels'],
    ['\n', 'labels file l.txt holds no labels'],
    ['\n\ncat', 'labels file l.txt: label 0 (line 1) is empty; every class index needs a label'],
    ['cat\n\ndog\n', 'labels file l.txt: label 1 (line 2) is empty; every class index needs a label'],
    ['cat\ndog\n\n', 'labels file l.txt: label 2 (line 3) is empty; every class index needs a label'],
    [`cat\n${'x'.repeat(1025)}`, 'labels file l.txt: label 1 (line 2) is 1025 characters long, over the limit of 1024'],
  ])('refuses %j', (text, message) => {
    const error = refusal(() => parseLabelLines(text, 'labels file l.txt'));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(message);
  });
});

describe('labels and outputs', () => {
  const signature: Signature = {
    inputs: [],
    outputs: [
      { name: 'label', datatype: 'BYTES', shape: [-1] },
      { name: 'names', datatype: 'BYTES', shape: [-1, 2] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] },
    ],
  };

  it('applies a list to the numeric outputs whose fixed last dimension equals its length', () => {
    expect(labelsForOutput(signature.outputs[2]!, ['a', 'b', 'c'])).toEqual(['a', 'b', 'c']);
    expect(labelsForOutput(signature.outputs[2]!, ['a', 'b'])).toBeUndefined();
    expect(labelsForOutput(signature.outputs[1]!, ['a', 'b'])).toBeUndefined();
    expect(labelsForOutput(signature.outputs[2]!, undefined)).toBeUndefined();
    expect(() => checkLabelsFit(['a', 'b', 'c'], signature, 'x')).not.toThrow();
  });

  it('refuses a list that fits no output, naming the count and every output', () => {
    expect(refusal(() => checkLabelsFit(['a', 'b'], signature, 'labels file l.txt')).message).toBe(
      'labels file l.txt has 2 labels, but no numeric output has a last dimension of 2 (outputs: "label" BYTES [-1], "names" BYTES [-1, 2], ' +
        '"probabilities" FP32 [-1, 3]); labels apply to the outputs whose fixed last dimension equals their count',
    );
  });
});

describe('labels declared in an ONNX file', () => {
  it('reads metadata "labels" or "classlabels" as a JSON array or one per line', () => {
    const model = identityModel('FP32');
    expect(declaredLabels(readOnnxModel(withMetadata(model, { labels: '["no", "yes"]' })))).toEqual({
      values: ['no', 'yes'],
      from: 'metadata',
      source: 'ONNX metadata "labels"',
    });
    expect(declaredLabels(readOnnxModel(withMetadata(model, { classlabels: 'no\nyes\n' })))?.values).toEqual([
      'no',
      'yes',
    ]);
    expect(
      declaredLabels(readOnnxModel(withMetadata(model, { labels: 'a\nb', classlabels: '["a","b"]' })))?.values,
    ).toEqual(['a', 'b']);
    expect(declaredLabels(readOnnxModel(withMetadata(model, { task: 'binary' })))).toBeUndefined();
  });

  it.each([
    [{ labels: '["a", 2]' }, 'ONNX metadata "labels": label 1 must be a string, got 2'],
    [{ labels: '[oops' }, /^ONNX metadata "labels" starts with "\[" but is not a JSON array: /],
    [
      { labels: 'a\nb', classlabels: 'b\na' },
      'ONNX metadata "labels" and ONNX metadata "classlabels" hold different labels; keep one',
    ],
  ])('refuses unreadable metadata %j, naming the key', (metadata, message) => {
    const info = readOnnxModel(withMetadata(identityModel('FP32'), metadata));
    const error = refusal(() => declaredLabels(info));
    expect(error.code).toBe('INVALID_ARGUMENT');
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
  });

  it("reads a classifier node's class labels; integer labels 0..n-1 add nothing and are left out", () => {
    expect(declaredLabels(readOnnxModel(linearClassifierModel(['cat', 'dog', 'bird'])))).toEqual({
      values: ['cat', 'dog', 'bird'],
      from: 'classifier',
      source: 'LinearClassifier node "classifier" classlabels_strings',
    });
    expect(declaredLabels(readOnnxModel(linearClassifierModel([10, 20, 30])))?.values).toEqual(['10', '20', '30']);
    expect(declaredLabels(readOnnxModel(linearClassifierModel([0, 1, 2])))).toBeUndefined();
    // The wine forest fixture's TreeEnsembleClassifier has classlabels_int64s 0, 1, 2.
    expect(declaredLabels(readOnnxModel(fixtureBytes('wine_forest.onnx')))).toBeUndefined();
    // Metadata wins over the node.
    expect(
      declaredLabels(readOnnxModel(withMetadata(linearClassifierModel(['cat', 'dog', 'bird']), { labels: 'x\ny\nz' })))
        ?.values,
    ).toEqual(['x', 'y', 'z']);
  });
});

describe('labels at push', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  beforeEach(async () => {
    platform = await openTestPlatform();
  });
  afterEach(async () => {
    await platform.dispose();
  });

  it("keeps a classifier's own labels, and they label ONNX Runtime's scores", async () => {
    const bytes = linearClassifierModel(['cat', 'dog', 'bird']);
    const record = await platform.registry.push({ name: 'pets', bytes });
    expect(record.labels).toEqual(['cat', 'dog', 'bird']);
    expect((await platform.registry.resolve('pets@1.0.0')).labels).toEqual(['cat', 'dog', 'bird']);

    const session = await ort.InferenceSession.create(bytes);
    try {
      const { scores } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(2, 1, 0.5, 3), [2, 2]) });
      const tensor = {
        name: 'scores',
        datatype: 'FP32' as const,
        shape: scores!.dims,
        data: scores!.data as Float32Array,
      };
      const spec = record.signature.outputs.find((o) => o.name === 'scores')!;
      expect(classify(tensor, 2, labelsForOutput(spec, record.labels))).toEqual({
        name: 'scores',
        datatype: 'BYTES',
        shape: [2, 2],
        data: ['2.000000:0:cat', '1.000000:1:dog', '3.000000:1:dog', '0.500000:0:cat'],
      });
    } finally {
      await session.release();
    }
  });

  it('takes labels given at push over the ones in the file; metadata labels otherwise', async () => {
    const bytes = withMetadata(linearClassifierModel(['cat', 'dog', 'bird']), { labels: '["felis", "canis", "aves"]' });
    expect((await platform.registry.push({ name: 'pets', bytes })).labels).toEqual(['felis', 'canis', 'aves']);
    const given = await platform.registry.push({
      name: 'pets',
      bytes,
      labels: ['chat', 'chien', 'oiseau'],
      allowDuplicate: true,
    });
    expect(given.labels).toEqual(['chat', 'chien', 'oiseau']);
    // A labels file replaces metadata the push would otherwise refuse.
    const broken = withMetadata(linearClassifierModel(['cat', 'dog', 'bird']), { labels: '[broken' });
    expect((await platform.registry.push({ name: 'pets', bytes: broken, labels: ['a', 'b', 'c'] })).labels).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(
      (await rejected(platform.registry.push({ name: 'pets', bytes: broken, allowDuplicate: true }))).message,
    ).toMatch(/^ONNX metadata "labels" starts with "\["/);
  });

  it('stores no labels for a model without any', async () => {
    const record = await platform.registry.push({ name: 'wine', bytes: fixtureBytes('wine_forest.onnx') });
    expect(record.labels).toBeUndefined();
    expect((await platform.registry.resolve('wine')).labels).toBeUndefined();
  });

  it('refuses labels that fit no output, in a dry run too, and stores nothing', async () => {
    const bytes = fixtureBytes('breast_cancer.onnx');
    const message =
      'labels file l.txt has 3 labels, but no numeric output has a last dimension of 3 (outputs: "label" INT64 [-1], "probabilities" FP32 [-1, 2]); ' +
      'labels apply to the outputs whose fixed last dimension equals their count';
    const push = { name: 'cancer', bytes, labels: ['a', 'b', 'c'], labelsSource: 'labels file l.txt' };
    const refused = await rejected(platform.registry.push(push));
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toBe(message);
    expect((await rejected(platform.registry.planPush(push))).message).toBe(message);
    expect(await platform.registry.listModels()).toEqual([]);

    const metadata = await rejected(
      platform.registry.push({ name: 'cancer', bytes: withMetadata(bytes, { labels: 'a\nb\nc' }) }),
    );
    expect(metadata.message).toBe(message.replace('labels file l.txt', 'ONNX metadata "labels"'));
    const empty = await rejected(platform.registry.push({ name: 'cancer', bytes, labels: ['benign', ''] }));
    expect(empty.message).toBe('"labels": label 1 is empty; every class index needs a label');
    expect(await platform.registry.listModels()).toEqual([]);

    expect((await platform.registry.push({ name: 'cancer', bytes, labels: ['malignant', 'benign'] })).labels).toEqual([
      'malignant',
      'benign',
    ]);
  });
});
