/**
 * One optimize or distill run, start to end: resolve the parent, read the tables, apply the passes
 * in order (each checks its own result: graph rules, the parent's signature, an ONNX Runtime load),
 * compare the candidate with the parent on the held-out rows, check the gates, and register the
 * candidate as a new version of the same model with its lineage — or refuse, storing nothing.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import { readEvalSet } from './eval-set.js';
import { evaluateCandidate } from './evaluate.js';
import { checkGates, parseGate, reportMetrics } from './gates.js';
import { DEFAULT_GATES, type OptimizeSpec } from './optimize-spec.js';
import { buildPasses } from './pass-catalog.js';
import { reportMarkdown } from './report-format.js';
import type { EvalSet, GateResult, OptimizationReport, PassContext } from './types.js';

export interface RunOptimizationDeps {
  readonly registry: RegistryService;
  /** One short line per step; a job writes it as its progress (and heartbeat). */
  readonly progress?: (message: string) => void;
  /** Who asked, recorded in the new version's params. */
  readonly actor?: string;
}

export interface OptimizationOutcome {
  /** `registered`: a new version exists; `dry-run`: all measured, nothing stored; `refused`: a gate failed, nothing stored. */
  readonly status: 'registered' | 'dry-run' | 'refused';
  readonly parent: VersionRecord;
  readonly report: OptimizationReport;
  readonly gates: readonly GateResult[];
  readonly passes: ReadonlyArray<{ readonly name: string; readonly settings: Readonly<Record<string, unknown>> }>;
  readonly version?: VersionRecord;
  /** The candidate's bytes size, also for dry runs. */
  readonly candidateBytes: number;
}

/** Run `spec` to the end; a refusal is an outcome, not an error (the report explains it). */
export async function runOptimization(spec: OptimizeSpec, deps: RunOptimizationDeps): Promise<OptimizationOutcome> {
  const progress = deps.progress ?? (() => undefined);
  const passes = buildPasses(spec.passes);
  const gates = (spec.gates.length > 0 ? spec.gates : DEFAULT_GATES).map(parseGate);
  const parent = await deps.registry.resolve(spec.model);
  const parentBytes = new Uint8Array(await readFile(deps.registry.artifactPath(parent)));
  progress(`parent ${parent.model}@${parent.version} (${parentBytes.byteLength} bytes)`);

  const read = async (
    file: string | undefined,
    purpose: 'eval' | 'calibration' | 'train' | 'data',
  ): Promise<EvalSet | undefined> => {
    if (file === undefined) return undefined;
    progress(`reading ${purpose} rows from ${path.basename(file)}`);
    const labelled = purpose === 'eval' || purpose === 'train';
    return readEvalSet(file, parent.signature, {
      purpose,
      ...(labelled && spec.labelColumn !== undefined ? { labelColumn: spec.labelColumn } : {}),
    });
  };
  const evalSet = (await read(spec.eval, 'eval'))!;
  const calibration = await read(spec.calibration, 'calibration');
  const training = await read(spec.train, 'train');
  const data = await read(spec.data, 'data');

  const workDir = await mkdtemp(path.join(tmpdir(), 'slipway-optimize-'));
  try {
    const context: PassContext = {
      signature: parent.signature,
      workDir,
      progress,
      ...(calibration === undefined ? {} : { calibration }),
      ...(training === undefined ? {} : { training }),
      ...(data === undefined ? {} : { data }),
      ...(parent.labels === undefined ? {} : { classLabels: parent.labels }),
    };
    let candidate: Uint8Array = parentBytes;
    for (const [i, pass] of passes.entries()) {
      progress(`pass ${i + 1}/${passes.length}: ${pass.name}`);
      candidate = await pass.apply(candidate, context);
    }
    progress('comparing the candidate with its parent');
    const report = await evaluateCandidate({
      parent: parentBytes,
      candidate,
      signature: parent.signature,
      evalSet,
      ...(parent.labels === undefined ? {} : { classLabels: parent.labels }),
      batchSizes: [...spec.batchSizes],
      minSeconds: spec.minSeconds,
      progress,
    });
    const gateResults = checkGates(report, gates);
    const passList = passes.map((p) => ({ name: p.name, settings: p.settings }));
    const base = { parent, report, gates: gateResults, passes: passList, candidateBytes: candidate.byteLength };
    if (gateResults.some((g) => !g.passed)) return { status: 'refused', ...base };
    if (spec.dryRun) return { status: 'dry-run', ...base };

    progress('registering the candidate');
    const parentRef = `${parent.model}@${parent.version}`;
    const names = passList.map((p) => p.name);
    const section = reportMarkdown(report, gateResults, passList, parentRef);
    const version = await deps.registry.push({
      name: parent.model,
      bytes: candidate,
      description: spec.description ?? `${names.join(' + ')} of ${parent.version}`,
      card: parent.card === null ? section : `${parent.card.trimEnd()}\n\n${section}`,
      metrics: reportMetrics(report),
      params: {
        optimize: {
          kind: spec.kind,
          parent: parentRef,
          passes: passList,
          gates: gateResults.map((g) => g.text),
          eval: path.basename(spec.eval),
          ...(deps.actor === undefined ? {} : { by: deps.actor }),
        },
      },
      lineage: { parentVersion: parent.version, passes: names, dataset: path.basename(spec.eval) },
      ...(parent.labels === undefined ? {} : { labels: parent.labels }),
    });
    return { status: 'registered', ...base, version };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** A refusal as the error the CLI prints and the API answers (409), naming each failed gate. */
export function refusalError(outcome: OptimizationOutcome): SlipwayError {
  const failed = outcome.gates.filter((g) => !g.passed);
  const lines = failed.map((g) => `${g.text} (measured ${g.actual === null ? 'n/a' : formatFigure(g.actual)})`);
  return new SlipwayError(
    'FAILED_PRECONDITION',
    `the candidate failed ${failed.length === 1 ? 'a gate' : `${failed.length} gates`}: ${lines.join('; ')}; nothing was registered`,
    { details: { gates: outcome.gates, report: outcome.report } },
  );
}

function formatFigure(value: number): string {
  return Math.abs(value) >= 1e-3 || value === 0 ? String(Number(value.toFixed(4))) : value.toExponential(2);
}
