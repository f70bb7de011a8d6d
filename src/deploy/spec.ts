/**
 * A deployment's spec: what one revision says about traffic. Parsed and checked here, once, at the
 * edge (API bodies, CLI flags); everything past this file trusts the shape.
 */
import { invalid } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { checkModelName, isSemver } from '../registry/model-ref.js';

/** Where a sticky key comes from: a request header, or the first element of a named input. */
export interface StickyKey {
  readonly kind: 'header' | 'input';
  /** The header name (lower case) or the input name. */
  readonly name: string;
}

export interface Route {
  readonly version: string;
  /** Share of requests in percent; all routes sum to 100. 0 keeps a version listed with no traffic. */
  readonly weight: number;
}

export interface Shadow {
  readonly version: string;
  /** Percent of answered requests mirrored to this version (0–100]. */
  readonly percent: number;
}

export interface DeploymentSpec {
  readonly model: string;
  readonly routes: readonly Route[];
  readonly shadows: readonly Shadow[];
  readonly sticky: StickyKey | null;
  readonly notes: string | null;
}

/** What `slipway deploy` and `PUT /api/v1/deployments/{name}` accept (weights as numbers or strings). */
export interface DeploymentSpecInput {
  readonly model?: unknown;
  readonly routes?: unknown;
  readonly shadows?: unknown;
  readonly sticky?: unknown;
  readonly notes?: unknown;
}

/** A deployment's name is a model name in the protocol: the one name rule (core/names.ts). */
export function checkDeploymentName(name: string): string {
  return checkName('deployment name', name);
}

/**
 * Check and normalise a spec. Routes and shadows may be given as `{version: weight}` objects,
 * `[{version, weight}]` lists, or `"1.2.0=90"` strings (the CLI's form).
 */
export function parseDeploymentSpec(input: DeploymentSpecInput): DeploymentSpec {
  if (typeof input.model !== 'string' || input.model === '')
    throw invalid('a deployment needs "model": the registered model it serves');
  const model = checkModelName(input.model);
  const routes = entries(input.routes, 'routes', 'weight').map(([version, weight]) => ({ version, weight }));
  if (routes.length === 0) throw invalid('a deployment needs at least one route (version=weight)');
  for (const r of routes) {
    if (!(r.weight >= 0 && r.weight <= 100))
      throw invalid(`route ${r.version}: weight must be between 0 and 100, got ${r.weight}`);
  }
  const total = routes.reduce((sum, r) => sum + r.weight, 0);
  if (Math.abs(total - 100) > 1e-9)
    throw invalid(
      `route weights must sum to 100, got ${routes.map((r) => `${r.version}=${r.weight}`).join(' + ')} = ${round(total)}`,
    );
  const shadows = entries(input.shadows, 'shadows', 'percent').map(([version, percent]) => ({ version, percent }));
  for (const s of shadows) {
    if (!(s.percent > 0 && s.percent <= 100))
      throw invalid(`shadow ${s.version}: percent must be in (0, 100], got ${s.percent}`);
    if (routes.some((r) => r.version === s.version && r.weight > 0))
      throw invalid(`version ${s.version} cannot be both routed and a shadow`);
  }
  if (input.notes !== undefined && input.notes !== null && typeof input.notes !== 'string')
    throw invalid('"notes" must be text');
  const notes = input.notes ?? null;
  return { model, routes, shadows, sticky: parseSticky(input.sticky), notes };
}

/** `header:x-user-id` or `input:customer_id`; null/undefined/'' = not sticky. */
export function parseSticky(value: unknown): StickyKey | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const { kind, name } = value as { kind?: unknown; name?: unknown };
    return parseSticky(`${String(kind)}:${String(name)}`);
  }
  if (typeof value !== 'string')
    throw invalid(`sticky key must be "header:<name>" or "input:<name>", got ${JSON.stringify(value)}`);
  const text = value;
  const match = /^(header|input):(.+)$/.exec(text);
  if (match === null) throw invalid(`sticky key must be "header:<name>" or "input:<name>", got "${text}"`);
  const kind = match[1] as StickyKey['kind'];
  const name = kind === 'header' ? (match[2] as string).toLowerCase() : (match[2] as string);
  return { kind, name };
}

export function formatSticky(sticky: StickyKey | null): string {
  return sticky === null ? '' : `${sticky.kind}:${sticky.name}`;
}

/** `1.2.0=90 1.3.0=10` */
export function formatRoutes(routes: readonly Route[]): string {
  return routes.map((r) => `${r.version}=${round(r.weight)}`).join(' ');
}

/** Every version a spec needs loaded: its routes with traffic and its shadows. */
export function versionsOf(spec: DeploymentSpec): string[] {
  return [
    ...new Set([
      ...spec.routes.filter((r) => r.weight > 0).map((r) => r.version),
      ...spec.shadows.map((s) => s.version),
    ]),
  ];
}

/** The route with the most traffic (ties: the first listed): what metadata and readiness describe. */
export function primaryVersion(spec: DeploymentSpec): string {
  let best = spec.routes[0] as Route;
  for (const r of spec.routes) if (r.weight > best.weight) best = r;
  return best.version;
}

/** A spec with every route but `version` at 0 and `version` at 100 (promotion). */
export function allTrafficTo(spec: DeploymentSpec, version: string): DeploymentSpec {
  return { ...spec, routes: [{ version, weight: 100 }], shadows: spec.shadows.filter((s) => s.version !== version) };
}

/** Two-arm weights: `candidate` gets `percent`, `baseline` the rest (0-weight routes dropped). */
export function splitBetween(
  spec: DeploymentSpec,
  baseline: string,
  candidate: string,
  percent: number,
): DeploymentSpec {
  const routes =
    percent >= 100
      ? [{ version: candidate, weight: 100 }]
      : percent <= 0
        ? [{ version: baseline, weight: 100 }]
        : [
            { version: baseline, weight: 100 - percent },
            { version: candidate, weight: percent },
          ];
  return { ...spec, routes, shadows: spec.shadows.filter((s) => s.version !== candidate && s.version !== baseline) };
}

function entries(value: unknown, what: string, field: 'weight' | 'percent'): Array<[string, number]> {
  if (value === undefined || value === null) return [];
  const pairs: Array<[string, unknown]> = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === 'string') {
        const eq = item.lastIndexOf('=');
        if (eq <= 0) throw invalid(`${what}: "${item}" must be version=${field}`);
        pairs.push([item.slice(0, eq).trim(), item.slice(eq + 1).trim()]);
      } else if (typeof item === 'object' && item !== null) {
        const { version } = item as { version?: unknown };
        pairs.push([String(version), (item as Record<string, unknown>)[field]]);
      } else {
        throw invalid(`${what}: each entry must be "version=${field}" or {"version", "${field}"}`);
      }
    }
  } else if (typeof value === 'object') {
    pairs.push(...Object.entries(value as Record<string, unknown>));
  } else {
    throw invalid(`${what} must be a list or an object of version -> ${field}`);
  }
  const seen = new Set<string>();
  return pairs.map(([version, raw]) => {
    if (!isSemver(version)) throw invalid(`${what}: "${version}" is not a version (x.y.z)`);
    if (seen.has(version)) throw invalid(`${what}: version ${version} is listed twice`);
    seen.add(version);
    const number =
      typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
    if (!Number.isFinite(number))
      throw invalid(`${what}: ${field} of ${version} must be a number, got ${JSON.stringify(raw)}`);
    return [version, number];
  });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
