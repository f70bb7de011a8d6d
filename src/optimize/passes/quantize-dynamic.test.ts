import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../onnx/model-proto.js';
import {
  agreement,
  contextFor,
  convModel,
  digitsWide,
  floatInit,
  gemmModel,
  maxAbsDiff,
  modelBytes,
  readTable,
  runModel,
  sampleInputs,
  smallModel,
} from './passes.test-support.js';
import { graphOptimizationPass } from './graph-optimize.js';
import { dynamicQuantizationPass } from './quantize-dynamic.js';

const opTypes = (bytes: Uint8Array): string[] => decodeModel(bytes).graph.node.map((n) => n.opType);

describe('dynamicQuantizationPass', () => {
  it('digits_mlp_wide: >= 3.5x smaller, probabilities within 0.02, labels agree on >= 99% of held-out rows', async () => {
    const { bytes, table, parent } = await digitsWide();
    for (const perChannel of [false, true]) {
      const pass = dynamicQuantizationPass({ perChannel });
      const candidate = await pass.apply(bytes, contextFor(bytes));
      expect(bytes.byteLength / candidate.byteLength).toBeGreaterThanOrEqual(3.5);
      const out = await runModel(candidate, table.features, [table.rows, table.width]);
      // Measured: 7.7e-3 per tensor, 8.1e-3 per channel.
      expect(maxAbsDiff(out.probabilities!, parent.probabilities!)).toBeLessThan(0.02);
      expect(agreement(out.label!, parent.label!)).toBeGreaterThanOrEqual(0.99);
      const accuracy = agreement(out.label!, table.labels);
      expect(accuracy).toBeGreaterThanOrEqual(0.9733 - 0.005);
      const types = opTypes(candidate);
      expect(types.filter((t) => t === 'MatMulInteger')).toHaveLength(3);
      expect(types).not.toContain('MatMul');
      expect(pass.settings).toMatchObject({
        perChannel,
        opTypes: ['MatMul', 'Gemm'],
        quantized: ['matmul1', 'matmul2', 'matmul3'],
        skipped: [],
      });
      const w2 = decodeModel(candidate).graph.initializer.find((t) => t.name === 'W2_scale')!;
      expect(w2.dims).toEqual(perChannel ? [1024] : []);
    }
  });

  it('breast_cancer: probabilities within 0.03 of the parent, labels agree on >= 99% of held-out rows', async () => {
    const bytes = modelBytes('breast_cancer.onnx');
    const table = readTable('breast_cancer_test.csv');
    const dims = [table.rows, table.width];
    const parent = await runModel(bytes, table.features, dims);
    const candidate = await dynamicQuantizationPass().apply(bytes, contextFor(bytes));
    const out = await runModel(candidate, table.features, dims);
    // Measured: 0.021 (one weight column; the error comes from the activations' UINT8 step).
    expect(maxAbsDiff(out.probabilities!, parent.probabilities!)).toBeLessThan(0.03);
    expect(agreement(out.label!, parent.label!)).toBeGreaterThanOrEqual(0.99);
  });

  it('excludeNodes keeps the named node float; includeNodes quantizes only the named ones', async () => {
    const bytes = modelBytes('digits_mlp_wide.onnx');
    const excluded = await dynamicQuantizationPass({ excludeNodes: ['matmul3'] }).apply(bytes, contextFor(bytes));
    let graph = decodeModel(excluded).graph;
    expect(graph.node.find((n) => n.name === 'matmul3')?.opType).toBe('MatMul');
    expect(graph.node.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(2);
    expect(graph.initializer.find((t) => t.name === 'W3')?.dataType).toBe(1);

    const included = await dynamicQuantizationPass({ includeNodes: ['matmul2'] }).apply(bytes, contextFor(bytes));
    graph = decodeModel(included).graph;
    expect(graph.node.filter((n) => n.opType === 'MatMul').map((n) => n.name)).toEqual(['matmul1', 'matmul3']);
    expect(graph.node.filter((n) => n.opType === 'MatMulInteger')).toHaveLength(1);

    await expect(
      dynamicQuantizationPass({ includeNodes: ['relu1'] }).apply(bytes, contextFor(bytes)),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/includeNodes names "relu1", which it does not work on/),
    });
  });

  it('Gemm with transB, alpha and beta * C: outputs within 2% of the output range of the float model', async () => {
    const bytes = gemmModel();
    const x = sampleInputs(32 * 8);
    const parent = await runModel(bytes, x, [32, 8]);
    for (const perChannel of [false, true]) {
      const candidate = await dynamicQuantizationPass({ perChannel }).apply(bytes, contextFor(bytes));
      expect(opTypes(candidate)).not.toContain('Gemm');
      expect(opTypes(candidate).filter((t) => t === 'MatMulInteger')).toHaveLength(2);
      const out = await runModel(candidate, x, [32, 8]);
      const range = Math.max(...parent.output!.map(Math.abs));
      expect(maxAbsDiff(out.output!, parent.output!)).toBeLessThan(0.02 * range);
    }
  });

  it('Conv: left float by default, quantized with ConvInteger when opTypes names it', async () => {
    const bytes = convModel();
    await expect(dynamicQuantizationPass().apply(bytes, contextFor(bytes))).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/no MatMul\/Gemm with a constant weight to quantize/),
    });
    const x = sampleInputs(4 * 2 * 6 * 6);
    const parent = await runModel(bytes, x, [4, 2, 6, 6]);
    for (const perChannel of [false, true]) {
      const pass = dynamicQuantizationPass({ opTypes: ['Conv'], perChannel });
      const candidate = await pass.apply(bytes, contextFor(bytes));
      expect(opTypes(candidate)).toContain('ConvInteger');
      expect(opTypes(candidate)).not.toContain('Conv');
      const out = await runModel(candidate, x, [4, 2, 6, 6]);
      const range = Math.max(...parent.output!.map(Math.abs));
      expect(maxAbsDiff(out.output!, parent.output!)).toBeLessThan(0.02 * range);
      expect(pass.settings.quantized).toEqual(['conv']);
    }
  });

  it('refuses unknown or invalid settings by name, and unknown node names', async () => {
    expect(() => dynamicQuantizationPass({ perchannel: true } as never)).toThrow(/no setting "perchannel"/);
    expect(() => dynamicQuantizationPass({ opTypes: ['Add'] } as never)).toThrow(
      /"opTypes" must be some of MatMul, Gemm, Conv/,
    );
    expect(() => dynamicQuantizationPass({ perChannel: 'yes' } as never)).toThrow(/"perChannel" must be true or false/);
    const bytes = modelBytes('digits_mlp_wide.onnx');
    await expect(
      dynamicQuantizationPass({ excludeNodes: ['nope'] }).apply(bytes, contextFor(bytes)),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/excludeNodes names "nope"/),
    });
  });
});

describe('dynamicQuantizationPass on Gemm with transA', () => {
  it('refuses a selected Gemm with transA=1 by name, and leaves it alone when excluded', async () => {
    const model = decodeModel(gemmModel());
    model.graph.node[0]!.attribute!.push({ name: 'transA', type: 2, i: 1 });
    model.graph.input[0]!.type!.tensorType!.shape!.dim = [{ dimValue: 8 }, { dimParam: 'batch' }];
    const bytes = encodeModel(model);
    await expect(dynamicQuantizationPass().apply(bytes, contextFor(bytes))).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/Gemm "gemm": it has transA=1/),
    });
    const pass = dynamicQuantizationPass({ excludeNodes: ['gemm'] });
    const candidate = await pass.apply(bytes, contextFor(bytes));
    expect(opTypes(candidate)).toEqual(expect.arrayContaining(['Gemm', 'MatMulInteger']));
    expect(pass.settings.quantized).toEqual(['matmul']);
  });
});

describe('dynamicQuantizationPass after the graph pass', () => {
  it("quantizes the Gemm nodes ONNX Runtime's 'basic' level makes of MatMul + Add, labels agree >= 99%", async () => {
    const { bytes, table, parent } = await digitsWide();
    const fused = await graphOptimizationPass({ level: 'basic' }).apply(bytes, contextFor(bytes));
    expect(opTypes(fused).filter((t) => t === 'Gemm')).toHaveLength(3);
    const pass = dynamicQuantizationPass();
    const candidate = await pass.apply(fused, contextFor(bytes));
    expect(opTypes(candidate)).not.toContain('Gemm');
    expect(opTypes(candidate).filter((t) => t === 'MatMulInteger')).toHaveLength(3);
    const out = await runModel(candidate, table.features, [table.rows, table.width]);
    expect(maxAbsDiff(out.probabilities!, parent.probabilities!)).toBeLessThan(0.02);
    expect(agreement(out.label!, parent.label!)).toBeGreaterThanOrEqual(0.99);
  });
});

describe('dynamicQuantizationPass on a weight read by two nodes', () => {
  it('quantizes it once and both products stay within 2% of the float model', async () => {
    const bytes = encodeModel(
      smallModel(
        [
          { opType: 'MatMul', name: 'first', input: ['input', 'W'], output: ['a'] },
          { opType: 'MatMul', name: 'second', input: ['a', 'W'], output: ['output'] },
        ],
        [floatInit('W', [4, 4], 3)],
        [4],
        [4],
      ),
    );
    const candidate = await dynamicQuantizationPass().apply(bytes, contextFor(bytes));
    const initializers = decodeModel(candidate).graph.initializer.map((t) => t.name);
    expect(initializers.sort()).toEqual(['W_quantized', 'W_scale', 'W_zero_point']);
    const x = sampleInputs(16 * 4);
    const parent = await runModel(bytes, x, [16, 4]);
    const out = await runModel(candidate, x, [16, 4]);
    expect(maxAbsDiff(out.output!, parent.output!)).toBeLessThan(0.02 * Math.max(...parent.output!.map(Math.abs)));
  });
});
