import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../../core/duration.js';
import { invalid, notFound } from '../../core/errors.js';
import { IDENTIFIER_RULE, isIdentifier } from '../../core/names.js';
import type { FeatureScalar } from '../online/online-store.js';
import { FEATURE_TYPES, JOIN_KEY_TYPES, parseFeatureRef } from './types.js';
import type {
  EntityDefinition,
  FeatureDefinition,
  FeatureDefinitions,
  FeatureType,
  JoinKeyType,
  ServiceDefinition,
  ViewDefinition,
  ViewSource,
} from './types.js';

/**
 * Read a definitions file; `file` is resolved against `cwd` and named as given in messages.
 *
 * `features.yaml`, Feast's vocabulary in snake_case:
 *
 * ```yaml
 * entities:
 *   - name: patient
 *     join_keys: [{ name: patient_id, type: int64 }]   # or { patient_id: int64 }
 * feature_views:
 *   - name: vitals
 *     entities: [patient]
 *     source: { path: data/vitals.parquet }           # relative to this file; or { table: vitals }
 *     timestamp_field: event_ts
 *     created_timestamp_field: created_ts             # optional
 *     ttl: 30d                                        # optional; 0 or absent = no limit
 *     features:
 *       - { name: heart_rate, type: float64, default: 70 }
 *     description: ..., owner: ..., tags: { team: ml }
 * feature_services:
 *   - name: risk
 *     features: [vitals:heart_rate, request:age]      # order = the model input's columns
 *     model: risk_model@1.0.0                         # optional
 * ```
 */
export async function readDefinitionsFile(file: string, cwd = process.cwd()): Promise<FeatureDefinitions> {
  const absolute = path.resolve(cwd, file);
  const text = await readFile(absolute, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`definitions file "${file}" does not exist`);
    throw invalid(`cannot read "${file}": ${(error as Error).message}`);
  });
  return parseDefinitions(text, { baseDir: path.dirname(absolute), file });
}

/** Parse and check definitions text (YAML or JSON); INVALID_ARGUMENT listing every problem. */
export function parseDefinitions(text: string, options: { baseDir: string; file?: string }): FeatureDefinitions {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw invalid(`${options.file ?? 'definitions'}: not valid YAML: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  const reader = new Reader(problems, options.baseDir);
  const root = document === null || document === undefined ? {} : reader.object(document, '');
  reader.onlyKeys(root, '', ['entities', 'feature_views', 'feature_services']);
  const definitions: FeatureDefinitions = {
    entities: reader.list(root.entities, 'entities').map((item, i) => reader.entity(item, `entities[${i}]`)),
    views: reader.list(root.feature_views, 'feature_views').map((item, i) => reader.view(item, `feature_views[${i}]`)),
    services: reader
      .list(root.feature_services, 'feature_services')
      .map((item, i) => reader.service(item, `feature_services[${i}]`)),
  };
  if (problems.length === 0) problems.push(...checkDefinitions(definitions));
  if (problems.length > 0) throw invalid(`${options.file ?? 'definitions'}: ${problems.join('; ')}`);
  return definitions;
}

/** Cross-object rules: unique names, entities and refs that exist, one type per join key name. */
export function checkDefinitions(definitions: FeatureDefinitions): string[] {
  const problems: string[] = [];
  const entities = new Map(definitions.entities.map((e) => [e.name, e]));
  const views = new Map(definitions.views.map((v) => [v.name, v]));
  duplicates(
    definitions.entities.map((e) => e.name),
    'entity',
    problems,
  );
  duplicates(
    definitions.views.map((v) => v.name),
    'feature view',
    problems,
  );
  duplicates(
    definitions.services.map((s) => s.name),
    'feature service',
    problems,
  );
  for (const view of definitions.views) {
    if (view.entities.length === 0) problems.push(`feature view "${view.name}" needs at least one entity`);
    const keys = new Map<string, JoinKeyType>();
    for (const name of view.entities) {
      const entity = entities.get(name);
      if (entity === undefined) {
        problems.push(`feature view "${view.name}" names unknown entity "${name}"`);
        continue;
      }
      for (const key of entity.joinKeys) {
        if (keys.has(key.name))
          problems.push(`feature view "${view.name}": join key "${key.name}" comes from two entities`);
        keys.set(key.name, key.type);
      }
    }
    duplicates(
      view.features.map((f) => f.name),
      `feature in view "${view.name}"`,
      problems,
    );
    for (const feature of view.features) {
      if (
        keys.has(feature.name) ||
        feature.name === view.timestampField ||
        feature.name === view.createdTimestampField
      ) {
        problems.push(
          `feature view "${view.name}": "${feature.name}" is a join key or timestamp column, not a feature`,
        );
      }
    }
  }
  for (const service of definitions.services) {
    duplicates(service.features, `feature in service "${service.name}"`, problems);
    for (const ref of service.features) {
      const parsed = parseFeatureRef(ref);
      if (parsed.kind === 'request') continue;
      const view = views.get(parsed.view);
      if (view === undefined)
        problems.push(`feature service "${service.name}": unknown feature view "${parsed.view}" in "${ref}"`);
      else if (!view.features.some((f) => f.name === parsed.feature))
        problems.push(`feature service "${service.name}": view "${parsed.view}" has no feature "${parsed.feature}"`);
    }
    if (!service.features.some((ref) => parseFeatureRef(ref).kind === 'view'))
      problems.push(`feature service "${service.name}" needs at least one view feature`);
  }
  return problems;
}

function duplicates(names: readonly string[], what: string, problems: string[]): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) problems.push(`${what} "${name}" is defined twice`);
    seen.add(name);
  }
}

type Obj = Record<string, unknown>;

/** Reads one YAML document, collecting problems with their path instead of stopping at the first. */
class Reader {
  constructor(
    private readonly problems: string[],
    private readonly baseDir: string,
  ) {}

  object(value: unknown, at: string): Obj {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Obj;
    this.problems.push(`${at || 'the document'} must be a mapping`);
    return {};
  }

  list(value: unknown, at: string): unknown[] {
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    this.problems.push(`${at} must be a list`);
    return [];
  }

  onlyKeys(object: Obj, at: string, allowed: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (!allowed.includes(key))
        this.problems.push(`${at ? `${at}: ` : ''}unknown field "${key}" (expected ${allowed.join(', ')})`);
    }
  }

  name(value: unknown, at: string): string {
    if (typeof value === 'string' && isIdentifier(value)) return value;
    this.problems.push(`${at} must be a name of ${IDENTIFIER_RULE}, got ${JSON.stringify(value)}`);
    return String(value);
  }

  text(value: unknown, at: string): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    this.problems.push(`${at} must be text`);
    return undefined;
  }

  tags(value: unknown, at: string): Record<string, string> {
    if (value === undefined || value === null) return {};
    const object = this.object(value, at);
    const tags: Record<string, string> = {};
    for (const [key, tag] of Object.entries(object)) {
      if (typeof tag === 'string' || typeof tag === 'number' || typeof tag === 'boolean') tags[key] = String(tag);
      else this.problems.push(`${at}.${key} must be text`);
    }
    return tags;
  }

  entity(value: unknown, at: string): EntityDefinition {
    const object = this.object(value, at);
    this.onlyKeys(object, at, ['name', 'join_keys', 'description']);
    const name = this.name(object.name, `${at}.name`);
    const joinKeys = this.joinKeys(object.join_keys, `entity "${name}".join_keys`);
    const description = this.text(object.description, `${at}.description`);
    return { name, joinKeys, ...(description === undefined ? {} : { description }) };
  }

  joinKeys(value: unknown, at: string): { name: string; type: JoinKeyType }[] {
    const pairs: [unknown, unknown, string][] = Array.isArray(value)
      ? value.map((item, i) =>
          typeof item === 'string'
            ? [item, 'int64', `${at}[${i}]`]
            : [this.object(item, `${at}[${i}]`).name, this.object(item, `${at}[${i}]`).type, `${at}[${i}]`],
        )
      : Object.entries(this.object(value ?? {}, at)).map(([key, type]) => [key, type, `${at}.${key}`]);
    if (pairs.length === 0) this.problems.push(`${at} must list at least one join key`);
    return pairs.map(([name, type, where]) => ({
      name: this.name(name, `${where} name`),
      type: this.oneOf(type ?? 'int64', JOIN_KEY_TYPES, `${where} type`),
    }));
  }

  oneOf<T extends string>(value: unknown, allowed: readonly T[], at: string): T {
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${at} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    return allowed[0] as T;
  }

  view(value: unknown, at: string): ViewDefinition {
    const object = this.object(value, at);
    this.onlyKeys(object, at, [
      'name',
      'entities',
      'source',
      'timestamp_field',
      'created_timestamp_field',
      'ttl',
      'features',
      'description',
      'owner',
      'tags',
    ]);
    const name = this.name(object.name, `${at}.name`);
    const where = `feature view "${name}"`;
    const entities = this.list(object.entities, `${where}.entities`).map((e, i) =>
      this.name(e, `${where}.entities[${i}]`),
    );
    const created =
      object.created_timestamp_field === undefined
        ? undefined
        : this.name(object.created_timestamp_field, `${where}.created_timestamp_field`);
    const description = this.text(object.description, `${where}.description`);
    const owner = this.text(object.owner, `${where}.owner`);
    return {
      name,
      entities,
      source: this.source(object.source, `${where}.source`),
      timestampField: this.name(object.timestamp_field, `${where}.timestamp_field`),
      ...(created === undefined ? {} : { createdTimestampField: created }),
      ttlMs: this.ttl(object.ttl, `${where}.ttl`),
      features: this.list(object.features, `${where}.features`).map((f, i) =>
        this.feature(f, `${where}.features[${i}]`),
      ),
      ...(description === undefined ? {} : { description }),
      ...(owner === undefined ? {} : { owner }),
      tags: this.tags(object.tags, `${where}.tags`),
    };
  }

  source(value: unknown, at: string): ViewSource {
    if (typeof value === 'string') return { path: path.resolve(this.baseDir, value) };
    const object = this.object(value, at);
    this.onlyKeys(object, at, ['path', 'table']);
    if (typeof object.path === 'string' && object.table === undefined && object.path !== '')
      return { path: path.resolve(this.baseDir, object.path) };
    if (typeof object.table === 'string' && object.path === undefined)
      return { table: this.name(object.table, `${at}.table`) };
    this.problems.push(`${at} must be { path: <file or glob> } or { table: <name> }`);
    return { path: '' };
  }

  ttl(value: unknown, at: string): number {
    if (value === undefined || value === null || value === 0 || value === '0') return 0;
    if (typeof value !== 'string') {
      this.problems.push(`${at} must be a duration such as 30d or 12h, got ${JSON.stringify(value)}`);
      return 0;
    }
    try {
      return parseDuration(value, at, { allowZero: true });
    } catch (error) {
      this.problems.push((error as Error).message);
      return 0;
    }
  }

  feature(value: unknown, at: string): FeatureDefinition {
    const object = typeof value === 'string' ? { name: value } : this.object(value, at);
    this.onlyKeys(object, at, ['name', 'type', 'default', 'description']);
    const name = this.name(object.name, `${at}.name`);
    const type: FeatureType = this.oneOf(object.type ?? 'float64', FEATURE_TYPES, `feature "${name}" type`);
    const description = this.text(object.description, `${at}.description`);
    return {
      name,
      type,
      ...(object.default === undefined
        ? {}
        : { default: this.defaultValue(object.default, type, `feature "${name}" default`) }),
      ...(description === undefined ? {} : { description }),
    };
  }

  defaultValue(value: unknown, type: FeatureType, at: string): FeatureScalar {
    const ok =
      value === null ||
      (type === 'string' && typeof value === 'string') ||
      (type === 'bool' && typeof value === 'boolean') ||
      ((type === 'int64' || type === 'int32') && Number.isSafeInteger(value)) ||
      ((type === 'float64' || type === 'float32') && typeof value === 'number' && Number.isFinite(value));
    if (!ok) this.problems.push(`${at} must be a ${type} value, got ${JSON.stringify(value)}`);
    return value as FeatureScalar;
  }

  service(value: unknown, at: string): ServiceDefinition {
    const object = this.object(value, at);
    this.onlyKeys(object, at, ['name', 'features', 'model', 'description', 'owner', 'tags']);
    const name = this.name(object.name, `${at}.name`);
    const where = `feature service "${name}"`;
    const features = this.list(object.features, `${where}.features`).map((ref, i) =>
      this.ref(ref, `${where}.features[${i}]`),
    );
    if (features.length === 0) this.problems.push(`${where} needs at least one feature`);
    const model = this.text(object.model, `${where}.model`);
    if (model !== undefined && !/^[^@\s]+@\d+\.\d+\.\d+$/.test(model))
      this.problems.push(`${where}.model must be <model>@<major.minor.patch>, got "${model}"`);
    const description = this.text(object.description, `${where}.description`);
    const owner = this.text(object.owner, `${where}.owner`);
    return {
      name,
      features,
      ...(model === undefined ? {} : { model }),
      ...(description === undefined ? {} : { description }),
      ...(owner === undefined ? {} : { owner }),
      tags: this.tags(object.tags, `${where}.tags`),
    };
  }

  ref(value: unknown, at: string): string {
    if (typeof value === 'string') {
      const [head, tail, ...rest] = value.split(':');
      if (rest.length === 0 && head !== undefined && tail !== undefined && isIdentifier(head) && isIdentifier(tail))
        return value;
    }
    this.problems.push(`${at} must be "<view>:<feature>" or "request:<name>", got ${JSON.stringify(value)}`);
    return String(value);
  }
}
