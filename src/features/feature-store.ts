import path from 'node:path';
import { SlipwayError, notFound } from '../core/errors.js';
import type { Signature } from '../tensor/datatypes.js';
import type { Database } from '../store/database.js';
import type { FeatureDefinitionsStore } from './definitions/definitions-store.js';
import { planApply, type ApplyPlan } from './definitions/plan.js';
import type {
  AppliedDefinitions,
  EntityDefinition,
  FeatureDefinitions,
  JoinKey,
  StoredService,
  ViewDefinition,
} from './definitions/types.js';
import { bindModel, type ModelBinding } from './model-binding.js';
import type { OnlineStore } from './online/online-store.js';

export interface FeatureStoreOptions {
  readonly definitions: FeatureDefinitionsStore;
  /** Borrowed: whoever opened it (platform.ts) closes it. */
  readonly online: OnlineStore;
  /** The metadata database, for views whose source is `{ table }`. */
  readonly database: Database;
  /** Root of the offline push log: `<offlineDir>/<view>/<epoch ms>-<uuid>.parquet`. */
  readonly offlineDir: string;
  /** The signature of `model@version`; NOT_FOUND when there is no such version. */
  readonly signatureOf: (modelAtVersion: string) => Promise<Signature>;
  /** How long applied definitions are cached for the hot path (ms; default 1000). */
  readonly cacheMs?: number;
  /** Pushed rows stamped later than now + this are refused (ms; default 5 minutes, `SLIPWAY_FEATURE_MAX_FUTURE_SKEW`). */
  readonly maxFutureSkewMs?: number;
}

/** Default of {@link FeatureStoreOptions.maxFutureSkewMs} (the same as `loadConfig`'s). */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 300_000;

/**
 * The feature store's entry point: applied definitions (cached for the hot path, like model
 * resolution), the online store and where the offline data lives. Training sets, materialization,
 * push, online retrieval and the skew check are functions over it (offline/, online-retrieval.ts).
 */
export class FeatureStore {
  readonly online: OnlineStore;
  readonly database: Database;
  readonly offlineDir: string;
  readonly store: FeatureDefinitionsStore;
  readonly maxFutureSkewMs: number;
  readonly #signatureOf: (modelAtVersion: string) => Promise<Signature>;
  readonly #cacheMs: number;
  #cached: { at: number; value: Promise<AppliedDefinitions> } | undefined;

  constructor(options: FeatureStoreOptions) {
    this.online = options.online;
    this.database = options.database;
    this.offlineDir = options.offlineDir;
    this.store = options.definitions;
    this.#signatureOf = options.signatureOf;
    this.#cacheMs = options.cacheMs ?? 1000;
    this.maxFutureSkewMs = options.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
  }

  /** The applied definitions, at most `cacheMs` old. */
  definitions(): Promise<AppliedDefinitions> {
    const now = Date.now();
    if (this.#cached === undefined || now - this.#cached.at > this.#cacheMs) {
      const value = this.store.load().catch((error: unknown) => {
        this.#cached = undefined;
        throw error;
      });
      this.#cached = { at: now, value };
    }
    return this.#cached.value;
  }

  /** What applying `desired` would do; bindings to models that do not fit are refused too. */
  async plan(desired: FeatureDefinitions): Promise<ApplyPlan> {
    const plan = planApply(await this.store.load(), desired);
    return { changes: plan.changes, refused: [...plan.refused, ...(await this.#bindingProblems(desired))] };
  }

  /** Apply `desired` (FAILED_PRECONDITION listing the reasons when the plan refuses anything). */
  async apply(desired: FeatureDefinitions): Promise<ApplyPlan> {
    const problems = await this.#bindingProblems(desired);
    if (problems.length > 0) throw new SlipwayError('FAILED_PRECONDITION', `refused: ${problems.join('; ')}`);
    const plan = await this.store.apply(desired);
    this.#cached = undefined;
    return plan;
  }

  async #bindingProblems(desired: FeatureDefinitions): Promise<string[]> {
    const problems: string[] = [];
    for (const service of desired.services) {
      if (service.model === undefined) continue;
      const bound = await this.#bind(service.features, service.model);
      if ('problems' in bound)
        problems.push(
          ...bound.problems.map((p) => `feature service "${service.name}" cannot feed ${service.model}: ${p}`),
        );
    }
    return problems;
  }

  async #bind(features: readonly string[], model: string): Promise<{ binding: ModelBinding } | { problems: string[] }> {
    let signature: Signature;
    try {
      signature = await this.#signatureOf(model);
    } catch (error) {
      if (error instanceof SlipwayError && error.code === 'NOT_FOUND') return { problems: [error.message] };
      throw error;
    }
    return bindModel(features, signature);
  }

  /** How `service` feeds its bound model; FAILED_PRECONDITION when it has no binding or it no longer fits. */
  async binding(service: StoredService): Promise<ModelBinding> {
    if (service.model === undefined)
      throw new SlipwayError('FAILED_PRECONDITION', `feature service "${service.name}" is not bound to a model`);
    const bound = await this.#bind(service.features, service.model);
    if ('problems' in bound)
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `feature service "${service.name}" cannot feed ${service.model}: ${bound.problems.join('; ')}`,
      );
    return bound.binding;
  }

  async service(name: string): Promise<StoredService> {
    const service = (await this.definitions()).services.find((s) => s.name === name);
    if (service === undefined) throw notFound(`feature service "${name}" does not exist`);
    return service;
  }

  /** The service bound to `model@version`, if any (inference by entity). */
  async serviceForModel(model: string, version: string): Promise<StoredService | undefined> {
    return (await this.definitions()).services.find((s) => s.model === `${model}@${version}`);
  }

  async view(name: string): Promise<ViewDefinition> {
    const view = (await this.definitions()).views.find((v) => v.name === name);
    if (view === undefined) throw notFound(`feature view "${name}" does not exist`);
    return view;
  }

  /** A view's join keys, in entity order then key order. */
  async joinKeys(view: ViewDefinition): Promise<JoinKey[]> {
    const entities = (await this.definitions()).entities;
    return joinKeysOf(view, entities);
  }

  /** Where pushed rows of `view` are appended for training (Parquet files, one per push). */
  pushLogDir(view: string): string {
    return path.join(this.offlineDir, view);
  }
}

/** A view's join keys, in entity order then key order. */
export function joinKeysOf(view: ViewDefinition, entities: readonly EntityDefinition[]): JoinKey[] {
  return view.entities.flatMap((name) => entities.find((e) => e.name === name)?.joinKeys ?? []);
}
