/**
 * Drift detection against reference profiles (issue 4 §5). A version's reference comes from a
 * training file (its inputs, plus the model's own outputs on them) or from the first N requests
 * it served. A check reads an even sample of the window's logged predictions (bounded memory,
 * whatever the window), profiles each input feature and output, and compares them with
 * Evidently's default tests (src/stats/drift.ts).
 */
import { formatDuration } from '../core/duration.js';
import { SlipwayError, invalid } from '../core/errors.js';
import type { RegistryService } from '../registry/registry-service.js';
import type { VersionRecord } from '../registry/types.js';
import {
  DEFAULT_DRIFT_OPTIONS,
  compareColumn,
  datasetDrift,
  resolveDriftOptions,
  type ColumnProfile,
  type DriftOptions,
} from '../stats/index.js';
import type { Tensor } from '../tensor/datatypes.js';
import type { DriftReport } from './drift-report.js';
import type { DriftStore, ReferenceProfile } from './drift-store.js';
import { ProfileSet } from './feature-columns.js';
import type { PredictionStore } from './prediction-store.js';
import { readInputTensors } from './reference-file.js';

/** What `PUT /api/v1/models/{m}/drift-settings` may set. */
const DRIFT_SETTING_KEYS: ReadonlySet<string> = new Set([...Object.keys(DEFAULT_DRIFT_OPTIONS), 'test', 'columnTests']);

/** Runs a version on tensors without logging or counting it (for reference outputs). */
export type PredictUnobserved = (record: VersionRecord, inputs: readonly Tensor[]) => Promise<readonly Tensor[]>;

export interface DriftServiceOptions {
  readonly store: DriftStore;
  readonly predictions: PredictionStore;
  readonly registry: RegistryService;
  readonly predict: PredictUnobserved;
  /** Logged predictions read per check at most (an even sample of the window); default 10,000. */
  readonly maxRows?: number;
  /** Build a missing reference from the first N requests a version served (0 = never); default 1000. */
  readonly autoReferenceRows?: number;
  readonly now?: () => number;
  readonly onError?: (error: unknown) => void;
}

export interface DriftCheck {
  readonly model: string;
  /** semver, alias or undefined (latest). */
  readonly selector?: string;
  readonly windowMs: number;
  /** End of the window (epoch ms); default now. */
  readonly until?: number;
  /** Store the result (default true). */
  readonly save?: boolean;
}

export class DriftService {
  private readonly maxRows: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: DriftServiceOptions) {
    this.maxRows = options.maxRows ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Profile a training file as the version's reference. `ignore`: file columns that are not inputs (e.g. the label). */
  async setReferenceFromFile(
    model: string,
    selector: string | undefined,
    file: string,
    ignore: readonly string[] = [],
  ): Promise<ReferenceProfile> {
    const record = await this.options.registry.resolve(model, selector ?? 'latest');
    const settings = resolveDriftOptions(await this.options.store.getSettings(model));
    const features = new ProfileSet('input', { maxSample: settings.maxSample });
    const outputs = new ProfileSet('output', { maxSample: settings.maxSample });
    let rows = 0;
    for await (const inputs of readInputTensors(file, record.signature, { ignore })) {
      features.add(inputs);
      outputs.add(await this.options.predict(record, inputs));
      rows += inputs[0]?.shape[0] ?? 0;
    }
    if (rows === 0) throw invalid(`reference file ${file} holds no rows`);
    return this.saveReference(record, 'file', file, rows, features, outputs);
  }

  /** Use the first `rows` requests the version served (as logged) as its reference. */
  async setReferenceFromServed(model: string, selector: string | undefined, rows = 1000): Promise<ReferenceProfile> {
    const record = await this.options.registry.resolve(model, selector ?? 'latest');
    const logged = await this.options.predictions.first({ model: record.model, version: record.version, limit: rows });
    const settings = resolveDriftOptions(await this.options.store.getSettings(model));
    if (logged.length < settings.minRows) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `${record.model}@${record.version} has ${logged.length} logged predictions; a reference needs at least ${settings.minRows}`,
      );
    }
    const features = new ProfileSet('input', { maxSample: settings.maxSample });
    const outputs = new ProfileSet('output', { maxSample: settings.maxSample });
    for (const p of logged) {
      features.add(p.inputs);
      outputs.add(p.outputs);
    }
    return this.saveReference(
      record,
      'served',
      `first ${logged.length} served requests`,
      logged.length,
      features,
      outputs,
    );
  }

  private async saveReference(
    record: VersionRecord,
    source: 'file' | 'served',
    detail: string,
    rows: number,
    features: ProfileSet,
    outputs: ProfileSet,
  ): Promise<ReferenceProfile> {
    const profile: ReferenceProfile = {
      model: record.model,
      version: record.version,
      source,
      sourceDetail: detail,
      rows,
      features: features.build(),
      outputs: outputs.build(),
      skipped: [...new Set([...features.skipped(), ...outputs.skipped()])],
      createdAt: new Date(this.now()).toISOString(),
    };
    await this.options.store.putReference(profile);
    return profile;
  }

  async getReference(model: string, selector?: string): Promise<ReferenceProfile> {
    const record = await this.options.registry.resolve(model, selector ?? 'latest');
    const reference = await this.options.store.getReference(record.model, record.version);
    if (reference === undefined)
      throw new SlipwayError(
        'NOT_FOUND',
        `${record.model}@${record.version} has no reference profile; set one with \`slipway reference set\``,
      );
    return reference;
  }

  /** Compare a window of logged predictions with the version's reference. */
  async check(request: DriftCheck): Promise<DriftReport> {
    const record = await this.options.registry.resolve(request.model, request.selector ?? 'latest');
    const until = request.until ?? this.now();
    const since = until - request.windowMs;
    const settings = await this.options.store.getSettings(record.model);
    const options = resolveDriftOptions(settings);
    const reference = await this.options.store.getReference(record.model, record.version);
    const filter = { model: record.model, version: record.version, since, until };
    const base = {
      model: record.model,
      version: record.version,
      window: formatDuration(request.windowMs),
      since,
      until,
      computedAt: new Date(this.now()).toISOString(),
    };
    const empty = { drifted: null, share: 0, driftedColumns: 0, evaluatedColumns: 0 };
    if (reference === undefined) {
      return {
        ...base,
        status: 'no_reference',
        reference: null,
        currentRows: await this.options.predictions.count(filter),
        sampledRows: 0,
        dataset: empty,
        features: [],
        outputs: [],
        skipped: [],
      };
    }
    const currentRows = await this.options.predictions.count(filter);
    const sampled =
      currentRows === 0 ? [] : await this.options.predictions.sample({ ...filter, maxRows: this.maxRows });
    const features = new ProfileSet('input', { maxSample: options.maxSample });
    const outputs = new ProfileSet('output', { maxSample: options.maxSample });
    for (const p of sampled) {
      features.add(p.inputs);
      outputs.add(p.outputs);
    }
    const compare = (refs: readonly ColumnProfile[], current: ColumnProfile[]) => {
      const byName = new Map(current.map((c) => [c.name, c]));
      return refs.map((ref) => compareColumn(ref, byName.get(ref.name) ?? emptyProfile(ref), settings));
    };
    const featureDrift = compare(reference.features, features.build());
    const outputDrift = compare(reference.outputs, outputs.build());
    const dataset = datasetDrift(featureDrift, options.driftShare);
    const report: DriftReport = {
      ...base,
      status: dataset.evaluatedColumns === 0 ? 'not_enough_data' : 'ok',
      reference: { source: reference.source, detail: reference.sourceDetail, rows: reference.rows },
      currentRows,
      sampledRows: sampled.length,
      dataset,
      features: featureDrift,
      outputs: outputDrift,
      skipped: reference.skipped,
    };
    if (request.save !== false) await this.options.store.putResult(report);
    return report;
  }

  results(filter: { model?: string; version?: string; limit?: number }): Promise<DriftReport[]> {
    return this.options.store.results(filter);
  }

  async settings(model: string): Promise<Partial<DriftOptions>> {
    return this.options.store.getSettings(model);
  }

  /** Replace a model's thresholds (validated; every problem reported at once). */
  async setSettings(model: string, settings: Partial<DriftOptions>): Promise<Partial<DriftOptions>> {
    await this.options.registry.getModel(model);
    // Every key names a setting: an unknown one was stored and ignored (and a 10k-deep one overflowed
    // the stack when stored, found by test/fuzz-routes.test.ts).
    const unknown = Object.keys(settings).filter((key) => !DRIFT_SETTING_KEYS.has(key));
    if (unknown.length > 0)
      throw invalid(
        `unknown drift setting${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k.slice(0, 60)}"`).join(', ')}; known: ${[...DRIFT_SETTING_KEYS].join(', ')}`,
      );
    resolveDriftOptions(settings);
    await this.options.store.putSettings(model, settings);
    return settings;
  }

  /**
   * One scheduled pass: give versions without a reference one from their first served requests
   * (when enough were logged), then check every referenced version that served in the window.
   */
  async runScheduled(windowMs: number): Promise<DriftReport[]> {
    const reports: DriftReport[] = [];
    const autoRows = this.options.autoReferenceRows ?? 1000;
    const referenced = new Set((await this.options.store.referencedVersions()).map((v) => `${v.model}@${v.version}`));
    for (const model of await this.options.registry.listModels()) {
      for (const version of await this.options.registry.listVersions(model.name)) {
        const key = `${model.name}@${version.version}`;
        try {
          if (!referenced.has(key)) {
            if (autoRows <= 0) continue;
            if ((await this.options.predictions.count({ model: model.name, version: version.version })) < autoRows)
              continue;
            await this.setReferenceFromServed(model.name, version.version, autoRows);
          }
          const until = this.now();
          if (
            (await this.options.predictions.count({
              model: model.name,
              version: version.version,
              since: until - windowMs,
              until,
            })) === 0
          )
            continue;
          reports.push(await this.check({ model: model.name, selector: version.version, windowMs, until }));
        } catch (error) {
          this.options.onError?.(error);
        }
      }
    }
    return reports;
  }

  /** Run {@link runScheduled} every `intervalMs` over the last `windowMs`; passes never overlap. */
  start(intervalMs: number, windowMs: number): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.runScheduled(windowMs)
        .then(
          () => undefined,
          (error: unknown) => this.options.onError?.(error),
        )
        .finally(() => (this.running = undefined));
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

function emptyProfile(reference: ColumnProfile): ColumnProfile {
  return {
    name: reference.name,
    kind: reference.kind,
    count: 0,
    nulls: 0,
    sample: [],
    categories: {},
    distinct: 0,
    distinctExact: true,
  };
}
