/**
 * Test support: a tiny ONNX model with a string (BYTES) input, for batch scoring tests.
 *
 * Inputs `color` BYTES [N, 1] and `x` FP32 [N, 1]; outputs `y` = LabelEncoder(color) + x, where
 * the encoder (ai.onnx.ml) maps "red" -> 1, "green" -> 2, "blue" -> 3 and anything else -> -1,
 * and `color_out` = Identity(color) (a BYTES output). Only the ModelProto fields it needs are
 * encoded (field numbers from onnx.proto); `runtime/onnx/tiny-onnx.test-support.ts` has no
 * attributes or domains, which LabelEncoder needs.
 */

import { concat, float, int, message, text } from '../testing/protobuf-writer.js';

export const COLOR_CODES: Readonly<Record<string, number>> = { red: 1, green: 2, blue: 3 };

export function stringInputModel(): Uint8Array {
  const encoder = node('LabelEncoder', ['color'], ['code'], 'ai.onnx.ml', [
    attribute(
      'keys_strings',
      8,
      Object.keys(COLOR_CODES).map((k) => text(9, k)),
    ),
    attribute(
      'values_floats',
      6,
      Object.values(COLOR_CODES).map((v) => float(7, v)),
    ),
    attribute('default_float', 1, [float(2, -1)]),
  ]);
  const graph = concat(
    message(1, encoder),
    message(1, node('Add', ['code', 'x'], ['y'])),
    message(1, node('Identity', ['color'], ['color_out'])),
    text(2, 'string-input'),
    message(11, valueInfo('color', 8)),
    message(11, valueInfo('x', 1)),
    message(12, valueInfo('y', 1)),
    message(12, valueInfo('color_out', 8)),
  );
  const opsets = [message(8, concat(text(1, ''), int(2, 13))), message(8, concat(text(1, 'ai.onnx.ml'), int(2, 2)))];
  return concat(int(1, 8), text(2, 'slipway-tests'), message(7, graph), ...opsets);
}

function node(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  domain?: string,
  attributes: readonly Uint8Array[] = [],
): Uint8Array {
  return concat(
    ...inputs.map((n) => text(1, n)),
    ...outputs.map((n) => text(2, n)),
    text(4, op),
    ...attributes.map((a) => message(5, a)),
    ...(domain === undefined ? [] : [text(7, domain)]),
  );
}

/** AttributeProto: name, its values (already encoded with their field numbers), type. */
function attribute(name: string, type: number, values: readonly Uint8Array[]): Uint8Array {
  return concat(text(1, name), ...values, int(20, type));
}

/** A tensor of `elemType` (TensorProto.DataType) with shape [N, 1]. */
function valueInfo(name: string, elemType: number): Uint8Array {
  const shape = concat(message(1, text(2, 'N')), message(1, int(1, 1)));
  return concat(text(1, name), message(2, message(1, concat(int(1, elemType), message(2, shape)))));
}
