import { describe, expect, it } from 'vitest';
import { parsePipelinesYaml } from './parse-pipelines.js';
import { describeTrigger, formatPipelinePlan, plan } from './plan.js';
import type { PipelineSpec, StoredPipeline } from '../types.js';

const FILE = '/srv/ml/pipelines.yaml';

const FULL = `
pipelines:
  - name: cancer-retrain
    model: breast_cancer
    deployment: cancer-live
    triggers:
      - drift: { window: 1h }
      - drift: { window: 2h, features: [input_0, input_3] }
      - performance: { metric: accuracy, below: 0.9, window: 1d, minRows: 40 }
      - performance: { metric: mae, above: 2.5, window: 6h }
      - labels: { count: 100 }
      - schedule: { cron: "0 3 * * *", timezone: Europe/Paris }
      - manual
    minInterval: 2h
    data:
      featureService: cancer_risk
      labels: { file: data/labels.parquet, timestampColumn: ts, labelColumn: y }
      window: 30d
      split: { train: 0.6, validation: 0.2, test: 0.2 }
      labelColumn: target
    train:
      command: /usr/bin/python3   train.py --seed 1
      workdir: ./training
      timeout: 10m
      env: { SEED: "1" }
    evaluate:
      gates: ["accuracy >= champion - 0.005", "auc >= 0.8", "p99_ms <= 20"]
    release: { rollout: { steps: [10, 50, 100], interval: 5m, gates: ["error_rate<0.01"] } }
    allowMajor: true
`;

const MINIMAL = `
pipelines:
  - name: digits
    model: digits_mlp
    triggers: [manual]
    data: { labels: feedback, window: 7d }
    train: { command: [node, train.mjs] }
`;

function problems(text: string): string {
  try {
    parsePipelinesYaml(text, { file: FILE });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the file to be refused');
}

describe('parsePipelinesYaml', () => {
  it('reads every field of the documented format into a spec', () => {
    const [spec] = parsePipelinesYaml(FULL, { file: FILE });
    expect(spec).toEqual({
      name: 'cancer-retrain',
      model: 'breast_cancer',
      deployment: 'cancer-live',
      triggers: [
        { kind: 'drift', windowMs: 3_600_000 },
        { kind: 'drift', windowMs: 7_200_000, features: ['input_0', 'input_3'] },
        { kind: 'performance', metric: 'accuracy', op: '<', threshold: 0.9, windowMs: 86_400_000, minRows: 40 },
        { kind: 'performance', metric: 'mae', op: '>', threshold: 2.5, windowMs: 21_600_000, minRows: 30 },
        { kind: 'labels', count: 100 },
        { kind: 'schedule', cron: '0 3 * * *', timezone: 'Europe/Paris' },
        { kind: 'manual' },
      ],
      minIntervalMs: 7_200_000,
      data: {
        featureService: 'cancer_risk',
        labels: { kind: 'file', path: '/srv/ml/data/labels.parquet', timestampColumn: 'ts', labelColumn: 'y' },
        windowMs: 30 * 86_400_000,
        split: { train: 0.6, validation: 0.2, test: 0.2 },
        labelColumn: 'target',
      },
      train: {
        command: ['/usr/bin/python3', 'train.py', '--seed', '1'],
        workdir: '/srv/ml/training',
        timeoutMs: 600_000,
        env: { SEED: '1' },
      },
      evaluate: { gates: ['accuracy >= champion - 0.005', 'auc >= 0.8', 'p99_ms <= 20'] },
      release: { kind: 'rollout', steps: [10, 50, 100], intervalMs: 300_000, gates: ['error_rate<0.01'] },
      allowMajor: true,
    } satisfies PipelineSpec);
  });

  it('fills the defaults where the file is silent', () => {
    expect(parsePipelinesYaml(MINIMAL, { file: FILE })).toEqual([
      {
        name: 'digits',
        model: 'digits_mlp',
        triggers: [{ kind: 'manual' }],
        minIntervalMs: 3_600_000,
        data: {
          labels: { kind: 'feedback' },
          windowMs: 7 * 86_400_000,
          split: { train: 0.7, validation: 0.15, test: 0.15 },
          labelColumn: 'label',
        },
        train: { command: ['node', 'train.mjs'], workdir: '/srv/ml', timeoutMs: 3_600_000, env: {} },
        evaluate: { gates: [] },
        release: { kind: 'none' },
        allowMajor: false,
      },
    ]);
    const [schedule] = parsePipelinesYaml(MINIMAL.replace('[manual]', '[{ schedule: { cron: "*/5 * * * *" } }]'), {
      file: FILE,
    })[0]!.triggers;
    expect(schedule).toEqual({ kind: 'schedule', cron: '*/5 * * * *', timezone: 'UTC' });
  });

  it('reads each release form', () => {
    const release = (text: string) =>
      parsePipelinesYaml(`${MINIMAL}    release: ${text}\n`, { file: FILE })[0]!.release;
    expect(release('none')).toEqual({ kind: 'none' });
    expect(release('{ alias: staging }')).toEqual({ kind: 'alias', alias: 'staging' });
    expect(release('{ shadow: 1h }')).toEqual({ kind: 'shadow', durationMs: 3_600_000 });
    expect(release('{ experiment: { metric: accuracy, autoPromote: true } }')).toEqual({
      kind: 'experiment',
      metric: 'accuracy',
      autoPromote: true,
    });
  });

  it('names every problem by its path, all at once', () => {
    const text = `
pipelines:
  - name: bad
    model: "no spaces"
    colour: blue
    triggers:
      - drift: { window: soon }
      - performance: { metric: accuracy, below: high, window: 1d }
      - labels: { count: 0 }
      - schedule: { cron: "61 3 * * *" }
      - schedule: { cron: "0 3 * * *", timezone: Mars/Olympus }
      - rain
    data: { labels: feedback, window: 1d, split: { train: 0.5, validation: 0.1, test: 0.1 } }
    train: { command: train.sh, env: { SEED: 1 } }
    evaluate: { gates: ["accuracy is good", "acuracy >= 0.9"] }
    release: { rollout: { steps: [50, 10], interval: 5m, gates: ["latency<3"] } }
    allowMajor: yes
`;
    const message = problems(text);
    for (const expected of [
      'pipelines[0].colour is not a known key',
      'pipelines[0].model "no spaces" is not a valid name',
      'pipelines[0].triggers[0].drift.window "soon": expected e.g. 30s',
      'pipelines[0].triggers[1].performance.below must be a number',
      'pipelines[0].triggers[2].labels.count must be an integer of at least 1',
      'pipelines[0].triggers[3].schedule.cron "61 3 * * *" is not a cron expression',
      'pipelines[0].triggers[4].schedule.timezone "Mars/Olympus" is not a known IANA time zone',
      'pipelines[0].triggers[5] "rain" is not one of drift, performance, labels, schedule, manual',
      'pipelines[0].data.split shares must add up to 1, got 0.5 + 0.1 + 0.1',
      'pipelines[0].train.env.SEED must be a string (quote it: "1")',
      `pipelines[0].evaluate.gates[0] gate "accuracy is good" is not 'metric op value' or 'metric op champion [+|-] number'`,
      'pipelines[0].evaluate.gates[1] gate "acuracy >= 0.9": unknown metric "acuracy"',
      'pipelines[0].release.rollout.steps must increase within (0, 100] and end at 100, got [50, 10]',
      'pipelines[0].release.rollout.gates[0] gate "latency<3": unknown metric "latency"',
      'pipelines[0].allowMajor must be true or false',
    ])
      expect(message).toContain(expected);
    expect(message.startsWith(`${FILE}: `)).toBe(true);
  });

  it('refuses duplicate names, a label file without a feature service, and both below and above', () => {
    const twice = `${MINIMAL}${MINIMAL.replace('pipelines:\n', '')}`;
    expect(problems(twice)).toContain('pipeline name "digits" is used more than once');
    expect(
      problems(MINIMAL.replace('labels: feedback', 'labels: { file: l.csv, timestampColumn: ts, labelColumn: y }')),
    ).toContain('pipelines[0].data.featureService is required with a label file');
    expect(
      problems(
        MINIMAL.replace('[manual]', '[{ performance: { metric: accuracy, below: 0.9, above: 0.1, window: 1d } }]'),
      ),
    ).toContain('pipelines[0].triggers[0].performance needs exactly one of below');
    expect(problems(MINIMAL.replace('triggers: [manual]', 'triggers: []'))).toContain(
      'pipelines[0].triggers needs at least one trigger',
    );
    expect(problems('pipeline: []')).toContain('(file).pipeline is not a known key');
    expect(problems('pipelines: [')).toContain('not valid YAML');
  });
});

describe('plan', () => {
  const [base] = parsePipelinesYaml(MINIMAL, { file: FILE }) as [PipelineSpec];
  const stored = (spec: PipelineSpec, version = 1, active = true): StoredPipeline => ({
    name: spec.name,
    version,
    spec,
    active,
    createdAt: '2026-01-01T00:00:00.000Z',
  });

  it('sorts pipelines into added, changed (one line per changed key), removed and unchanged', () => {
    const other = { ...base, name: 'other' };
    const changed: PipelineSpec = {
      ...base,
      minIntervalMs: 7_200_000,
      triggers: [{ kind: 'labels', count: 100 }, { kind: 'manual' }],
      release: { kind: 'alias', alias: 'staging' },
    };
    const fresh = { ...base, name: 'fresh' };
    const result = plan(
      [stored(base, 3), stored(other), stored({ ...base, name: 'gone' }, 2, false)],
      [changed, fresh],
    );
    expect(result).toEqual({
      added: ['fresh'],
      changed: [
        {
          name: 'digits',
          details: [
            'triggers: manual -> labels 100, manual',
            'minInterval: 1h -> 2h',
            'release: none -> alias staging',
          ],
        },
      ],
      removed: ['other'],
      unchanged: [],
    });
    expect(formatPipelinePlan(result)).toBe(
      [
        '+ pipeline fresh',
        '~ pipeline digits',
        '    triggers: manual -> labels 100, manual',
        '    minInterval: 1h -> 2h',
        '    release: none -> alias staging',
        '- pipeline other (deactivated; its runs are kept)',
        '',
        'Plan: 1 to add, 1 to change, 1 to remove, 0 unchanged.',
        '',
      ].join('\n'),
    );
    expect(formatPipelinePlan(plan([stored(base)], [base]))).toBe('No changes: the stored pipelines match the file.\n');
    expect(
      describeTrigger({
        kind: 'performance',
        metric: 'auc',
        op: '<',
        threshold: 0.8,
        windowMs: 86_400_000,
        minRows: 30,
      }),
    ).toBe('performance auc < 0.8 over 1d (min 30 rows)');
  });
});
