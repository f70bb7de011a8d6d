import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { parse as parseYaml } from 'yaml';
import { invalid, notFound } from '../../core/errors.js';
import { IDENTIFIER_RULE, isIdentifier } from '../../core/names.js';
import { parseGate as parseRolloutGate } from '../../deploy/rollout-gates.js';
import { parsePipelineGate } from '../release/pipeline-gates.js';
import type { DataSpec, LabelSource, PipelineSpec, ReleaseSpec, TrainSpec, TriggerSpec } from '../types.js';
import { YamlReader } from './yaml-reader.js';

/** Defaults filled in where the file is silent (p-common format; see PipelineSpec in src/pipelines/types.ts). */
export const PIPELINE_DEFAULTS = {
  minIntervalMs: 3_600_000,
  split: { train: 0.7, validation: 0.15, test: 0.15 },
  labelColumn: 'label',
  timezone: 'UTC',
  minRows: 30,
  timeoutMs: 3_600_000,
} as const;

const PIPELINE_KEYS = [
  'name',
  'model',
  'deployment',
  'triggers',
  'minInterval',
  'data',
  'train',
  'evaluate',
  'release',
  'allowMajor',
  'notify',
];
const TRIGGER_KINDS = ['drift', 'performance', 'labels', 'schedule', 'manual'];
const RELEASE_KINDS = ['none', 'alias', 'shadow', 'rollout', 'experiment'];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Read and parse a pipelines file; `file` is resolved against `cwd` and named as given in messages. */
export async function readPipelinesFile(file: string, cwd = process.cwd()): Promise<PipelineSpec[]> {
  const absolute = path.resolve(cwd, file);
  const text = await readFile(absolute, 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`pipelines file "${file}" does not exist`);
    throw invalid(`cannot read "${file}": ${(error as Error).message}`);
  });
  return parsePipelinesYaml(text, { file: absolute, name: file });
}

/**
 * Parse and check a pipelines YAML (format in src/pipelines/types.ts and the issue-17 brief) into specs
 * with every default filled; INVALID_ARGUMENT listing every problem by its path. Paths in the file
 * (train.workdir, a label file) are resolved against the folder of `file` and stored absolute.
 */
export function parsePipelinesYaml(text: string, options: { file: string; name?: string }): PipelineSpec[] {
  const shown = options.name ?? options.file;
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    throw invalid(`${shown}: not valid YAML: ${(error as Error).message}`);
  }
  const reader = new YamlReader();
  const folder = path.dirname(path.resolve(options.file));
  const root = reader.object(document ?? null, '(file)', ['pipelines']);
  const items = root === undefined ? undefined : reader.list(root.pipelines, 'pipelines');
  const specs = (items ?? []).map((item, i) => pipeline(reader, item, `pipelines[${i}]`, folder));
  const seen = new Set<string>();
  for (const spec of specs) {
    if (spec === undefined) continue;
    if (seen.has(spec.name)) reader.problems.push(`pipeline name "${spec.name}" is used more than once`);
    seen.add(spec.name);
  }
  if (reader.problems.length > 0) throw invalid(`${shown}: ${reader.problems.join('; ')}`);
  return specs as PipelineSpec[];
}

function pipeline(reader: YamlReader, value: unknown, at: string, folder: string): PipelineSpec | undefined {
  const item = reader.object(value, at, PIPELINE_KEYS);
  if (item === undefined) return undefined;
  const name = reader.name(item.name, `${at}.name`);
  const model = reader.name(item.model, `${at}.model`);
  const deployment = item.deployment === undefined ? null : reader.name(item.deployment, `${at}.deployment`);
  const triggerItems = reader.list(item.triggers, `${at}.triggers`);
  if (triggerItems?.length === 0)
    reader.fail(`${at}.triggers`, 'needs at least one trigger (`- manual` for runs by hand only)');
  const triggers = (triggerItems ?? []).map((t, i) => trigger(reader, t, `${at}.triggers[${i}]`));
  const minIntervalMs =
    item.minInterval === undefined
      ? PIPELINE_DEFAULTS.minIntervalMs
      : reader.duration(item.minInterval, `${at}.minInterval`, true);
  const data = dataSpec(reader, item.data, `${at}.data`, folder);
  const train = trainSpec(reader, item.train, `${at}.train`, folder);
  const gates = evaluateGates(reader, item.evaluate, `${at}.evaluate`);
  const release =
    item.release === undefined ? { kind: 'none' as const } : releaseSpec(reader, item.release, `${at}.release`);
  const allowMajor = item.allowMajor === undefined ? false : reader.boolean(item.allowMajor, `${at}.allowMajor`);
  const notify = item.notify === undefined ? null : webhookUrl(reader, item.notify, `${at}.notify`);
  if (
    [name, model, deployment, minIntervalMs, data, train, gates, release, allowMajor, notify].includes(undefined) ||
    triggers.includes(undefined)
  )
    return undefined;
  return {
    name: name as string,
    model: model as string,
    ...(deployment === null ? {} : { deployment: deployment as string }),
    triggers: triggers as TriggerSpec[],
    minIntervalMs: minIntervalMs as number,
    data: data as DataSpec,
    train: train as TrainSpec,
    evaluate: { gates: gates as string[] },
    release: release as ReleaseSpec,
    allowMajor: allowMajor as boolean,
    ...(notify === null ? {} : { notify: notify as string }),
  };
}

/** An http(s) URL for run notifications. */
function webhookUrl(reader: YamlReader, value: unknown, at: string): string | undefined {
  const text = reader.string(value, at);
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    reader.fail(at, `"${text}" is not a URL`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    reader.fail(at, `"${text}": expected an http:// or https:// URL`);
    return undefined;
  }
  return text;
}

function trigger(reader: YamlReader, value: unknown, at: string): TriggerSpec | undefined {
  const variant = reader.variant(value, at, TRIGGER_KINDS);
  if (variant === undefined) return undefined;
  const where = `${at}.${variant.kind}`;
  switch (variant.kind) {
    case 'manual':
      if (variant.body !== null && !(typeof variant.body === 'object' && Object.keys(variant.body).length === 0))
        return reader.fail(where, 'takes no settings');
      return { kind: 'manual' };
    case 'drift': {
      const body = reader.object(variant.body, where, ['window', 'features']);
      if (body === undefined) return undefined;
      const windowMs = reader.duration(body.window, `${where}.window`);
      const features = body.features === undefined ? null : reader.strings(body.features, `${where}.features`);
      if (features?.length === 0) return reader.fail(`${where}.features`, 'must name at least one feature when given');
      if (windowMs === undefined || features === undefined) return undefined;
      return { kind: 'drift', windowMs, ...(features === null ? {} : { features }) };
    }
    case 'performance': {
      const body = reader.object(variant.body, where, ['metric', 'below', 'above', 'window', 'minRows']);
      if (body === undefined) return undefined;
      const metric = reader.string(body.metric, `${where}.metric`);
      const windowMs = reader.duration(body.window, `${where}.window`);
      const minRows =
        body.minRows === undefined ? PIPELINE_DEFAULTS.minRows : reader.integer(body.minRows, `${where}.minRows`, 1);
      if ((body.below === undefined) === (body.above === undefined))
        return reader.fail(
          where,
          'needs exactly one of below (accuracy, auc, ...) and above (error metrics: mae, rmse)',
        );
      const below = body.below !== undefined;
      const threshold = reader.number(below ? body.below : body.above, `${where}.${below ? 'below' : 'above'}`);
      if (metric === undefined || windowMs === undefined || minRows === undefined || threshold === undefined)
        return undefined;
      return { kind: 'performance', metric, op: below ? '<' : '>', threshold, windowMs, minRows };
    }
    case 'labels': {
      const body = reader.object(variant.body, where, ['count']);
      const count = body === undefined ? undefined : reader.integer(body.count, `${where}.count`, 1);
      return count === undefined ? undefined : { kind: 'labels', count };
    }
    default: {
      const body = reader.object(variant.body, where, ['cron', 'timezone']);
      if (body === undefined) return undefined;
      const cron = reader.string(body.cron, `${where}.cron`);
      const timezone =
        body.timezone === undefined ? PIPELINE_DEFAULTS.timezone : reader.string(body.timezone, `${where}.timezone`);
      if (cron === undefined || timezone === undefined) return undefined;
      try {
        new Intl.DateTimeFormat('en', { timeZone: timezone });
      } catch {
        return reader.fail(`${where}.timezone`, `"${timezone}" is not a known IANA time zone (e.g. UTC, Europe/Paris)`);
      }
      try {
        CronExpressionParser.parse(cron, { tz: timezone, strict: false });
      } catch (error) {
        return reader.fail(`${where}.cron`, `"${cron}" is not a cron expression: ${(error as Error).message}`);
      }
      return { kind: 'schedule', cron, timezone };
    }
  }
}

function dataSpec(reader: YamlReader, value: unknown, at: string, folder: string): DataSpec | undefined {
  const body = reader.object(value, at, ['featureService', 'labels', 'window', 'split', 'labelColumn']);
  if (body === undefined) return undefined;
  let featureService: string | null | undefined = null;
  if (body.featureService !== undefined) {
    featureService = reader.string(body.featureService, `${at}.featureService`);
    if (featureService !== undefined && !isIdentifier(featureService))
      featureService = reader.fail(
        `${at}.featureService`,
        `"${featureService}" is not a feature service name (${IDENTIFIER_RULE})`,
      );
  }
  const labels = labelSource(reader, body.labels, `${at}.labels`, folder);
  if (labels?.kind === 'file' && featureService === null)
    reader.fail(`${at}.featureService`, 'is required with a label file (features are joined point-in-time from it)');
  const windowMs = reader.duration(body.window, `${at}.window`);
  const split = body.split === undefined ? PIPELINE_DEFAULTS.split : splitSpec(reader, body.split, `${at}.split`);
  const labelColumn =
    body.labelColumn === undefined
      ? PIPELINE_DEFAULTS.labelColumn
      : reader.string(body.labelColumn, `${at}.labelColumn`);
  if ([featureService, labels, windowMs, split, labelColumn].includes(undefined)) return undefined;
  return {
    ...(featureService === null ? {} : { featureService: featureService as string }),
    labels: labels as LabelSource,
    windowMs: windowMs as number,
    split: split as DataSpec['split'],
    labelColumn: labelColumn as string,
  };
}

function labelSource(reader: YamlReader, value: unknown, at: string, folder: string): LabelSource | undefined {
  if (value === 'feedback') return { kind: 'feedback' };
  if (typeof value !== 'object' || value === null)
    return reader.fail(at, 'must be feedback or { file, timestampColumn, labelColumn }');
  const body = reader.object(value, at, ['file', 'timestampColumn', 'labelColumn']);
  if (body === undefined) return undefined;
  const file = reader.string(body.file, `${at}.file`);
  const timestampColumn = reader.string(body.timestampColumn, `${at}.timestampColumn`);
  const labelColumn = reader.string(body.labelColumn, `${at}.labelColumn`);
  if (file === undefined || timestampColumn === undefined || labelColumn === undefined) return undefined;
  return { kind: 'file', path: path.resolve(folder, file), timestampColumn, labelColumn };
}

function splitSpec(reader: YamlReader, value: unknown, at: string): DataSpec['split'] | undefined {
  const body = reader.object(value, at, ['train', 'validation', 'test']);
  if (body === undefined) return undefined;
  const share = (key: 'train' | 'validation' | 'test', positive: boolean): number | undefined => {
    const n = reader.number(body[key], `${at}.${key}`);
    if (n === undefined) return undefined;
    if (n < 0 || n > 1 || (positive && n === 0))
      return reader.fail(`${at}.${key}`, `must be ${positive ? 'above 0' : 'at least 0'} and at most 1, got ${n}`);
    return n;
  };
  const train = share('train', true);
  const validation = share('validation', false);
  const test = share('test', true);
  if (train === undefined || validation === undefined || test === undefined) return undefined;
  if (Math.abs(train + validation + test - 1) > 1e-9)
    return reader.fail(at, `shares must add up to 1, got ${train} + ${validation} + ${test}`);
  return { train, validation, test };
}

function trainSpec(reader: YamlReader, value: unknown, at: string, folder: string): TrainSpec | undefined {
  const body = reader.object(value, at, ['command', 'workdir', 'timeout', 'env']);
  if (body === undefined) return undefined;
  let command: string[] | undefined;
  if (typeof body.command === 'string') {
    command = body.command
      .trim()
      .split(/\s+/)
      .filter((part) => part !== '');
    if (command.length === 0) command = reader.fail(`${at}.command`, 'must not be empty');
  } else if (Array.isArray(body.command)) {
    command = reader.strings(body.command, `${at}.command`);
    if (command?.length === 0) command = reader.fail(`${at}.command`, 'must not be empty');
  } else command = reader.fail(`${at}.command`, 'must be a string (split on whitespace, no shell) or a list');
  const workdir = body.workdir === undefined ? '.' : reader.string(body.workdir, `${at}.workdir`);
  const timeoutMs =
    body.timeout === undefined ? PIPELINE_DEFAULTS.timeoutMs : reader.duration(body.timeout, `${at}.timeout`);
  const env: Record<string, string> = {};
  const envBody = body.env === undefined ? {} : reader.object(body.env, `${at}.env`, Object.keys(body.env ?? {}));
  for (const [key, item] of Object.entries(envBody ?? {})) {
    if (!ENV_NAME.test(key)) reader.fail(`${at}.env.${key}`, 'is not an environment variable name');
    else if (typeof item !== 'string') reader.fail(`${at}.env.${key}`, 'must be a string (quote it: "1")');
    else env[key] = item;
  }
  if (command === undefined || workdir === undefined || timeoutMs === undefined || envBody === undefined)
    return undefined;
  return { command, workdir: path.resolve(folder, workdir), timeoutMs, env };
}

function evaluateGates(reader: YamlReader, value: unknown, at: string): string[] | undefined {
  if (value === undefined) return [];
  const body = reader.object(value, at, ['gates']);
  if (body === undefined) return undefined;
  if (body.gates === undefined) return [];
  const gates = reader.strings(body.gates, `${at}.gates`);
  if (gates === undefined) return undefined;
  let ok = true;
  // The shape and the metric, as a run will read them (src/pipelines/release/pipeline-gates.ts), so a typo fails the apply.
  gates.forEach((gate, i) => {
    try {
      parsePipelineGate(gate);
    } catch (error) {
      reader.fail(`${at}.gates[${i}]`, (error as Error).message);
      ok = false;
    }
  });
  return ok ? gates.map((gate) => gate.trim()) : undefined;
}

function releaseSpec(reader: YamlReader, value: unknown, at: string): ReleaseSpec | undefined {
  const variant = reader.variant(value, at, RELEASE_KINDS);
  if (variant === undefined) return undefined;
  const where = `${at}.${variant.kind}`;
  switch (variant.kind) {
    case 'none':
      return variant.body === null ? { kind: 'none' } : reader.fail(where, 'takes no settings');
    case 'alias': {
      const alias = reader.string(variant.body, where);
      if (alias === undefined) return undefined;
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(alias))
        return reader.fail(where, `"${alias}" is not an alias name: a letter, then letters, digits, "_" or "-"`);
      return { kind: 'alias', alias };
    }
    case 'shadow': {
      const durationMs = reader.duration(variant.body, where);
      return durationMs === undefined ? undefined : { kind: 'shadow', durationMs };
    }
    case 'rollout':
      return rollout(reader, variant.body, where);
    default: {
      const body = reader.object(variant.body, where, ['metric', 'autoPromote']);
      if (body === undefined) return undefined;
      const metric = reader.string(body.metric, `${where}.metric`);
      const autoPromote =
        body.autoPromote === undefined ? false : reader.boolean(body.autoPromote, `${where}.autoPromote`);
      if (metric === undefined || autoPromote === undefined) return undefined;
      return { kind: 'experiment', metric, autoPromote };
    }
  }
}

function rollout(reader: YamlReader, value: unknown, at: string): ReleaseSpec | undefined {
  const body = reader.object(value, at, ['steps', 'interval', 'gates']);
  if (body === undefined) return undefined;
  const stepItems = reader.list(body.steps, `${at}.steps`);
  let steps = stepItems?.map((s, i) => reader.number(s, `${at}.steps[${i}]`));
  if (steps !== undefined && !steps.includes(undefined)) {
    const numbers = steps as number[];
    const increasing = numbers.every((s, i) => s > (i === 0 ? 0 : (numbers[i - 1] as number)) && s <= 100);
    if (numbers.length === 0 || !increasing || numbers[numbers.length - 1] !== 100)
      steps = [reader.fail(`${at}.steps`, `must increase within (0, 100] and end at 100, got [${numbers.join(', ')}]`)];
  }
  const intervalMs = reader.duration(body.interval, `${at}.interval`);
  const gates = body.gates === undefined ? [] : reader.strings(body.gates, `${at}.gates`);
  gates?.forEach((gate, i) => {
    try {
      parseRolloutGate(gate);
    } catch (error) {
      reader.fail(`${at}.gates[${i}]`, (error as Error).message);
    }
  });
  if (steps === undefined || steps.includes(undefined) || intervalMs === undefined || gates === undefined)
    return undefined;
  return { kind: 'rollout', steps: steps as number[], intervalMs, gates };
}
