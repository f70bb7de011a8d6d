import { formatDuration } from '../../core/duration.js';
import type { PipelineSpec, ReleaseSpec, StoredPipeline, TriggerSpec } from '../types.js';

/** One pipeline a changed definition touches, with a one-line diff per changed top-level key. */
export interface PipelineChange {
  readonly name: string;
  /** e.g. `minInterval: 1h -> 2h`, `triggers: drift 1h, manual -> drift 1h, labels 100`. */
  readonly details: readonly string[];
}

/**
 * What `slipway pipelines apply` would do: pipelines to add, to change (each gets a new version), to
 * remove (deactivated, kept for their runs' history) and left as they are. Like features'
 * src/features/definitions/plan.ts, applying makes the active definitions equal the file.
 */
export interface PipelinePlan {
  readonly added: readonly string[];
  readonly changed: readonly PipelineChange[];
  readonly removed: readonly string[];
  readonly unchanged: readonly string[];
}

/** Diff the active stored pipelines against the wanted specs (inactive ones count as absent). */
export function plan(current: readonly StoredPipeline[], wanted: readonly PipelineSpec[]): PipelinePlan {
  const active = new Map(current.filter((p) => p.active).map((p) => [p.name, p.spec]));
  const wantedNames = new Set(wanted.map((spec) => spec.name));
  const added: string[] = [];
  const changed: PipelineChange[] = [];
  const unchanged: string[] = [];
  for (const spec of wanted) {
    const before = active.get(spec.name);
    if (before === undefined) added.push(spec.name);
    else {
      const details = diffSpecs(before, spec);
      if (details.length === 0) unchanged.push(spec.name);
      else changed.push({ name: spec.name, details });
    }
  }
  const removed = [...active.keys()].filter((name) => !wantedNames.has(name));
  return { added, changed, removed, unchanged };
}

/** Whether applying the plan changes anything. */
export function planHasChanges(pipelinePlan: PipelinePlan): boolean {
  return pipelinePlan.added.length + pipelinePlan.changed.length + pipelinePlan.removed.length > 0;
}

/** One line per top-level key of the YAML whose value differs, in the file's key order. */
export function diffSpecs(before: PipelineSpec, after: PipelineSpec): string[] {
  const out: string[] = [];
  const field = (key: string, a: unknown, b: unknown, show: (value: never) => string): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${key}: ${show(a as never)} -> ${show(b as never)}`);
  };
  const text = (value: unknown): string => (value === undefined ? '(none)' : JSON.stringify(value));
  field('model', before.model, after.model, text);
  field('deployment', before.deployment, after.deployment, text);
  field('triggers', before.triggers, after.triggers, (t: TriggerSpec[]) => t.map(describeTrigger).join(', '));
  field('minInterval', before.minIntervalMs, after.minIntervalMs, formatDuration);
  field('data', before.data, after.data, text);
  field('train', before.train, after.train, text);
  field('evaluate', before.evaluate.gates, after.evaluate.gates, (g: string[]) =>
    g.length === 0 ? '(no gates)' : g.join(', '),
  );
  field('release', before.release, after.release, describeRelease);
  field('allowMajor', before.allowMajor, after.allowMajor, String);
  field('notify', before.notify, after.notify, (v) => v ?? 'none');
  return out;
}

/** A trigger in a few words: `drift 1h`, `performance accuracy < 0.9 over 1d`, `schedule "0 3 * * *" UTC`. */
export function describeTrigger(trigger: TriggerSpec): string {
  switch (trigger.kind) {
    case 'drift':
      return `drift ${formatDuration(trigger.windowMs)}${trigger.features === undefined ? '' : ` on ${trigger.features.join('+')}`}`;
    case 'performance':
      return `performance ${trigger.metric} ${trigger.op} ${trigger.threshold} over ${formatDuration(trigger.windowMs)} (min ${trigger.minRows} rows)`;
    case 'labels':
      return `labels ${trigger.count}`;
    case 'schedule':
      return `schedule "${trigger.cron}" ${trigger.timezone}`;
    case 'manual':
      return 'manual';
  }
}

/** A release in a few words: `none`, `alias staging`, `rollout 10,50,100 every 5m`. */
export function describeRelease(release: ReleaseSpec): string {
  switch (release.kind) {
    case 'none':
      return 'none';
    case 'alias':
      return `alias ${release.alias}`;
    case 'shadow':
      return `shadow ${formatDuration(release.durationMs)}`;
    case 'rollout':
      return `rollout ${release.steps.join(',')} every ${formatDuration(release.intervalMs)}${release.gates.length === 0 ? '' : ` gates ${release.gates.join(' ')}`}`;
    case 'experiment':
      return `experiment on ${release.metric}${release.autoPromote ? ', auto-promote' : ''}`;
  }
}

/** The plan as text for a terminal: `+ add`, `~ change` (with diffs), `- remove`, then a count line. */
export function formatPipelinePlan(pipelinePlan: PipelinePlan): string {
  if (!planHasChanges(pipelinePlan)) return 'No changes: the stored pipelines match the file.\n';
  const lines = [
    ...pipelinePlan.added.map((name) => `+ pipeline ${name}`),
    ...pipelinePlan.changed.flatMap((change) => [
      `~ pipeline ${change.name}`,
      ...change.details.map((detail) => `    ${detail}`),
    ]),
    ...pipelinePlan.removed.map((name) => `- pipeline ${name} (deactivated; its runs are kept)`),
  ];
  lines.push(
    '',
    `Plan: ${pipelinePlan.added.length} to add, ${pipelinePlan.changed.length} to change, ${pipelinePlan.removed.length} to remove, ${pipelinePlan.unchanged.length} unchanged.`,
  );
  return `${lines.join('\n')}\n`;
}
