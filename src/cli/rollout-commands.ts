import type { Command } from 'commander';
import { parseDuration, formatDuration } from '../core/duration.js';
import type { ExperimentResults } from '../deploy/experiment-service.js';
import type { RolloutRecord } from '../deploy/rollout-service.js';
import { formatGate } from '../deploy/rollout-gates.js';
import { jsonText, table } from './format.js';
import type { CliIo } from './io.js';
import { withPlatform } from './registry-commands.js';
import { auditedCliChange } from './cli-audit.js';
import type { Platform } from '../platform.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * `rollout start|status|pause|resume|abort|promote` and `experiment start|results|stop`. The state
 * lives in the metadata database; a running server's controller (`slipway serve`) moves rollouts
 * on and takes experiments' looks.
 */
export function registerRolloutCommands(program: Command, io: CliIo): void {
  const json = (value: unknown) => io.stdout(jsonText(value));
  const rollout = program
    .command('rollout')
    .description(
      'Canary rollouts: move weight to a candidate step by step, gated on errors, latency, sample ratio and metrics',
    );

  rollout
    .command('start')
    .argument('<name>', 'the deployment')
    .requiredOption('--candidate <version>', 'the version to roll out')
    .option('--steps <percents>', 'candidate share at each step', '5,25,50,100')
    .option('--interval <duration>', 'how long each step lasts before its gates are judged', '30s')
    .option('--gate <gate>', 'error_rate<0.01, p99_ms<50, p50_ms<20, metric:accuracy>=-0.01 (repeat)', collect)
    .option('--min-requests <n>', 'candidate requests needed in a step before it is judged', '20')
    .option('--json', 'print the rollout as JSON')
    .description('Start a rollout (a server running `slipway serve` moves it on)')
    .action(
      async (
        name: string,
        options: {
          candidate: string;
          steps: string;
          interval: string;
          gate?: string[];
          minRequests: string;
          json?: boolean;
        },
      ) => {
        const steps = options.steps.split(',').map((s) => Number(s.trim()));
        const minRequests = Number(options.minRequests);
        await withPlatform(io, async ({ deployments, database }) => {
          const record = await auditedCliChange(
            database,
            { action: 'rollout.start', target: () => name, details: { candidate: options.candidate } },
            () =>
              deployments.rollouts.start(name, {
                candidate: options.candidate,
                steps,
                intervalMs: parseDuration(options.interval, '--interval'),
                gates: options.gate ?? [],
                minRequests,
              }),
          );
          if (options.json) return json(record);
          io.stdout(formatRollout(record));
        });
      },
    );

  const act = (action: 'status' | 'pause' | 'resume' | 'abort' | 'promote', description: string) =>
    rollout
      .command(action)
      .description(description)
      .argument('<name>', 'the deployment')
      .option('--json', 'machine-readable output')
      .action(async (name: string, options: { json?: boolean }) => {
        await withPlatform(io, async ({ deployments: { rollouts }, database }) => {
          const record = await (action === 'status'
            ? rollouts.status(name)
            : auditedCliChange(database, { action: `rollout.${action}`, target: () => name }, () =>
                rollouts[action](name),
              ));
          if (options.json) return json(record);
          io.stdout(formatRollout(record));
        });
      });
  act('status', 'The active (else latest) rollout: step, last gate checks, events');
  act('pause', 'Hold the rollout at its current step');
  act('resume', 'Continue a paused rollout (its step starts again)');
  act('abort', 'Give all traffic back to the baseline now');
  act('promote', 'Give all traffic to the candidate now');

  const experiment = program
    .command('experiment')
    .description('Champion/challenger experiments with always-valid sequential tests');

  experiment
    .command('start')
    .argument('<name>', 'the deployment')
    .requiredOption('--arms <versions>', 'the champion first, then challengers, e.g. 1.2.0,1.3.0')
    .option('--split <percents>', 'traffic per arm (default even)')
    .option('--metric <metric>', 'accuracy | conversion | mae (from feedback)', 'accuracy')
    .option('--alpha <alpha>', 'false-positive rate of the sequential test', '0.05')
    .option('--min-samples <n>', 'outcomes per arm before a decision', '100')
    .option('--max-samples <n>', 'outcomes per arm at which it stops for futility', '100000')
    .option('--look-interval <duration>', 'how often the controller looks', '30s')
    .option(
      '--auto-promote',
      'act on the decision: promote the winner, stop for futility or on a sample ratio mismatch',
    )
    .option('--json', 'print the experiment as JSON')
    .description('Start an experiment: split the traffic between the arms')
    .action(
      async (
        name: string,
        options: {
          arms: string;
          split?: string;
          metric: string;
          alpha: string;
          minSamples: string;
          maxSamples: string;
          lookInterval: string;
          autoPromote?: boolean;
          json?: boolean;
        },
      ) => {
        const list = (text: string) =>
          text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
        await withPlatform(io, async ({ deployments, database }) => {
          const record = await auditedCliChange(database, { action: 'experiment.start', target: () => name }, () =>
            deployments.experiments.start(name, {
              arms: list(options.arms),
              ...(options.split === undefined ? {} : { split: list(options.split).map(Number) }),
              metric: options.metric,
              alpha: Number(options.alpha),
              minSamplePerArm: Number(options.minSamples),
              maxSamplePerArm: Number(options.maxSamples),
              lookIntervalMs: parseDuration(options.lookInterval, '--look-interval'),
              autoPromote: options.autoPromote === true,
            }),
          );
          if (options.json) return json(record);
          io.stdout(
            `experiment #${record.id} on ${name}: ${record.spec.arms.map((a, i) => `${a}=${record.spec.split[i]}%`).join(' ')}, metric ${record.spec.metric}, alpha ${record.spec.alpha}${record.spec.autoPromote ? ', auto-promote' : ''}\n`,
          );
        });
      },
    );

  experiment
    .command('results')
    .argument('<name>', 'the deployment')
    .option('--json', 'machine-readable output')
    .description(
      'Per arm: n, metric mean, lift with CI, fixed-horizon and always-valid tests, chance to win; SRM; the decision',
    )
    .action(async (name: string, options: { json?: boolean }) => {
      await withPlatform(io, async ({ deployments }) => {
        const results = await deployments.experiments.results(name);
        if (options.json) return json(results);
        io.stdout(formatExperiment(results));
      });
    });

  experiment
    .command('stop')
    .argument('<name>', 'the deployment')
    .option('--winner <version>', 'the arm that keeps all traffic (default: the champion)')
    .option('--json', 'print the experiment as JSON')
    .description('Stop the experiment')
    .action(async (name: string, options: { winner?: string; json?: boolean }) => {
      await withPlatform(io, async ({ deployments, database }: Platform) => {
        const record = await auditedCliChange(
          database,
          { action: 'experiment.stop', target: () => name, details: { winner: options.winner } },
          () => deployments.experiments.stop(name, options.winner),
        );
        if (options.json) return json(record);
        io.stdout(`experiment #${record.id} on ${name} ${record.status}: ${record.reason ?? ''}\n`);
      });
    });
}

export function formatRollout(record: RolloutRecord): string {
  const { spec, state } = record;
  const lines = [
    `rollout #${record.id} of ${record.deployment}: ${record.status}${record.reason === null ? '' : ` (${record.reason})`}`,
    `  ${spec.candidate} replaces ${spec.baseline}: steps ${spec.steps.map((s, i) => (i === state.stepIndex && record.status === 'running' ? `[${s}%]` : `${s}%`)).join(' ')}, every ${formatDuration(spec.intervalMs)}; gates ${spec.gates.length === 0 ? 'none' : spec.gates.map(formatGate).join(', ')} + sample ratio; at least ${spec.minRequests} candidate requests per step`,
  ];
  if (record.status === 'running') {
    lines.push(
      `  step ${state.stepIndex + 1}/${spec.steps.length} since ${new Date(state.stepStartedMs).toISOString()}; judged from ${new Date(state.stepStartedMs + spec.intervalMs).toISOString()} by the controller of a running \`slipway serve\``,
    );
  }
  if (state.checks.length > 0) {
    lines.push('  last checks:');
    for (const c of state.checks) lines.push(`    ${c.verdict.padEnd(4)} ${c.gate}: ${c.detail}`);
  }
  lines.push('  events:');
  for (const e of state.events.slice(-10)) lines.push(`    ${new Date(e.timeMs).toISOString()} ${e.what}`);
  return `${lines.join('\n')}\n`;
}

export function formatExperiment(results: ExperimentResults): string {
  const { experiment: e, arms, srm, decision } = results;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const num = (x: number | null | undefined) =>
    x === null || x === undefined ? '-' : Number(x.toPrecision(4)).toString();
  const ci = (c: readonly [number, number] | null | undefined) =>
    c === null || c === undefined ? '-' : `[${num(c[0])}, ${num(c[1])}]`;
  const rows = arms.map((a, i) => [
    i === 0 ? `${a.version} (champion)` : a.version,
    String(a.requests),
    String(a.n),
    num(a.mean),
    a.comparison === null ? '-' : `${num(a.comparison.difference)} ${ci(a.comparison.fixed.ci)}`,
    a.comparison?.relativeLift === null || a.comparison === null
      ? '-'
      : `${pct(a.comparison.relativeLift)} ${a.comparison.relativeCi === null ? '' : `[${pct(a.comparison.relativeCi[0])}, ${pct(a.comparison.relativeCi[1])}]`}`,
    a.comparison === null ? '-' : num(a.comparison.fixed.pValue),
    a.sequential === null ? '-' : `${ci(a.sequential.ci)} p=${num(a.sequential.pValue)}`,
    a.comparison === null ? '-' : pct(a.comparison.bayesian.chanceToWin),
  ]);
  const lines = [
    `experiment #${e.id} of ${e.deployment}: ${e.status}${e.reason === null ? '' : ` (${e.reason})`}; metric ${e.spec.metric}, alpha ${e.spec.alpha}, split ${e.spec.split.join('/')}, looks ${e.state.looks}`,
    table([
      [
        'ARM',
        'REQUESTS',
        'N',
        'MEAN',
        'DIFFERENCE [FIXED CI]',
        'LIFT [CI]',
        'P (FIXED)',
        'ALWAYS-VALID CI, P',
        'CHANCE TO WIN',
      ],
      ...rows,
    ]).trimEnd(),
    `sample ratio: ${srm === null ? 'no traffic yet' : `chi-square ${num(srm.chiSquare)}, p ${num(srm.pValue)}${srm.mismatch ? ' MISMATCH' : ' ok'}`}`,
    `decision: ${decision.action} — ${decision.reason}`,
  ];
  return `${lines.join('\n')}\n`;
}
