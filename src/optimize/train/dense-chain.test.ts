import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { makeAttribute, makeNode } from '../onnx/graph-edit.js';
import { decodeModel } from '../onnx/model-proto.js';
import { floatTensor } from '../onnx/tensor-proto.js';
import { findDenseChain } from './dense-chain.js';

// Read directly (not through src/testing/fixtures.ts, which opens the whole platform).
const fixtureBytes = (file: string) => readFileSync(new URL(`../../../fixtures/models/${file}`, import.meta.url));

function summary(file: string) {
  const chain = findDenseChain(decodeModel(fixtureBytes(file)))!;
  return {
    input: chain.input,
    output: chain.output,
    layers: chain.layers.map((l) => [l.weight, l.bias, l.inputs, l.units, l.activation, l.output]),
  };
}

describe('findDenseChain', () => {
  it('finds the wide MLP after its Div by 16, up to the logits before Softmax/ArgMax', () => {
    expect(summary('digits_mlp_wide.onnx')).toEqual({
      input: 'h0',
      output: 'logits',
      layers: [
        ['W1', 'b1', 64, 1024, 'relu', 'h1'],
        ['W2', 'b2', 1024, 1024, 'relu', 'h2'],
        ['W3', 'b3', 1024, 10, 'none', 'logits'],
      ],
    });
  });

  it('finds the small MLP', () => {
    expect(summary('digits_mlp.onnx')).toEqual({
      input: 'scaled',
      output: 'logits',
      layers: [
        ['W1', 'b1', 64, 32, 'relu', 'h'],
        ['W2', 'b2', 32, 10, 'none', 'logits'],
      ],
    });
  });

  it('sees logistic regression as a chain of one layer (its Sigmoid is the head)', () => {
    expect(summary('breast_cancer.onnx')).toEqual({
      input: 'scaled',
      output: 'logit',
      layers: [['coef', 'intercept', 30, 1, 'none', 'logit']],
    });
  });

  it('reads Gemm with transB, alpha and beta, and a Tanh between layers', () => {
    const model = decodeModel(fixtureBytes('digits_mlp.onnx'));
    const g = model.graph;
    g.node = [
      makeNode('Div', ['input', 'pixel_max'], ['scaled']),
      makeNode('Gemm', ['scaled', 'Wt', 'b1'], ['pre'], { attributes: { transB: 1, alpha: 0.5 } }),
      makeNode('Tanh', ['pre'], ['h']),
      makeNode('Gemm', ['h', 'W2', 'b2'], ['logits'], { attributes: { beta: 2 } }),
      ...g.node.filter((n) => n.opType === 'Softmax' || n.opType === 'ArgMax'),
    ];
    // makeNode types the integral 2.0 as INT; Gemm's beta is a FLOAT.
    g.node[3]!.attribute = [makeAttribute('beta', 2, true)];
    g.initializer = g.initializer.filter((t) => t.name !== 'W1');
    g.initializer.push(floatTensor('Wt', [32, 64], new Float32Array(32 * 64)));
    const chain = findDenseChain(model)!;
    expect(
      chain.layers.map((l) => [l.weight, l.inputs, l.units, l.weightLayout, l.alpha, l.beta, l.activation]),
    ).toEqual([
      ['Wt', 64, 32, 'out-in', 0.5, 1, 'tanh'],
      ['W2', 32, 10, 'in-out', 1, 2, 'none'],
    ]);
  });

  it('stops the chain where a hidden tensor is also a graph output', () => {
    const model = decodeModel(fixtureBytes('digits_mlp.onnx'));
    model.graph.output.push({ name: 'h', type: { tensorType: { elemType: 1 } } });
    const chain = findDenseChain(model)!;
    expect(chain.layers.map((l) => l.weight)).toEqual(['W1']);
    expect(findDenseChain(decodeModel(fixtureBytes('wine_forest.onnx')))).toBeUndefined();
  });
});
