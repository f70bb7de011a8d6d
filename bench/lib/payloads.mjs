// Request bodies (written to files for wrk and the gRPC load generator) and response decoding.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';

/**
 * Every body a scenario can send for `model`, as files in `dir`:
 *   json    Open Inference Protocol JSON, one row
 *   binary  Triton binary tensor extension: JSON header + raw little-endian FP32, outputs asked binary
 *   tensor  the raw FP32 bytes plus the input spec (for the gRPC load generator)
 *   flask   {"features": [...]} for the seed's Flask app (only meaningful for breast_cancer)
 */
export function writePayloads(model, dir) {
  const row = model.row();
  const shape = [1, ...model.shape];
  const data = Array.from(row);
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: model.input, shape, datatype: 'FP32', data }] }));

  const raw = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: model.input, shape, datatype: 'FP32', parameters: { binary_data_size: raw.length } }],
      parameters: { binary_data_output: true },
    }),
  );
  const binary = Buffer.concat([header, raw]);

  const file = (suffix, content) => {
    const path = join(dir, `${model.name}.${suffix}`);
    writeFileSync(path, content);
    return path;
  };
  return {
    row,
    json: { file: file('json', json), bytes: json.length, contentType: 'application/json' },
    binary: {
      file: file('bin', binary),
      bytes: binary.length,
      contentType: 'application/octet-stream',
      headers: { 'Inference-Header-Content-Length': String(header.length) },
    },
    tensor: {
      file: file('raw', raw),
      spec: file('spec.json', JSON.stringify({ name: model.input, datatype: 'FP32', shape })),
      bytes: raw.length,
    },
    flask: { file: file('flask.json', JSON.stringify({ features: data })), contentType: 'application/json' },
  };
}

/** The label ONNX Runtime itself gives for `row`: what every server must answer. */
export async function referenceLabel(model, row) {
  const session = await ort.InferenceSession.create(model.file);
  const out = await session.run({ [model.input]: new ort.Tensor('float32', row, [1, ...model.shape]) });
  await session.release();
  return Number(out.label.data[0]);
}

/**
 * The `label` of a v2 REST response, JSON or binary (Inference-Header-Content-Length set).
 * Returns undefined when the response has no label.
 */
export function labelFromV2(body, headerLength) {
  const jsonEnd = headerLength === null || headerLength === undefined ? body.length : Number(headerLength);
  const head = JSON.parse(body.subarray(0, jsonEnd).toString('utf8'));
  let offset = jsonEnd;
  for (const output of head.outputs ?? []) {
    const size = output.parameters?.binary_data_size;
    if (size !== undefined) {
      if (output.name === 'label') return Number(body.readBigInt64LE(offset));
      offset += Number(size);
    } else if (output.name === 'label') {
      return Number(Array.isArray(output.data[0]) ? output.data.flat(Infinity)[0] : output.data[0]);
    }
  }
  return undefined;
}
