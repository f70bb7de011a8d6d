/**
 * A trained distillation student (train/student.ts) written as ONNX with its teacher's exact
 * signature: the teacher's graph inputs and outputs are copied as they are (names, element types,
 * shapes, symbolic dimension names), opsets ai.onnx 13 (+ ai.onnx.ml when a string input needs it),
 * IR 8, like the fixture models.
 *
 * The graph: a front end turning the inputs into one FP32 feature matrix (numeric inputs cast to
 * FP32 and flattened to [batch, k]; each string input through a copy of the teacher's own encoder
 * node that reads it: ai.onnx.ml OneHotEncoder, LabelEncoder or CategoryMapper), concatenated in
 * signature order; then Sub mean, Div std; Dense layers as MatMul + Add + Relu; and a head:
 * Softmax for the probabilities and ArgMax for the label (Gather from a constant of the teacher's
 * class label values unless those are 0..k-1), or the regression output as it is.
 */
import { invalid } from '../../core/errors.js';
import type { Signature, TensorSpec } from '../../tensor/datatypes.js';
import { makeNode } from '../onnx/graph-edit.js';
import {
  ElementType,
  encodeModel,
  opsetVersion,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from '../onnx/model-proto.js';
import { floatTensor, int32Tensor, int64Tensor } from '../onnx/tensor-proto.js';
import type { TrainedStudent } from './student.js';

/** How the student's outputs map onto the teacher's. */
export type StudentHead =
  | {
      readonly kind: 'classification';
      /** The teacher's FP32/FP64 [batch, k] output. */
      readonly probabilities: string;
      /** The teacher's label output ([batch] or [batch, 1]; INT64, INT32 or BYTES). */
      readonly label: string;
      /** The label value of each class index, 0..k-1. */
      readonly classLabels: readonly (number | string)[];
    }
  | { readonly kind: 'regression'; readonly output: string };

/** Encoder ops of ai.onnx.ml a string input may go through (copied from the teacher's graph). */
const STRING_ENCODERS = ['OneHotEncoder', 'LabelEncoder', 'CategoryMapper'];
const ML_DOMAIN = 'ai.onnx.ml';
const FEATURES = 'student_features';

interface FrontEnd {
  nodes: OnnxNode[];
  /** The FP32 [batch, width] tensor the network reads: FEATURES, or a lone FP32 [batch, k] input itself. */
  features: string;
  initializers: OnnxTensor[];
  /** Set when a copied encoder needs ai.onnx.ml. */
  mlOpset?: number;
}

function valueInfoOf(teacher: OnnxModel, side: 'input' | 'output', name: string): OnnxValueInfo {
  const found = teacher.graph[side].find((v) => v.name === name);
  if (found === undefined) throw invalid(`the teacher declares no graph ${side} "${name}"`);
  return structuredClone(found);
}

/**
 * The nodes turning the teacher's inputs into `student_features`, FP32 [batch, width]. A string
 * input must be read by exactly one node of the teacher, one of STRING_ENCODERS; it is copied with
 * its attributes.
 */
function frontEnd(teacher: OnnxModel, signature: Signature): FrontEnd {
  const nodes: OnnxNode[] = [];
  const parts: string[] = [];
  let mlOpset: number | undefined;
  for (const spec of signature.inputs) {
    if (spec.optional)
      throw invalid(
        `distill: the teacher's input "${spec.name}" has a default value; only plain inputs can be distilled`,
      );
    let tensor = spec.name;
    let rank = spec.shape.length;
    if (spec.datatype === 'BYTES') {
      const readers = teacher.graph.node.filter((n) => n.input.includes(spec.name));
      const encoder = readers[0];
      if (
        readers.length !== 1 ||
        encoder === undefined ||
        encoder.domain !== ML_DOMAIN ||
        !STRING_ENCODERS.includes(encoder.opType)
      )
        throw invalid(
          `distill: the string input "${spec.name}" must be read by one ai.onnx.ml ${STRING_ENCODERS.join(', ')} node of the teacher; it is read by ${readers.map((n) => `${n.domain ?? ''}:${n.opType}`).join(', ') || 'nothing'}`,
        );
      if ((encoder.attribute ?? []).some((a) => a.name === 'values_strings'))
        throw invalid(
          `distill: the string input "${spec.name}" is encoded to strings by the teacher's LabelEncoder; numbers expected`,
        );
      const encoded = `student_${spec.name}_encoded`;
      const copy: OnnxNode = structuredClone(encoder);
      copy.input = [spec.name];
      copy.output = [encoded];
      copy.name = `student_${spec.name}_${encoder.opType}`;
      nodes.push(copy);
      mlOpset = opsetVersion(teacher, ML_DOMAIN) ?? 3;
      tensor = encoded;
      if (encoder.opType === 'OneHotEncoder') rank += 1;
      else if (!isFloatEncoder(encoder)) {
        nodes.push(makeNode('Cast', [tensor], [`${encoded}_fp32`], { attributes: { to: ElementType.FLOAT } }));
        tensor = `${encoded}_fp32`;
      }
    } else if (spec.datatype !== 'FP32') {
      if (spec.datatype === 'FP16') throw invalid(`distill: the teacher's input "${spec.name}" is FP16; not supported`);
      nodes.push(makeNode('Cast', [tensor], [`student_${spec.name}_fp32`], { attributes: { to: ElementType.FLOAT } }));
      tensor = `student_${spec.name}_fp32`;
    }
    if (rank !== 2) {
      nodes.push(makeNode('Flatten', [tensor], [`student_${spec.name}_2d`], { attributes: { axis: 1 } }));
      tensor = `student_${spec.name}_2d`;
    }
    parts.push(tensor);
  }
  let features = FEATURES;
  if (parts.length > 1) nodes.push(makeNode('Concat', parts, [FEATURES], { attributes: { axis: 1 } }));
  else if (nodes.length > 0) nodes[nodes.length - 1]!.output = [FEATURES];
  else features = parts[0]!;
  return { nodes, features, initializers: [], ...(mlOpset === undefined ? {} : { mlOpset }) };
}

/** LabelEncoder writing floats (values_floats) needs no Cast; every other encoder but OneHot writes INT64. */
function isFloatEncoder(node: OnnxNode): boolean {
  return node.opType === 'LabelEncoder' && (node.attribute ?? []).some((a) => a.name === 'values_floats');
}

function modelOf(
  teacher: OnnxModel,
  name: string,
  front: FrontEnd,
  nodes: OnnxNode[],
  initializers: OnnxTensor[],
  outputs: OnnxValueInfo[],
  doc: string,
): OnnxModel {
  const opsetImport = [{ domain: '', version: 13 }];
  if (front.mlOpset !== undefined) opsetImport.push({ domain: ML_DOMAIN, version: front.mlOpset });
  const model: OnnxModel = {
    irVersion: 8,
    opsetImport,
    producerName: 'slipway-distill',
    producerVersion: '1.0',
    docString: doc,
    graph: {
      name,
      node: [...front.nodes, ...nodes],
      initializer: [...front.initializers, ...initializers],
      input: teacher.graph.input
        .filter((v) => !teacher.graph.initializer.some((t) => t.name === v.name))
        .map((v) => structuredClone(v)),
      output: outputs,
      valueInfo: [],
    },
  };
  if (teacher.metadataProps !== undefined) model.metadataProps = structuredClone(teacher.metadataProps);
  return model;
}

/**
 * A model with the teacher's inputs and one output, `student_features` FP32 [batch, width]: the
 * student's front end alone. The distill pass runs it over the data to get the rows it trains on,
 * so training sees exactly what the exported student computes.
 */
export function buildFeatureModel(teacher: OnnxModel, signature: Signature): Uint8Array {
  const front = frontEnd(teacher, signature);
  const output: OnnxValueInfo = {
    name: FEATURES,
    type: {
      tensorType: { elemType: ElementType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'features' }] } },
    },
  };
  if (front.features !== FEATURES) front.nodes.push(makeNode('Identity', [front.features], [FEATURES]));
  return encodeModel(modelOf(teacher, 'student_features', front, [], [], [output], 'distillation front end'));
}

function outputSpec(signature: Signature, name: string): TensorSpec {
  const spec = signature.outputs.find((o) => o.name === name);
  if (spec === undefined) throw invalid(`distill: the teacher has no output "${name}"`);
  return spec;
}

/** A constant holding the class label values, typed like the label output. */
function labelConstant(name: string, spec: TensorSpec, labels: readonly (number | string)[]): OnnxTensor {
  if (spec.datatype === 'BYTES')
    return {
      name,
      dims: [labels.length],
      dataType: ElementType.STRING,
      stringData: labels.map((l) => new TextEncoder().encode(String(l))),
    };
  const numbers = labels.map((l) => {
    const n = typeof l === 'number' ? l : Number(l);
    if (!Number.isInteger(n))
      throw invalid(
        `distill: class label "${String(l)}" is not an integer, as the ${spec.datatype} output "${spec.name}" needs`,
      );
    return n;
  });
  if (spec.datatype === 'INT64') return int64Tensor(name, [labels.length], numbers);
  if (spec.datatype === 'INT32') return int32Tensor(name, [labels.length], numbers);
  throw invalid(`distill: the label output "${spec.name}" is ${spec.datatype}; INT64, INT32 or BYTES expected`);
}

/**
 * The student as ONNX bytes with the teacher's exact signature. `head` names the teacher outputs the
 * student reproduces; the caller checks the result with verifyCandidate.
 */
export function exportStudent(
  teacher: OnnxModel,
  signature: Signature,
  head: StudentHead,
  student: TrainedStudent,
): Uint8Array {
  const front = frontEnd(teacher, signature);
  const width = student.mean.length;
  const nodes: OnnxNode[] = [
    makeNode('Sub', [front.features, 'student_mean'], ['student_centered'], { name: 'standardise_sub' }),
    makeNode('Div', ['student_centered', 'student_std'], ['student_h0'], { name: 'standardise_div' }),
  ];
  const initializers: OnnxTensor[] = [
    floatTensor('student_mean', [width], student.mean),
    floatTensor('student_std', [width], student.std),
  ];
  let h = 'student_h0';
  student.layers.forEach((layer, i) => {
    const n = i + 1;
    const last = i === student.layers.length - 1;
    initializers.push(floatTensor(`student_W${n}`, [layer.inputs, layer.outputs], layer.weights));
    initializers.push(floatTensor(`student_b${n}`, [layer.outputs], layer.bias));
    const pre = last ? 'student_out' : `student_pre${n}`;
    nodes.push(makeNode('MatMul', [h, `student_W${n}`], [`student_mm${n}`], { name: `dense${n}_matmul` }));
    nodes.push(makeNode('Add', [`student_mm${n}`, `student_b${n}`], [pre], { name: `dense${n}_add` }));
    if (!last) {
      nodes.push(makeNode('Relu', [pre], [`student_h${n}`], { name: `dense${n}_relu` }));
      h = `student_h${n}`;
    }
  });

  const outputs: OnnxValueInfo[] = [];
  if (head.kind === 'classification') {
    const probabilities = outputSpec(signature, head.probabilities);
    const label = outputSpec(signature, head.label);
    const castTo = probabilities.datatype === 'FP64' ? ElementType.DOUBLE : undefined;
    const softmaxOut = castTo === undefined ? head.probabilities : 'student_probabilities_fp32';
    nodes.push(
      makeNode('Softmax', ['student_out'], [softmaxOut], { name: 'probabilities_softmax', attributes: { axis: 1 } }),
    );
    if (castTo !== undefined)
      nodes.push(makeNode('Cast', [softmaxOut], [head.probabilities], { attributes: { to: castTo } }));
    const keepdims = label.shape.length === 2 ? 1 : 0;
    const identity = label.datatype === 'INT64' && head.classLabels.every((l, i) => Number(l) === i && l !== '');
    const argmaxOut = identity ? head.label : 'student_class_index';
    nodes.push(
      makeNode('ArgMax', ['student_out'], [argmaxOut], { name: 'label_argmax', attributes: { axis: 1, keepdims } }),
    );
    if (!identity) {
      initializers.push(labelConstant('student_class_labels', label, head.classLabels));
      nodes.push(
        makeNode('Gather', ['student_class_labels', argmaxOut], [head.label], {
          name: 'label_gather',
          attributes: { axis: 0 },
        }),
      );
    }
  } else {
    const spec = outputSpec(signature, head.output);
    let out = 'student_out';
    if (spec.shape.length === 1) {
      initializers.push(int64Tensor('student_squeeze_axes', [1], [1]));
      nodes.push(makeNode('Squeeze', [out, 'student_squeeze_axes'], ['student_out_1d']));
      out = 'student_out_1d';
    }
    if (spec.datatype === 'FP64') {
      nodes.push(makeNode('Cast', [out], [head.output], { attributes: { to: ElementType.DOUBLE } }));
    } else if (spec.datatype !== 'FP32') {
      throw invalid(`distill: the regression output "${spec.name}" is ${spec.datatype}; FP32 or FP64 expected`);
    } else {
      nodes[nodes.length - 1]!.output = [head.output]; // the last Add or the Squeeze writes the output
    }
  }
  for (const spec of signature.outputs) outputs.push(valueInfoOf(teacher, 'output', spec.name));
  const doc =
    `Distilled student: MLP ${[width, ...student.layers.map((l) => l.outputs)].join(' -> ')} ` +
    `(ReLU), inputs standardised in the graph.`;
  return encodeModel(modelOf(teacher, teacher.graph.name ?? 'student', front, nodes, initializers, outputs, doc));
}
