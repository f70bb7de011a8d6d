import { formatDuration } from '../../core/duration.js';
import { parseFeatureRef } from './types.js';
import type {
  AppliedDefinitions,
  EntityDefinition,
  FeatureDefinitions,
  ServiceDefinition,
  ViewDefinition,
} from './types.js';

/** One object that `apply` would create, change or delete, with what changes. */
export interface PlanChange {
  readonly kind: 'entity' | 'view' | 'service';
  readonly name: string;
  readonly action: 'create' | 'update' | 'delete';
  readonly details: readonly string[];
}

/**
 * What `slipway features apply` would do. Applying makes the store equal the file (objects absent
 * from the file are deleted, as with `terraform apply`; Feast keeps them, which leaves stale views
 * around). `refused` lists changes that would break a service in use; a plan with any is not applied.
 */
export interface ApplyPlan {
  readonly changes: readonly PlanChange[];
  readonly refused: readonly string[];
}

/**
 * Diff the applied definitions against the desired ones.
 *
 * A service is *in use* when it is bound to a model version (`model:`): that model's input order
 * depends on its feature list. While it stays bound to the same version, the plan refuses to change
 * its list, to delete it, to delete or retype a feature it serves, or to change the join keys of
 * a view it reads. Binding it to another version (with any list) is allowed: that is how a new
 * model version gets new features.
 */
export function planApply(current: AppliedDefinitions, desired: FeatureDefinitions): ApplyPlan {
  const changes = [
    ...diffObjects('entity', current.entities, desired.entities, entityDetails),
    ...diffObjects('view', current.views, desired.views, viewDetails),
    ...diffObjects('service', current.services, desired.services, serviceDetails),
  ];
  return { changes, refused: breakingChanges(current, desired) };
}

function diffObjects<T extends { name: string }>(
  kind: PlanChange['kind'],
  current: readonly T[],
  desired: readonly T[],
  details: (before: T, after: T) => string[],
): PlanChange[] {
  const before = new Map(current.map((item) => [item.name, item]));
  const after = new Map(desired.map((item) => [item.name, item]));
  const changes: PlanChange[] = [];
  for (const item of desired) {
    const old = before.get(item.name);
    if (old === undefined) changes.push({ kind, name: item.name, action: 'create', details: [] });
    else {
      const what = details(old, item);
      if (what.length > 0) changes.push({ kind, name: item.name, action: 'update', details: what });
    }
  }
  for (const item of current)
    if (!after.has(item.name)) changes.push({ kind, name: item.name, action: 'delete', details: [] });
  return changes;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function field(
  name: string,
  before: unknown,
  after: unknown,
  out: string[],
  show: (value: unknown) => string = (v) => (v === undefined ? '(none)' : JSON.stringify(v)),
): void {
  if (!same(before, after)) out.push(`${name}: ${show(before)} -> ${show(after)}`);
}

function entityDetails(before: EntityDefinition, after: EntityDefinition): string[] {
  const out: string[] = [];
  field(
    'join_keys',
    before.joinKeys.map((k) => `${k.name}:${k.type}`),
    after.joinKeys.map((k) => `${k.name}:${k.type}`),
    out,
  );
  field('description', before.description, after.description, out);
  return out;
}

function viewDetails(before: ViewDefinition, after: ViewDefinition): string[] {
  const out: string[] = [];
  field('entities', before.entities, after.entities, out);
  field('source', before.source, after.source, out);
  field('timestamp_field', before.timestampField, after.timestampField, out);
  field('created_timestamp_field', before.createdTimestampField, after.createdTimestampField, out);
  field('ttl', before.ttlMs, after.ttlMs, out, (v) => (v === 0 ? 'none' : formatDuration(v as number)));
  const old = new Map(before.features.map((f) => [f.name, f]));
  const now = new Map(after.features.map((f) => [f.name, f]));
  for (const feature of after.features) {
    const was = old.get(feature.name);
    if (was === undefined) out.push(`+ feature ${feature.name} (${feature.type})`);
    else if (!same(was, feature))
      out.push(`~ feature ${feature.name}: ${JSON.stringify(was)} -> ${JSON.stringify(feature)}`);
  }
  for (const feature of before.features) if (!now.has(feature.name)) out.push(`- feature ${feature.name}`);
  if (
    out.length === 0 &&
    !same(
      before.features.map((f) => f.name),
      after.features.map((f) => f.name),
    )
  )
    out.push('feature order changed');
  field('description', before.description, after.description, out);
  field('owner', before.owner, after.owner, out);
  field('tags', before.tags, after.tags, out);
  return out;
}

function serviceDetails(before: ServiceDefinition, after: ServiceDefinition): string[] {
  const out: string[] = [];
  field('features', before.features, after.features, out, (v) => (v as string[]).join(', '));
  field('model', before.model, after.model, out);
  field('description', before.description, after.description, out);
  field('owner', before.owner, after.owner, out);
  field('tags', before.tags, after.tags, out);
  return out;
}

/** The fields whose change gives a service a new version (not its description, owner or tags). */
export function serviceVersionChanged(before: ServiceDefinition, after: ServiceDefinition): boolean {
  return !same(before.features, after.features) || before.model !== after.model;
}

function breakingChanges(current: AppliedDefinitions, desired: FeatureDefinitions): string[] {
  const refused: string[] = [];
  const desiredServices = new Map(desired.services.map((s) => [s.name, s]));
  const desiredViews = new Map(desired.views.map((v) => [v.name, v]));
  const currentViews = new Map(current.views.map((v) => [v.name, v]));
  const keysOf = (view: ViewDefinition, entities: readonly EntityDefinition[]): string =>
    JSON.stringify(view.entities.map((name) => entities.find((e) => e.name === name)?.joinKeys ?? null));
  for (const service of current.services) {
    if (service.model === undefined) continue;
    const next = desiredServices.get(service.name);
    const inUse = `feature service "${service.name}" is bound to ${service.model}`;
    if (next === undefined) {
      refused.push(`${inUse}; remove its model binding before deleting it`);
      continue;
    }
    if (next.model !== service.model) continue;
    if (!same(next.features, service.features)) {
      refused.push(`${inUse}, whose input order follows the feature list; bind the new list to a new model version`);
      continue;
    }
    const views = new Set<string>();
    for (const ref of service.features) {
      const parsed = parseFeatureRef(ref);
      if (parsed.kind === 'request') continue;
      views.add(parsed.view);
      const before = currentViews.get(parsed.view)?.features.find((f) => f.name === parsed.feature);
      const after = desiredViews.get(parsed.view)?.features.find((f) => f.name === parsed.feature);
      if (after === undefined) refused.push(`${inUse} and serves ${ref}, which would be deleted`);
      else if (before !== undefined && before.type !== after.type)
        refused.push(`${inUse} and serves ${ref}, whose type would change from ${before.type} to ${after.type}`);
    }
    for (const name of views) {
      const before = currentViews.get(name);
      const after = desiredViews.get(name);
      if (
        before !== undefined &&
        after !== undefined &&
        keysOf(before, current.entities) !== keysOf(after, desired.entities)
      ) {
        refused.push(`${inUse} and reads view "${name}", whose join keys would change`);
      }
    }
  }
  return refused;
}

/** The plan as text for a terminal: `+ create`, `~ update` (with details), `- delete`, then refusals. */
export function formatPlan(plan: ApplyPlan): string {
  if (plan.changes.length === 0 && plan.refused.length === 0) return 'No changes: the store matches the file.\n';
  const sign = { create: '+', update: '~', delete: '-' } as const;
  const lines = plan.changes.flatMap((change) => [
    `${sign[change.action]} ${change.kind} ${change.name}`,
    ...change.details.map((d) => `    ${d}`),
  ]);
  const counts = (['create', 'update', 'delete'] as const).map(
    (action) => `${plan.changes.filter((c) => c.action === action).length} to ${action}`,
  );
  lines.push('', `Plan: ${counts.join(', ')}.`);
  if (plan.refused.length > 0)
    lines.push('', 'Refused (would break a service in use):', ...plan.refused.map((r) => `  ! ${r}`));
  return `${lines.join('\n')}\n`;
}
