// Raw onnxruntime-node in process: the ceiling. For each model and batch size, run the same
// prebuilt feeds back to back for a while and report rows/s and per-run latency.
//
//   node bench/load/ort-raw.mjs --seconds 3 --threads 1 --batches 1,8,64,512 name=path.onnx:shape ...
// shape is the per-row shape, e.g. 30 or 3x224x224. Prints one JSON array.
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';

const MAX_INPUT_BYTES = 512 * 1024 * 1024; // digits_image at batch 512 is 294 MiB
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    batches: { type: 'string', default: '1,8,64,512' },
  },
});

async function measure(session, feeds, seconds) {
  const latencies = [];
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  while (performance.now() < end) {
    const t0 = performance.now();
    await session.run(feeds);
    latencies.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { runs: latencies.length, elapsed, p50Us: q(0.5) * 1000, p99Us: q(0.99) * 1000 };
}

const results = [];
for (const spec of positionals) {
  const [name, rest] = spec.split('=');
  const [path, shapeText] = rest.split(':');
  const rowShape = shapeText.split('x').map(Number);
  const rowSize = rowShape.reduce((a, b) => a * b, 1);
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: Number(values.threads),
    interOpNumThreads: 1,
  });
  const inputName = session.inputNames[0];
  for (const batch of values.batches.split(',').map(Number)) {
    if (batch * rowSize * 4 > MAX_INPUT_BYTES) {
      results.push({
        model: name,
        batch,
        skipped: `input would be ${Math.round((batch * rowSize * 4) / 2 ** 20)} MiB`,
      });
      continue;
    }
    const data = new Float32Array(batch * rowSize);
    for (let i = 0; i < data.length; i += 1) data[i] = ((i * 7919) % 1600) / 100; // 0..16, like digits
    const feeds = { [inputName]: new ort.Tensor('float32', data, [batch, ...rowShape]) };
    await measure(session, feeds, Math.min(0.5, Number(values.seconds))); // warm-up
    const m = await measure(session, feeds, Number(values.seconds));
    results.push({
      model: name,
      batch,
      runsPerSec: m.runs / m.elapsed,
      rowsPerSec: (m.runs * batch) / m.elapsed,
      p50Us: m.p50Us,
      p99Us: m.p99Us,
    });
  }
  await session.release();
}
console.log(JSON.stringify(results));
