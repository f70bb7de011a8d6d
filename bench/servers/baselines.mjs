// Start the comparison servers: the HTTP ceiling, the bare Fastify + ORT stack, and the seed's
// Flask app on the dev server and on gunicorn. Each returns { url(path), stop() }.
import { join } from 'node:path';
import { BENCH_DIR, PYTHON, ROOT } from '../lib/config.mjs';
import { freePort, httpOk, runCommand, startProcess, tcpOpen } from '../lib/processes.mjs';

const SERVERS = join(BENCH_DIR, 'servers');

async function fastify(name, extraArgs) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name,
    command: process.execPath,
    args: [join(SERVERS, 'fastify-ort.mjs'), '--port', String(port), ...extraArgs],
    cwd: ROOT,
    ready: () => httpOk(`${base}/health`),
  });
  return { name, url: (path) => base + path, stop: () => proc.stop() };
}

/** Same Fastify route as the bare stack, answering a canned response without inference. */
export const startHttpCeiling = () => fastify('HTTP ceiling', ['--no-infer']);

/** A grpc-js server answering ModelInfer with a canned raw response: what grpc-js itself allows. */
export async function startGrpcCeiling() {
  const port = await freePort();
  const proc = await startProcess({
    name: 'gRPC ceiling',
    command: process.execPath,
    args: [join(SERVERS, 'grpc-ceiling.mjs'), '--port', String(port)],
    cwd: ROOT,
    ready: () => tcpOpen(port),
  });
  return { name: 'gRPC ceiling', grpcTarget: `127.0.0.1:${port}`, stop: () => proc.stop() };
}

/** Minimal Fastify + onnxruntime-node, one session.run per request. */
export const startBareStack = (models, threads) =>
  fastify('bare Fastify+ORT', [
    ...models.flatMap((m) => ['--model', `${m.name}=${m.file}`]),
    '--threads',
    String(threads),
  ]);

/** Train and joblib.dump the seed's scikit-learn pipeline into `dir`; returns the file. */
export async function trainFlaskModel(dir) {
  const file = join(dir, 'breast_cancer.joblib');
  const r = await runCommand(PYTHON, [join(SERVERS, 'train_flask_model.py'), file]);
  if (r.code !== 0) throw new Error(`training the Flask model failed:\n${r.stderr}`);
  return file;
}

async function flask(name, modelFile, command, args) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name,
    command,
    args: args(port),
    cwd: SERVERS,
    env: { BENCH_MODEL: modelFile, PYTHONDONTWRITEBYTECODE: '1' },
    ready: () => httpOk(`${base}/health`),
  });
  return { name, url: (path) => base + path, stop: () => proc.stop() };
}

/** The seed's Flask app on Flask's (threaded) development server. */
export const startFlaskDev = (modelFile) =>
  flask('Flask dev server', modelFile, PYTHON, (port) => [join(SERVERS, 'flask_app.py'), String(port)]);

/** The seed's Flask app on gunicorn with 2 sync workers. */
export const startGunicorn = (modelFile) =>
  flask('gunicorn -w 2', modelFile, 'gunicorn', (port) => [
    '-w',
    '2',
    '-b',
    `127.0.0.1:${port}`,
    '--log-level',
    'warning',
    'flask_app:app',
  ]);
