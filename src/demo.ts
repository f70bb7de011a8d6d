import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readDefinitionsFile } from './features/definitions/parse-definitions.js';
import { materialize } from './features/offline/materialize.js';
import { checkSpec } from './optimize/optimize-spec.js';
import { readPipelinesFile } from './pipelines/definitions/parse-pipelines.js';
import { runOptimization, type OptimizationOutcome } from './optimize/run-optimization.js';
import type { Platform } from './platform.js';

/** One entry of fixtures/models/manifest.json that the demo pushes. */
interface ManifestModel {
  name: string;
  file: string;
  description: string;
  dataset: string;
  expected: string;
  card: string;
  metrics: string;
  variantOf?: string;
}

interface ExpectedTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}

/** A request the demo prints as a curl command; tests run the same requests. */
export interface DemoExample {
  readonly title: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

/** The shortest decimal that reads back as the same float32 (so printed rows stay short and exact). */
export function shortFloat32(value: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(value.toPrecision(digits));
    if (Math.fround(candidate) === Math.fround(value)) return candidate;
  }
  return value;
}

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/**
 * Push every fixture model with its card, metrics and lineage, then a retrained breast_cancer as
 * its second version, and point `champion` at the first. Returns the pushed `name@version`s.
 */
export async function seedDemo(platform: Platform, fixtures: string): Promise<string[]> {
  const manifest = await readJson<ManifestModel[]>(path.join(fixtures, 'manifest.json'));
  const pushed: string[] = [];
  for (const entry of manifest.filter((m) => m.variantOf === undefined)) {
    const record = await platform.registry.push({
      name: entry.name,
      bytes: await readFile(path.join(fixtures, entry.file)),
      description: entry.description,
      card: await readFile(path.join(fixtures, entry.card), 'utf8'),
      metrics: await readJson<Record<string, number>>(path.join(fixtures, entry.metrics)),
      tags: { source: 'scikit-learn', demo: 'true' },
      lineage: { sourcePath: path.join(fixtures, entry.file), dataset: entry.dataset },
    });
    pushed.push(`${record.model}@${record.version}`);
  }
  const retrained = await platform.registry.push({
    name: 'breast_cancer',
    bytes: await readFile(path.join(fixtures, 'breast_cancer_retrained.onnx')),
    description: 'Retrained with stronger regularisation (C=0.1); same schema',
    params: { C: 0.1 },
    lineage: { dataset: 'sklearn.datasets.load_breast_cancer', parentVersion: '1.0.0' },
  });
  pushed.push(`${retrained.model}@${retrained.version}`);
  await platform.registry.setAlias('breast_cancer', 'champion', '1.0.0', 'demo: the first version is in production');
  // The training split as the champion's drift reference (its label column is not an input).
  await platform.drift.setReferenceFromFile(
    'breast_cancer',
    '1.0.0',
    path.join(fixtures, '..', 'monitor', 'breast_cancer_train.csv'),
    ['target'],
  );
  // The feature store: the training split as two views keyed by patient id, served to the champion.
  await platform.features.apply(
    await readDefinitionsFile(path.join(fixtures, '..', 'features', 'demo', 'features.yaml')),
  );
  await materialize(platform.features);
  // A deployment in front of both versions: 90% to the champion, 10% to the retrained canary.
  await platform.deployments.service.deploy(
    'cancer-live',
    { model: 'breast_cancer', routes: ['1.0.0=90', '1.1.0=10'], sticky: 'header:x-user-id' },
    { why: 'demo: canary the retrained model' },
  );
  // Continuous training: retrain breast_cancer when cancer-live's traffic drifts (scripts/drift-traffic.mjs).
  await platform.pipelineStores.pipelines.apply(
    await readPipelinesFile(path.join(fixtures, '..', 'pipelines', 'demo.yaml')),
  );
  return pushed;
}

/** Requests that show the API on the seeded models, with real held-out rows. */
export async function demoExamples(fixtures: string): Promise<DemoExample[]> {
  const firstRow = async (model: string): Promise<ExpectedTensor[]> => {
    const expected = await readJson<{ inputs: ExpectedTensor[] }>(path.join(fixtures, `${model}.expected.json`));
    return expected.inputs.map((t) => {
      const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
      const data = t.data.slice(0, rowSize).map((v) => (typeof v === 'number' ? shortFloat32(v) : v));
      return { name: t.name, datatype: t.datatype, shape: [1, ...t.shape.slice(1)], data };
    });
  };
  const cancer = await firstRow('breast_cancer');
  const iris = await firstRow('iris_mixed');
  const irisInstance = Object.fromEntries(iris.map((t) => [t.name, t.data[0]]));
  return [
    { title: 'Server metadata', method: 'GET', path: '/v2' },
    { title: 'Model metadata (inputs, outputs, versions)', method: 'GET', path: '/v2/models/breast_cancer' },
    {
      title: 'Open Inference Protocol request to the champion alias',
      method: 'POST',
      path: '/v2/models/breast_cancer/versions/champion/infer',
      body: { id: 'demo-1', inputs: cancer },
    },
    {
      title: 'Row-style :predict on a model with a string input',
      method: 'POST',
      path: '/v1/models/iris_mixed:predict',
      body: { instances: [irisInstance] },
    },
    {
      title:
        'Through the deployment cancer-live: 90% breast_cancer@1.0.0, 10% @1.1.0 (model_version says which answered)',
      method: 'POST',
      path: '/v2/models/cancer-live/infer',
      body: { inputs: cancer },
    },
    {
      title: "The deployment's revisions (slipway history cancer-live)",
      method: 'GET',
      path: '/api/v1/deployments/cancer-live/history',
    },
    { title: 'Registry: models and their versions', method: 'GET', path: '/api/v1/models' },
    {
      title: 'Ground truth for the request above (its true label), e.g. days later',
      method: 'POST',
      path: '/api/v1/feedback',
      body: { request_id: 'demo-1', label: 1 },
    },
    {
      title: 'Live latency percentiles, req/s and error rate per version (1m, 5m or 1h)',
      method: 'GET',
      path: '/api/v1/stats?model=breast_cancer&window=5m',
    },
    {
      title: 'Accuracy, F1, ROC AUC, log loss and calibration from feedback',
      method: 'GET',
      path: '/api/v1/performance?model=breast_cancer&window=1h',
    },
    {
      title: 'Drift of the last hour against the training data (a verdict once 30 requests arrived)',
      method: 'GET',
      path: '/api/v1/drift?model=breast_cancer&version=champion&window=1h',
    },
    { title: 'The prediction log', method: 'GET', path: '/api/v1/predictions?model=breast_cancer&limit=5' },
    {
      title: 'Feature store: the online features of patient 1 (values, PRESENT/EXPIRED/NOT_FOUND, event times)',
      method: 'POST',
      path: '/api/v1/features:get',
      body: { service: 'cancer_risk', entities: [{ patient_id: 1 }] },
    },
    {
      title: 'Inference by entity: breast_cancer@1.0.0 fed from the feature store by patient id',
      method: 'POST',
      path: '/v1/models/breast_cancer@1.0.0:predict',
      body: { entities: [{ patient_id: 1 }, { patient_id: 2 }] },
    },
  ];
}

/** Render an example as a curl command that works when pasted into a shell. */
export function toCurl(baseUrl: string, example: DemoExample): string {
  if (example.method === 'GET') return `curl -s '${baseUrl}${example.path}'`;
  return `curl -s -X POST ${baseUrl}${example.path} -H 'content-type: application/json' -d '${JSON.stringify(example.body)}'`;
}

/**
 * The demo's optimized version: the wide digits MLP (1.13M parameters) pushed as `digits_wide`, then
 * dynamically quantized to INT8 and registered next to its parent if it keeps its held-out accuracy
 * within half a point. Returns the outcome (its report is what `npm start` prints).
 */
export async function optimizeDemo(platform: Platform, fixtures: string): Promise<OptimizationOutcome> {
  const parent = await platform.registry.push({
    name: 'digits_wide',
    bytes: await readFile(path.join(fixtures, 'digits_mlp_wide.onnx')),
    description: 'Wide MLP (1024, 1024 ReLU; 1.13M parameters) on 8x8 digits',
    card: await readFile(path.join(fixtures, 'digits_mlp_wide.card.md'), 'utf8'),
    metrics: await readJson<Record<string, number>>(path.join(fixtures, 'digits_mlp_wide.metrics.json')),
    tags: { source: 'scikit-learn', demo: 'true' },
    lineage: { dataset: 'sklearn.datasets.load_digits' },
  });
  const spec = checkSpec({
    kind: 'optimize',
    model: `${parent.model}@${parent.version}`,
    passes: [{ pass: 'quantize-dynamic', settings: {} }],
    eval: path.join(fixtures, '..', 'optimize', 'digits_test.csv'),
    labelColumn: 'label',
    gates: ['accuracy>=-0.005', 'size_ratio<=0.3'],
    dryRun: false,
    description: 'INT8 (dynamic quantization) of 1.0.0',
    batchSizes: [1, 64],
    minSeconds: 0.5,
  });
  return runOptimization(spec, { registry: platform.registry, actor: 'demo' });
}
