// Closed-loop gRPC load generator for inference.GRPCInferenceService/ModelInfer.
//
//   node bench/grpc-load.mjs --target 127.0.0.1:8081 --model breast_cancer \
//     --spec input.spec.json --data input.raw [--typed] [--concurrency 32] [--seconds 10] [--warmup 2]
//   node bench/grpc-load.mjs ... --check      # one call; prints {"label": n}
//
// --spec holds {"name","datatype","shape"} of the single FP32 input; --data its raw little-endian
// bytes. Default sends raw_input_contents (the fast path); --typed sends contents.fp32_contents.
// N calls are kept in flight on one channel (HTTP/2 multiplexing) until the time is up; prints
// one JSON line: {"rps","p50Ms","p99Ms","meanMs","requests","errors","seconds","firstError"}.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const { values: opt } = parseArgs({
  options: {
    target: { type: 'string' },
    model: { type: 'string' },
    spec: { type: 'string' },
    data: { type: 'string' },
    typed: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '1' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '0' },
    check: { type: 'boolean', default: false },
    proto: { type: 'string', default: join(ROOT, 'proto', 'grpc_service.proto') },
  },
});

const MAX_MESSAGE = 256 * 1024 * 1024;
const definition = protoLoader.loadSync(opt.proto, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
const modelInfer = definition['inference.GRPCInferenceService'].ModelInfer;
const client = new grpc.Client(opt.target, grpc.credentials.createInsecure(), {
  'grpc.max_send_message_length': MAX_MESSAGE,
  'grpc.max_receive_message_length': MAX_MESSAGE,
  'grpc.enable_channelz': 0, // both cost CPU on every call and a load generator needs neither
  'grpc.enable_retries': 0,
});

const spec = JSON.parse(readFileSync(opt.spec, 'utf8'));
const raw = readFileSync(opt.data);
const input = { name: spec.name, datatype: spec.datatype, shape: spec.shape };
const request = { model_name: opt.model, inputs: [input] };
if (opt.typed) {
  const floats = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  input.contents = { fp32_contents: Array.from(floats) };
} else {
  request.raw_input_contents = [raw];
}
// The request is the same every time: serialize it once, so the load generator spends its CPU
// on calls rather than on protobuf encoding (the server still decodes every request in full).
// Responses are decoded only for --check.
const requestBytes = modelInfer.requestSerialize(request);
const passBytes = (bytes) => bytes;

const infer = () =>
  new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      modelInfer.path,
      () => requestBytes,
      passBytes,
      null,
      new grpc.Metadata(),
      { deadline: Date.now() + 30_000 },
      (error, response) => (error ? reject(error) : resolve(response)),
    );
  });

/** The label from a response, raw or typed. */
function label(response) {
  const i = response.outputs.findIndex((o) => o.name === 'label');
  if (i < 0) return undefined;
  if (response.raw_output_contents?.length) return Number(response.raw_output_contents[i].readBigInt64LE(0));
  return Number(response.outputs[i].contents.int64_contents[0]);
}

/** Keep `concurrency` calls in flight until `seconds` have passed; latencies in ms if `record`. */
async function loop(seconds, record) {
  const latencies = [];
  let errors = 0;
  let firstError;
  const end = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await infer();
        if (record) latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        firstError ??= `${error.code ?? ''} ${error.details ?? error.message}`.trim();
      }
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: Number(opt.concurrency) }, worker));
  return { latencies, errors, firstError, elapsed: (performance.now() - start) / 1000 };
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

try {
  if (opt.check) {
    console.log(JSON.stringify({ label: label(modelInfer.responseDeserialize(await infer())) }));
  } else {
    if (Number(opt.warmup) > 0) await loop(Number(opt.warmup), false);
    const { latencies, errors, firstError, elapsed } = await loop(Number(opt.seconds), true);
    latencies.sort((a, b) => a - b);
    console.log(
      JSON.stringify({
        rps: latencies.length / elapsed,
        p50Ms: quantile(latencies, 0.5),
        p99Ms: quantile(latencies, 0.99),
        meanMs: latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length),
        requests: latencies.length,
        errors,
        seconds: elapsed,
        firstError,
      }),
    );
  }
} catch (error) {
  console.error(`${error.code ?? ''} ${error.details ?? error.message}`.trim());
  process.exitCode = 1;
} finally {
  client.close();
}
