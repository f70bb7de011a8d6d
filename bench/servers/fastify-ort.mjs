// The "bare stack": a minimal Fastify + onnxruntime-node server, one session.run per request,
// Open Inference Protocol JSON in and out, no validation, no batching, no registry.
//
//   node bench/servers/fastify-ort.mjs --port 18090 --model breast_cancer=fixtures/models/breast_cancer.onnx [--model ...]
//   node bench/servers/fastify-ort.mjs --port 18091 --no-infer     # the HTTP ceiling: same route, canned answer
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import ort from 'onnxruntime-node';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    model: { type: 'string', multiple: true, default: [] },
    'no-infer': { type: 'boolean', default: false },
    threads: { type: 'string', default: '1' },
  },
});

const DATATYPE = { float32: 'FP32', float64: 'FP64', int64: 'INT64', int32: 'INT32' };
const threads = Number(values.threads);
const sessions = new Map();
for (const spec of values.model) {
  const [name, path] = spec.split('=');
  sessions.set(name, await ort.InferenceSession.create(path, { intraOpNumThreads: threads, interOpNumThreads: 1 }));
}

const CANNED = {
  outputs: [
    { name: 'label', datatype: 'INT64', shape: [1], data: [1] },
    { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.015, 0.985] },
  ],
};

const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
app.get('/health', async () => ({ ok: true }));
app.post('/v2/models/:model/infer', async (request, reply) => {
  const { model } = request.params;
  if (values['no-infer']) return { model_name: model, ...CANNED };
  const session = sessions.get(model);
  if (!session) return reply.status(404).send({ error: `unknown model ${model}` });
  const feeds = {};
  for (const input of request.body.inputs) {
    feeds[input.name] = new ort.Tensor('float32', Float32Array.from(input.data), input.shape);
  }
  const results = await session.run(feeds);
  return {
    model_name: model,
    outputs: session.outputNames.map((name) => {
      const t = results[name];
      return { name, datatype: DATATYPE[t.type] ?? t.type, shape: t.dims, data: Array.from(t.data, Number) };
    }),
  };
});

await app.listen({ host: '127.0.0.1', port: Number(values.port) });
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));
