import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import {
  ConfigMap,
  Secret,
  Service,
  type IConfigMap,
  type IPodSpec,
  type ISecret,
  type IService,
} from 'kubernetes-models/v1';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { CronJob, type ICronJob } from 'kubernetes-models/batch/v1';
import { distIsBuilt, ROOT, startSlipway, waitFor, type SlipwayProcess } from './slipway-process.js';

/**
 * deploy/kubernetes/ and the Dockerfile without a cluster or Docker: every YAML document is validated against the
 * Kubernetes OpenAPI schemas bundled in the pinned `kubernetes-models` package (types, required fields, enums and
 * formats; it does not reject unknown fields), the kustomizations are rendered by hand, and the image's entry
 * command runs as `node bin/slipway.js serve` with the environment the manifests give it.
 */

const KUBE = path.join(ROOT, 'deploy', 'kubernetes');
const BASE = path.join(KUBE, 'base');
const PRODUCTION = path.join(KUBE, 'overlays', 'production');

/** A parsed YAML document: typed as its kind where a test reads it (`as<IDeployment>(...)`). */
type Obj = Record<string, unknown>;
interface Manifest extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}
interface Kustomization {
  resources: string[];
  namespace?: string;
  labels?: { pairs: Record<string, string> }[];
  images?: { name: string; newName?: string; newTag: string }[];
  patches?: { path: string; target: { group: string; version: string; kind: string; name: string } }[];
}
const as = <T>(value: unknown): T => value as T;
const isRecord = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const named = (value: unknown): value is Obj & { name: string } => isRecord(value) && typeof value.name === 'string';

interface Validatable {
  validate(): void;
}
const MODELS: Record<string, new (data: never) => Validatable> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'batch/v1/CronJob': CronJob,
};

/** Validates one object against its kind's schema; throws naming the object and the schema error. */
function validateObject(object: Manifest): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  try {
    new Model(as<never>(object)).validate();
  } catch (error) {
    throw new Error(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
  }
}

function readDocuments(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((document) => {
    expect(document.errors, file).toEqual([]);
    return as<Manifest>(document.toJS());
  });
}

function readOne<T>(file: string): T {
  const [document, ...rest] = readDocuments(file);
  expect(rest, `${file} holds one document`).toEqual([]);
  return as<T>(document);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return yamlFiles(full);
    return /\.ya?ml$/.test(name) ? [full] : [];
  });
}

/** Strategic-merge patch, as kustomize applies it to the fields used here: maps merge, lists of named items merge by name. */
function mergePatch(target: Obj, patch: Obj): Obj {
  const out: Obj = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    if (Array.isArray(value) && Array.isArray(current) && value.every(named) && current.every(named)) {
      const merged = current.map((item) => {
        const patchItem = value.find((candidate) => candidate.name === item.name);
        return patchItem ? mergePatch(item, patchItem) : item;
      });
      out[key] = [...merged, ...value.filter((item) => !current.some((c) => c.name === item.name))];
    } else if (isRecord(value) && isRecord(current)) {
      out[key] = mergePatch(current, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function groupVersion(apiVersion: string): { group: string; version: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return { group: group ?? '', version: version ?? '' };
}

function podSpecs(object: Manifest): IPodSpec[] {
  if (object.kind === 'Deployment') return [as<IDeployment>(object).spec!.template.spec!];
  if (object.kind === 'CronJob') return [as<ICronJob>(object).spec!.jobTemplate.spec!.template.spec!];
  return [];
}

/** Renders a kustomization directory by hand: resources (files or directories), labels, patches, images, namespace. */
function renderKustomization(dir: string): Manifest[] {
  const kustomization = readOne<Kustomization & Manifest>(path.join(dir, 'kustomization.yaml'));
  expect(kustomization.kind).toBe('Kustomization');
  let objects: Manifest[] = [];
  for (const resource of kustomization.resources) {
    const full = path.join(dir, resource);
    expect(existsSync(full), `${dir}: resource ${resource} exists`).toBe(true);
    objects.push(...(statSync(full).isDirectory() ? renderKustomization(full) : readDocuments(full)));
  }
  for (const { pairs } of kustomization.labels ?? []) {
    objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...pairs } } }));
  }
  for (const { path: patchFile, target } of kustomization.patches ?? []) {
    const matches = objects.filter((o) => {
      const { group, version } = groupVersion(o.apiVersion);
      const sameKind = o.kind === target.kind && o.metadata.name === target.name;
      return sameKind && group === target.group && version === target.version;
    });
    expect(matches.length, `${dir}: patch ${patchFile} targets one existing ${target.kind} ${target.name}`).toBe(1);
    const patch = readOne<Manifest>(path.join(dir, patchFile));
    expect([patch.apiVersion, patch.kind, patch.metadata.name]).toEqual([
      matches[0]!.apiVersion,
      target.kind,
      target.name,
    ]);
    objects = objects.map((o) => (o === matches[0] ? as<Manifest>(mergePatch(o, patch)) : o));
  }
  for (const image of kustomization.images ?? []) {
    const containers = objects.flatMap((o) => podSpecs(o).flatMap((spec) => spec.containers));
    const using = containers.filter((c) => c.image?.split(':')[0] === image.name);
    expect(using.length, `${dir}: image ${image.name} is used by a container`).toBeGreaterThan(0);
    for (const c of using) c.image = `${image.newName ?? image.name}:${image.newTag}`;
  }
  const namespace = kustomization.namespace;
  if (namespace !== undefined) objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace } }));
  return objects;
}

const base = renderKustomization(BASE);
function find<T>(objects: Manifest[], kind: string, name: string): T & Manifest {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return as<T & Manifest>(found);
}
const serve = find<IDeployment>(base, 'Deployment', 'slipway-serve');
const servePod = serve.spec!.template.spec!;
const serveContainer = servePod.containers[0]!;
const settings = find<IConfigMap>(base, 'ConfigMap', 'slipway-settings');
const secrets = find<ISecret>(base, 'Secret', 'slipway-secrets');
const settingsData = settings.data!;
const secretData = secrets.stringData!;

describe('deploy/kubernetes against the Kubernetes schemas (kubernetes-models 4.5.1)', () => {
  it('validates every YAML document under deploy/kubernetes/ (kustomizations and partial patches excepted)', () => {
    const files = yamlFiles(KUBE);
    expect(files.length).toBe(13);
    // Patches are partial objects: they are validated merged into their targets (the rendering test below).
    const patches = new Set(
      files
        .filter((file) => path.basename(file) === 'kustomization.yaml')
        .flatMap((file) =>
          (readOne<Kustomization>(file).patches ?? []).map((p) => path.join(path.dirname(file), p.path)),
        ),
    );
    expect(patches.size).toBe(3);
    const objects = files
      .filter((file) => !patches.has(file))
      .flatMap(readDocuments)
      .filter((o) => o.kind !== 'Kustomization');
    expect(objects.length).toBe(9);
    for (const object of objects) validateObject(object);
    const kinds = new Set(objects.map((o) => `${o.apiVersion}/${o.kind}`));
    expect([...kinds].sort()).toEqual(Object.keys(MODELS).sort());
  });

  it('rejects a broken manifest: a wrong field type, a missing required field', () => {
    const replicas = structuredClone(serve);
    as<Obj>(replicas.spec).replicas = 'three';
    expect(() => validateObject(replicas)).toThrow(/Deployment slipway-serve: .*replicas must be integer/);
    const port = structuredClone(find<IService>(base, 'Service', 'slipway-http'));
    as<Obj>(port.spec!.ports![0]).port = '8080';
    expect(() => validateObject(port)).toThrow(/port must be integer/);
    const unnamed = structuredClone(serve);
    delete as<Obj>(unnamed.spec!.template.spec!.containers[0]).name;
    expect(() => validateObject(unnamed)).toThrow(/must have required property name/);
    const noSelector = structuredClone(serve);
    delete as<Obj>(noSelector.spec).selector;
    expect(() => validateObject(noSelector)).toThrow(/must have required property selector/);
  });

  it('renders the base and the production overlay; the rendered objects validate', () => {
    expect(base.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ConfigMap/slipway-settings',
      'CronJob/slipway-pipeline-nightly-retrain',
      'Deployment/slipway-serve',
      'HorizontalPodAutoscaler/slipway-serve',
      'PodDisruptionBudget/slipway-serve',
      'Secret/slipway-secrets',
      'Service/slipway-grpc',
      'Service/slipway-http',
    ]);
    const production = renderKustomization(PRODUCTION);
    for (const object of production) validateObject(object);
    const prodServe = find<IDeployment>(production, 'Deployment', 'slipway-serve');
    const prodContainer = prodServe.spec!.template.spec!.containers[0]!;
    expect(prodServe.spec!.replicas).toBe(3);
    expect(prodServe.metadata.namespace).toBe('slipway');
    expect(prodServe.metadata.labels!['app.kubernetes.io/part-of']).toBe('slipway');
    expect(prodContainer.image).toBe('registry.example.com/ml/slipway:0.1.0');
    expect(prodContainer.resources!.requests).toEqual({ cpu: '1', memory: '1Gi' });
    // The patch merged into the container: the probes are still there.
    expect(prodContainer.readinessProbe!.httpGet!.path).toBe('/v2/health/ready');
    const prodHpa = find<IHorizontalPodAutoscaler>(production, 'HorizontalPodAutoscaler', 'slipway-serve');
    expect([prodHpa.spec!.minReplicas, prodHpa.spec!.maxReplicas]).toEqual([3, 20]);
    expect(find<IPodDisruptionBudget>(production, 'PodDisruptionBudget', 'slipway-serve').spec!.minAvailable).toBe(2);
  });
});

describe('what the manifests say', () => {
  const env = Object.fromEntries((serveContainer.env ?? []).map((e) => [e.name, e.value ?? '']));
  const podLabels = serve.spec!.template.metadata!.labels!;

  it('serve: probes, drain timing, non-root, read-only root with writable /tmp and home', () => {
    expect(serveContainer.command).toEqual(['node', 'bin/slipway.js', 'serve']);
    expect(serveContainer.readinessProbe!.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(serveContainer.livenessProbe!.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect(env.SLIPWAY_HOST).toBe('0.0.0.0');
    const [sleep, seconds] = serveContainer.lifecycle!.preStop!.exec!.command!;
    expect(sleep).toBe('sleep');
    const needed = Number(seconds) + Number(env.SLIPWAY_SHUTDOWN_DELAY_MS) / 1000 + Number(env.SLIPWAY_DRAIN_MS) / 1000;
    expect(needed).toBe(37);
    expect(servePod.terminationGracePeriodSeconds).toBeGreaterThan(needed);
    expect(servePod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(serveContainer.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const mounts = Object.fromEntries((serveContainer.volumeMounts ?? []).map((m) => [m.mountPath, m.name]));
    const emptyDirs = (servePod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name);
    for (const mountPath of ['/tmp', env.HOME!, env.SLIPWAY_HOME!]) expect(emptyDirs).toContain(mounts[mountPath]);
    expect(serveContainer.resources!.requests).toEqual({ cpu: '500m', memory: '512Mi' });
  });

  it('every reference resolves: envFrom, Service selectors and ports, HPA and PDB targets', () => {
    for (const spec of base.flatMap(podSpecs)) {
      for (const c of spec.containers) {
        expect((c.envFrom ?? []).map((e) => e.configMapRef?.name ?? e.secretRef?.name)).toEqual([
          settings.metadata.name,
          secrets.metadata.name,
        ]);
      }
    }
    const ports = (serveContainer.ports ?? []).map((p) => [p.name, p.containerPort]);
    expect(ports).toEqual([
      ['http', 8080],
      ['grpc', 8081],
    ]);
    for (const service of base.filter((o) => o.kind === 'Service').map((o) => as<IService>(o))) {
      expect(podLabels).toMatchObject(service.spec!.selector!);
      for (const port of service.spec!.ports!) expect(ports.map(([name]) => name)).toContain(port.targetPort);
    }
    expect(find<IService>(base, 'Service', 'slipway-grpc').spec!.clusterIP).toBe('None');
    expect(podLabels).toMatchObject(serve.spec!.selector.matchLabels!);
    const pdb = find<IPodDisruptionBudget>(base, 'PodDisruptionBudget', 'slipway-serve');
    expect(podLabels).toMatchObject(pdb.spec!.selector!.matchLabels!);
    const hpa = find<IHorizontalPodAutoscaler>(base, 'HorizontalPodAutoscaler', 'slipway-serve');
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'slipway-serve' });
    expect(hpa.spec!.metrics!.map((m) => m.type)).toEqual(['Resource', 'Pods']);
  });

  it('the HPA metric is a real Slipway metric with a Prometheus Adapter rule', () => {
    const hpa = find<IHorizontalPodAutoscaler>(base, 'HorizontalPodAutoscaler', 'slipway-serve');
    const metric = hpa.spec!.metrics![1]!.pods!.metric.name;
    const metricsSource = readFileSync(path.join(ROOT, 'src', 'monitor', 'metrics.ts'), 'utf8');
    expect(metricsSource).toContain(`name: '${metric}'`);
    const adapter = readOne<IConfigMap>(path.join(KUBE, 'prometheus-adapter', 'rules.yaml'));
    const { rules } = as<{ rules: { seriesQuery: string; name: { as: string }; resources: Obj }[] }>(
      parse(adapter.data!['config.yaml']!),
    );
    const rule = rules.find((r) => r.name.as === metric);
    expect(rule?.seriesQuery).toBe(`${metric}{namespace!="",pod!=""}`);
    expect(rule?.resources).toEqual({ overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } });
  });

  it('every SLIPWAY_ setting the manifests set is one README documents', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const names = [
      ...Object.keys(settingsData),
      ...Object.keys(secretData),
      ...base.flatMap(podSpecs).flatMap((spec) => spec.containers.flatMap((c) => (c.env ?? []).map((e) => e.name))),
    ].filter((name) => name.startsWith('SLIPWAY_'));
    expect(names.length).toBeGreaterThanOrEqual(14);
    for (const name of names) expect(readme, name).toContain(`\`${name}`);
  });
});

/** The Dockerfile's instructions per stage, continuation lines joined. */
interface DockerStage {
  from: string;
  lines: string[];
}
function dockerStages(): DockerStage[] {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const stages: DockerStage[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('FROM ')) stages.push({ from: line.slice(5), lines: [] });
    else stages.at(-1)!.lines.push(line);
  }
  return stages;
}

describe('the container entry (Dockerfile, run without Docker)', () => {
  const stages = dockerStages();
  const [build, runtime] = stages as [DockerStage, DockerStage];
  let server: SlipwayProcess | undefined;
  const home = mkdtempSync(path.join(tmpdir(), 'slipway-k8s-entry-'));
  afterAll(() => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('is multi-stage on node:20-slim, installs production dependencies only, runs as uid 1000', () => {
    expect(stages.map((s) => s.from)).toEqual(['node:20-slim AS build', 'node:20-slim AS runtime']);
    expect(build.lines.some((l) => l.startsWith('RUN npm ci ') && l.includes('npm run build') === false)).toBe(true);
    expect(build.lines).toContain('RUN npm run build');
    expect(runtime.lines.find((l) => l.startsWith('RUN npm ci'))).toMatch(/^RUN npm ci --omit=dev /);
    expect(runtime.lines).toContain('COPY package.json package-lock.json .npmrc ./');
    expect(readFileSync(path.join(ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
    expect(runtime.lines).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime.lines).toContain(`USER ${servePod.securityContext!.runAsUser}:1000`);
    expect(runtime.lines).toContain('CMD ["node", "bin/slipway.js", "serve"]');
  });

  it('`node bin/slipway.js serve` with the manifests environment listens on 0.0.0.0, answers the probes, drains on SIGTERM', async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    const imageEnv = Object.fromEntries(
      [...runtime.lines.join(' ').matchAll(/\b([A-Z_]+)=(\S+)/g)].map(([, name, value]) => [name, value]),
    );
    expect(imageEnv).toMatchObject({ SLIPWAY_HOST: '0.0.0.0', SLIPWAY_HOME: '/var/lib/slipway' });
    const podEnv = Object.fromEntries((serveContainer.env ?? []).map((e) => [e.name, e.value ?? '']));
    const env: Record<string, string> = { ...imageEnv, ...settingsData, ...secretData, ...podEnv };
    // No PostgreSQL, Redis or S3 here: SQLite metadata and online store in a temporary home, free ports.
    delete env.SLIPWAY_DATABASE_URL;
    delete env.SLIPWAY_ONLINE_STORE;
    Object.assign(env, {
      SLIPWAY_HOME: home,
      HOME: home,
      SLIPWAY_PORT: '0',
      SLIPWAY_GRPC_PORT: '0',
      SLIPWAY_LOG_LEVEL: 'warn',
    });
    const process = (server = startSlipway(['serve'], { ...env, NODE_ENV: 'production' }));
    const banner = await waitFor(
      'the serving banner',
      () => /serving on http:\/\/[^:]+:(\d+), gRPC on ([0-9.]+):/.exec(process.output()) ?? process.child.exitCode,
      (value) => value !== null,
      60_000,
    );
    if (banner === null || typeof banner === 'number') throw new Error(`serve exited ${banner}: ${process.output()}`);
    expect(banner[2]).toBe('0.0.0.0');
    const url = `http://127.0.0.1:${banner[1]}`;
    const status = (p: string, token?: string) =>
      fetch(url + p, { headers: token ? { authorization: `Bearer ${token}` } : {} }).then((r) => r.status);
    expect(await status('/v2/health/live')).toBe(200);
    await waitFor(
      'ready',
      () => status('/v2/health/ready'),
      (s) => s === 200,
      30_000,
    );
    expect(await status('/metrics')).toBe(200);
    expect(await status('/api/v1/models')).toBe(401);
    expect(await status('/api/v1/models', secretData.SLIPWAY_BOOTSTRAP_TOKEN)).toBe(200);

    const signalled = Date.now();
    process.child.kill('SIGTERM');
    await waitFor(
      'readiness 503 after SIGTERM',
      () => status('/v2/health/ready').catch(() => 0),
      (s) => s === 503,
      5_000,
    );
    expect(await status('/v2/health/live')).toBe(200);
    const { code } = await process.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(Number(podEnv.SLIPWAY_SHUTDOWN_DELAY_MS) - 100);
  }, 90_000);
});
