/**
 * Test support: small ONNX models that carry class labels, written field by field (field numbers
 * from proto/onnx-ml.proto) so ONNX Runtime can load and run them: an ai.onnx.ml LinearClassifier
 * with class labels on the node, and `withMetadata` to add metadata_props to any model.
 */
import { concat, float, int, message, text } from '../testing/protobuf-writer.js';

/** TensorProto.DataType numbers used here. */
const FLOAT = 1;
const STRING = 8;
const INT64 = 7;

/** AttributeProto.AttributeType numbers used here. */
const ATTRIBUTE_FLOATS = 6;
const ATTRIBUTE_INTS = 7;
const ATTRIBUTE_STRINGS = 8;

function tensorValue(name: string, elemType: number, dims: readonly (number | string)[]): Uint8Array {
  const dimProtos = dims.map((d) => message(1, typeof d === 'number' ? int(1, d) : text(2, d)));
  const tensorType = concat(int(1, elemType), message(2, concat(...dimProtos)));
  return concat(text(1, name), message(2, message(1, tensorType)));
}

function floatsAttribute(name: string, values: readonly number[]): Uint8Array {
  return concat(text(1, name), ...values.map((v) => float(7, v)), int(20, ATTRIBUTE_FLOATS));
}

function intsAttribute(name: string, values: readonly number[]): Uint8Array {
  return concat(text(1, name), ...values.map((v) => int(8, v)), int(20, ATTRIBUTE_INTS));
}

function stringsAttribute(name: string, values: readonly string[]): Uint8Array {
  return concat(text(1, name), ...values.map((v) => text(9, v)), int(20, ATTRIBUTE_STRINGS));
}

/**
 * `label, scores = LinearClassifier(x)` with x: FP32 [N, 2], three classes, scores FP32 [N, 3] =
 * [x0, x1, -(x0 + x1)] (coefficients per class, no intercept, no post transform). The class
 * labels are strings (label: BYTES [N]) or integers (label: INT64 [N]).
 */
export function linearClassifierModel(classLabels: readonly string[] | readonly number[]): Uint8Array {
  const strings = isStrings(classLabels);
  const labelAttribute = isStrings(classLabels)
    ? stringsAttribute('classlabels_strings', classLabels)
    : intsAttribute('classlabels_ints', classLabels);
  const node = concat(
    text(1, 'x'),
    text(2, 'label'),
    text(2, 'scores'),
    text(3, 'classifier'),
    text(4, 'LinearClassifier'),
    message(5, floatsAttribute('coefficients', [1, 0, 0, 1, -1, -1])),
    message(5, floatsAttribute('intercepts', [0, 0, 0])),
    message(5, labelAttribute),
    text(7, 'ai.onnx.ml'),
  );
  const graph = concat(
    message(1, node),
    text(2, 'labeled'),
    message(11, tensorValue('x', FLOAT, ['N', 2])),
    message(12, tensorValue('label', strings ? STRING : INT64, ['N'])),
    message(12, tensorValue('scores', FLOAT, ['N', 3])),
  );
  return concat(
    int(1, 8),
    text(2, 'slipway-tests'),
    message(7, graph),
    message(8, concat(text(1, ''), int(2, 13))),
    message(8, concat(text(1, 'ai.onnx.ml'), int(2, 1))),
  );
}

function isStrings(labels: readonly string[] | readonly number[]): labels is readonly string[] {
  return labels.every((label) => typeof label === 'string');
}

/** The model with metadata_props entries appended (a repeated field: appending adds entries). */
export function withMetadata(model: Uint8Array, entries: Readonly<Record<string, string>>): Uint8Array {
  return concat(
    model,
    ...Object.entries(entries).map(([key, value]) => message(14, concat(text(1, key), text(2, value)))),
  );
}
