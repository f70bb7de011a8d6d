import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { CronJob } from 'kubernetes-models/batch/v1';
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

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Validatable {
  validate(): void;
}
const MODELS: Record<string, new (data: Obj) => Validatable> = {
  'v1/ConfigMap': ConfigMap as never,
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'apps/v1/Deployment': Deployment as never,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
  'batch/v1/CronJob': CronJob as never,
};

/** Validates one object against its kind's schema; throws naming the object and the schema error. */
function validateObject(object: Obj): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${object.kind} ${object.metadata?.name}: ${(error as Error).message}`);
  }
}

function readDocuments(file: string): Obj[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  return (Array.isArray(documents) ? documents : [documents]).map((document) => {
    expect(document.errors, file).toEqual([]);
    return document.toJS() as Obj;
  });
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
    if (Array.isArray(value) && Array.isArray(current) && value.every((item) => item?.name !== undefined)) {
      const merged = current.map((item: Obj) => {
        const patchItem = value.find((candidate: Obj) => candidate.name === item.name);
        return patchItem ? mergePatch(item, patchItem) : item;
      });
      for (const item of value) if (!current.some((c: Obj) => c.name === item.name)) merged.push(item);
      out[key] = merged;
    } else if (value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object') {
      out[key] = mergePatch(current, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function groupVersion(apiVersion: string): { group: string; version: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  return { group, version };
}

function podSpecs(object: Obj): Obj[] {
  if (object.kind === 'Deployment') return [object.spec.template.spec];
  if (object.kind === 'CronJob') return [object.spec.jobTemplate.spec.template.spec];
  return [];
}

/** Renders a kustomization directory by hand: resources (files or directories), namespace, images, patches. */
function renderKustomization(dir: string): Obj[] {
  const [kustomization] = readDocuments(path.join(dir, 'kustomization.yaml'));
  expect(kustomization.kind).toBe('Kustomization');
  let objects: Obj[] = [];
  for (const resource of kustomization.resources as string[]) {
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
      return (
        o.kind === target.kind &&
        o.metadata.name === target.name &&
        group === target.group &&
        version === target.version
      );
    });
    expect(matches.length, `${dir}: patch ${patchFile} targets one existing ${target.kind} ${target.name}`).toBe(1);
    const [patch] = readDocuments(path.join(dir, patchFile));
    expect([patch.apiVersion, patch.kind, patch.metadata.name]).toEqual([
      matches[0].apiVersion,
      target.kind,
      target.name,
    ]);
    objects = objects.map((o) => (o === matches[0] ? mergePatch(o, patch) : o));
  }
  for (const image of kustomization.images ?? []) {
    const containers = objects.flatMap((o) => podSpecs(o).flatMap((spec) => spec.containers as Obj[]));
    const named = containers.filter((c) => c.image.split(':')[0] === image.name);
    expect(named.length, `${dir}: image ${image.name} is used by a container`).toBeGreaterThan(0);
    for (const c of named) c.image = `${image.newName ?? image.name}:${image.newTag}`;
  }
  if (kustomization.namespace) {
    objects = objects.map((o) => ({ ...o, metadata: { ...o.metadata, namespace: kustomization.namespace } }));
  }
  return objects;
}

const base = renderKustomization(BASE);
const find = (objects: Obj[], kind: string, name: string): Obj => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
};
const serve = find(base, 'Deployment', 'slipway-serve');
const serveContainer = serve.spec.template.spec.containers[0];
const settings = find(base, 'ConfigMap', 'slipway-settings');
const secrets = find(base, 'Secret', 'slipway-secrets');

describe('deploy/kubernetes against the Kubernetes schemas (kubernetes-models 4.5.1)', () => {
  it('validates every YAML document under deploy/kubernetes/ (kustomizations and partial patches excepted)', () => {
    const files = yamlFiles(KUBE);
    expect(files.length).toBe(13);
    // Patches are partial objects: they are validated merged into their targets (the rendering test below).
    const patches = new Set(
      files
        .filter((file) => path.basename(file) === 'kustomization.yaml')
        .flatMap((file) =>
          (readDocuments(file)[0].patches ?? []).map((p: Obj) => path.join(path.dirname(file), p.path)),
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
    replicas.spec.replicas = 'three';
    expect(() => validateObject(replicas)).toThrow(/Deployment slipway-serve: .*replicas must be integer/);
    const port = structuredClone(find(base, 'Service', 'slipway-http'));
    port.spec.ports[0].port = '8080';
    expect(() => validateObject(port)).toThrow(/port must be integer/);
    const unnamed = structuredClone(serve);
    delete unnamed.spec.template.spec.containers[0].name;
    expect(() => validateObject(unnamed)).toThrow(/name/);
    const noSelector = structuredClone(serve);
    delete noSelector.spec.selector;
    expect(() => validateObject(noSelector)).toThrow(/selector/);
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
    const prodServe = find(production, 'Deployment', 'slipway-serve');
    expect(prodServe.spec.replicas).toBe(3);
    expect(prodServe.metadata.namespace).toBe('slipway');
    expect(prodServe.spec.template.spec.containers[0].image).toBe('registry.example.com/ml/slipway:0.1.0');
    expect(prodServe.spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '1', memory: '1Gi' });
    // The patch merged into the container: probes and env are still there.
    expect(prodServe.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(find(production, 'HorizontalPodAutoscaler', 'slipway-serve').spec.minReplicas).toBe(3);
    expect(find(production, 'PodDisruptionBudget', 'slipway-serve').spec.minAvailable).toBe(2);
    expect(prodServe.metadata.labels['app.kubernetes.io/part-of']).toBe('slipway');
  });
});

describe('what the manifests say', () => {
  const env = Object.fromEntries((serveContainer.env as Obj[]).map((e) => [e.name, e.value]));
  const podLabels = serve.spec.template.metadata.labels;

  it('serve: probes, drain timing, non-root, read-only root with writable /tmp and home', () => {
    expect(serveContainer.command).toEqual(['node', 'bin/slipway.js', 'serve']);
    expect(serveContainer.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 'http' });
    expect(serveContainer.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 'http' });
    expect(env.SLIPWAY_HOST).toBe('0.0.0.0');
    const preStopSeconds = Number(serveContainer.lifecycle.preStop.exec.command[1]);
    expect(serveContainer.lifecycle.preStop.exec.command[0]).toBe('sleep');
    const needed = preStopSeconds + Number(env.SLIPWAY_SHUTDOWN_DELAY_MS) / 1000 + Number(env.SLIPWAY_DRAIN_MS) / 1000;
    expect(needed).toBe(37);
    expect(serve.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(needed);
    expect(serve.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(serveContainer.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    const mounts = Object.fromEntries((serveContainer.volumeMounts as Obj[]).map((m) => [m.mountPath, m.name]));
    const emptyDirs = (serve.spec.template.spec.volumes as Obj[]).filter((v) => v.emptyDir).map((v) => v.name);
    for (const mountPath of ['/tmp', env.HOME, env.SLIPWAY_HOME]) expect(emptyDirs).toContain(mounts[mountPath]);
    expect(serveContainer.resources.requests).toEqual({ cpu: '500m', memory: '512Mi' });
  });

  it('every reference resolves: envFrom, Service selectors and ports, HPA and PDB targets', () => {
    for (const spec of base.flatMap(podSpecs)) {
      for (const c of spec.containers) {
        expect(c.envFrom.map((e: Obj) => e.configMapRef?.name ?? e.secretRef?.name)).toEqual([
          settings.metadata.name,
          secrets.metadata.name,
        ]);
      }
    }
    const portNames = (serveContainer.ports as Obj[]).map((p) => [p.name, p.containerPort]);
    expect(portNames).toEqual([
      ['http', 8080],
      ['grpc', 8081],
    ]);
    for (const service of base.filter((o) => o.kind === 'Service')) {
      expect(podLabels).toMatchObject(service.spec.selector);
      for (const port of service.spec.ports) expect(portNames.map(([name]) => name)).toContain(port.targetPort);
    }
    expect(find(base, 'Service', 'slipway-grpc').spec.clusterIP).toBe('None');
    expect(podLabels).toMatchObject(serve.spec.selector.matchLabels);
    expect(podLabels).toMatchObject(find(base, 'PodDisruptionBudget', 'slipway-serve').spec.selector.matchLabels);
    const hpa = find(base, 'HorizontalPodAutoscaler', 'slipway-serve');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'slipway-serve' });
    expect(hpa.spec.metrics.map((m: Obj) => m.type)).toEqual(['Resource', 'Pods']);
  });

  it('the HPA metric is a real Slipway metric with a Prometheus Adapter rule', () => {
    const metric = find(base, 'HorizontalPodAutoscaler', 'slipway-serve').spec.metrics[1].pods.metric.name;
    const metricsSource = readFileSync(path.join(ROOT, 'src', 'monitor', 'metrics.ts'), 'utf8');
    expect(metricsSource).toContain(`name: '${metric}'`);
    const [adapter] = readDocuments(path.join(KUBE, 'prometheus-adapter', 'rules.yaml'));
    const rules = (parse(adapter.data['config.yaml']) as Obj).rules as Obj[];
    const rule = rules.find((r) => r.name.as === metric);
    expect(rule?.seriesQuery).toBe(`${metric}{namespace!="",pod!=""}`);
    expect(rule?.resources.overrides.pod).toEqual({ resource: 'pod' });
  });

  it('every SLIPWAY_ setting the manifests set is one README documents', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const names = [
      ...Object.keys(settings.data),
      ...Object.keys(secrets.stringData),
      ...base
        .flatMap(podSpecs)
        .flatMap((spec) => spec.containers.flatMap((c: Obj) => (c.env ?? []).map((e: Obj) => e.name))),
    ].filter((name) => name.startsWith('SLIPWAY_'));
    expect(names.length).toBeGreaterThanOrEqual(14);
    for (const name of names) expect(readme, name).toContain(`\`${name}`);
  });
});

/** The Dockerfile's instructions per stage, continuation lines joined. */
function dockerStages(): { from: string; lines: string[] }[] {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  const stages: { from: string; lines: string[] }[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('FROM ')) stages.push({ from: line.slice(5), lines: [] });
    else stages.at(-1)!.lines.push(line);
  }
  return stages;
}

describe('the container entry (Dockerfile, run without Docker)', () => {
  const stages = dockerStages();
  const runtime = stages.at(-1)!;
  let server: SlipwayProcess | undefined;
  const home = mkdtempSync(path.join(tmpdir(), 'slipway-k8s-entry-'));
  afterAll(async () => {
    if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('is multi-stage on node:20-slim, installs production dependencies only, runs as uid 1000', () => {
    expect(stages.map((s) => s.from)).toEqual(['node:20-slim AS build', 'node:20-slim AS runtime']);
    expect(stages[0].lines.some((l) => l.startsWith('RUN npm ci ') && l.includes('npm run build') === false)).toBe(
      true,
    );
    expect(stages[0].lines).toContain('RUN npm run build');
    expect(runtime.lines.find((l) => l.startsWith('RUN npm ci'))).toMatch(/^RUN npm ci --omit=dev /);
    expect(runtime.lines).toContain('COPY package.json package-lock.json .npmrc ./');
    expect(readFileSync(path.join(ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
    expect(runtime.lines).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime.lines).toContain(`USER ${serve.spec.template.spec.securityContext.runAsUser}:1000`);
    expect(runtime.lines).toContain('CMD ["node", "bin/slipway.js", "serve"]');
  });

  it('`node bin/slipway.js serve` with the manifests environment listens on 0.0.0.0, answers the probes, drains on SIGTERM', async () => {
    expect(distIsBuilt(), 'dist/ is missing: run `npm run build`').toBe(true);
    const imageEnv = Object.fromEntries(
      [...runtime.lines.join(' ').matchAll(/\b([A-Z_]+)=(\S+)/g)].map(([, name, value]) => [name, value]),
    );
    expect(imageEnv).toMatchObject({ SLIPWAY_HOST: '0.0.0.0', SLIPWAY_HOME: '/var/lib/slipway' });
    const podEnv = Object.fromEntries((serveContainer.env as Obj[]).map((e) => [e.name, e.value as string]));
    const env: Record<string, string> = { ...imageEnv, ...settings.data, ...secrets.stringData, ...podEnv };
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
    if (typeof banner === 'number') throw new Error(`serve exited ${banner}: ${process.output()}`);
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
    expect(await status('/api/v1/models', secrets.stringData.SLIPWAY_BOOTSTRAP_TOKEN)).toBe(200);

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
