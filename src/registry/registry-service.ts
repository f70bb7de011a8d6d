import { SlipwayError, notFound } from '../core/errors.js';
import { ARTIFACT_LEASE_TTL_MS, type ArtifactLease } from './artifact-leases.js';
import { digestOf, type ArtifactStore } from './artifact-store.js';
import { duplicateArtifactError } from './duplicates.js';
import { checkModelName, isSemver, majorSelector, parseModelRef } from './model-ref.js';
import { checkLabels, checkLabelsFit, labelsFitSomeOutput } from './labels.js';
import { declaredLabels, readOnnxModel, type OnnxModelInfo } from './onnx/read-onnx.js';
import type { RegistryStore } from './registry-store.js';
import { diffSignatures, formatSchemaDiff } from './schema-diff.js';
import { parseBumpRequest, planVersion } from './semver-policy.js';
import { parseServingConfig, type ServingConfig } from './serving-config.js';
import type { AliasEvent, Lineage, ModelSummary, SchemaDifference, VersionRecord } from './types.js';

/** The largest major the versions table can hold (a 32-bit integer column, store/migrations/0001-registry.ts). */
const MAX_MAJOR = 2 ** 31 - 1;

/** What a push carries besides the model bytes. */
export interface PushInput {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly description?: string;
  /** Markdown model card. */
  readonly card?: string;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly tags?: Readonly<Record<string, string>>;
  readonly lineage?: Lineage;
  /** 'auto' (default), 'major', 'minor' or 'patch'. */
  readonly bump?: string;
  /** An exact X.Y.Z, checked against the schema diff. */
  readonly version?: string;
  /** Register bytes a version of this model already has (refused by default: ALREADY_EXISTS naming that version). */
  readonly allowDuplicate?: boolean;
  /**
   * Class labels, index = class index (`--labels file`); they replace any the ONNX file declares.
   * Refused (400) unless their count equals the fixed last dimension of a numeric output.
   */
  readonly labels?: readonly string[];
  /** Names the labels in messages, e.g. `labels file labels.txt` (default `"labels"`). */
  readonly labelsSource?: string;
}

/** A planned push that was not stored (`dryRun`). */
export interface PushPlan {
  readonly model: string;
  readonly version: string;
  readonly comparedTo: string | null;
  readonly differences: readonly SchemaDifference[];
  readonly report: string;
}

export interface RegistryServiceOptions {
  readonly store: RegistryStore;
  readonly artifacts: ArtifactStore;
  /** Loads the stored artifact to prove a runtime can run it; a failure refuses the push and stores nothing. */
  readonly verifyArtifact?: (path: string) => Promise<void>;
  /** Extra users of a version that block archiving (deployments). */
  readonly versionUsers?: (model: string, version: string) => Promise<string[]>;
  /** How long a push may take from claiming its blob to committing its version (default one hour). */
  readonly artifactLeaseTtlMs?: number;
}

/**
 * The registry's verbs: push (signature, content-addressed artifact, semver from the schema diff),
 * resolve `name@selector`, aliases, archive. Transport-neutral: the CLI and the HTTP API call this.
 */
export class RegistryService {
  constructor(private readonly options: RegistryServiceOptions) {}

  /**
   * Store a new version. Nothing is stored (no blob, no row) when the file or the version is refused.
   * The blob is claimed by a lease before it is written or reused, and the lease is handed to the
   * version row in the insert's transaction; a refusal hands the digest to the collector, which
   * deletes the blob only if no version and no other push's lease names it (registry/artifact-leases.ts).
   */
  async push(input: PushInput): Promise<VersionRecord> {
    const name = checkModelName(input.name);
    const request = parseBumpRequest({ bump: input.bump, version: input.version });
    const info = readOnnxModel(input.bytes);
    const labels = versionLabels(input, info);
    const { artifacts, store } = this.options;
    const sha256 = digestOf(input.bytes);
    const lease = await store.leaseArtifact(sha256, this.options.artifactLeaseTtlMs ?? ARTIFACT_LEASE_TTL_MS);
    try {
      const blob = await artifacts.put(input.bytes, sha256);
      await this.options.verifyArtifact?.(artifacts.localPath(blob.sha256));
      return await store.insertVersion(
        {
          model: name,
          modelDescription: input.description ?? '',
          description: input.description ?? '',
          signature: info.signature,
          artifact: { sha256: blob.sha256, sizeBytes: blob.sizeBytes, format: 'onnx' },
          card: input.card ?? null,
          metrics: checkMetrics(input.metrics ?? {}),
          params: input.params ?? {},
          tags: input.tags ?? {},
          lineage: input.lineage ?? {},
          ...(labels === undefined ? {} : { labels }),
        },
        (newest, taken) => planVersion({ newest, taken, signature: info.signature, request }),
        { lease, refuseDuplicate: input.allowDuplicate !== true },
      );
    } catch (error) {
      await this.#release(lease);
      throw error;
    }
  }

  /**
   * Delete every blob no version and no live push lease references, and temporary files of writes
   * that crashed; safe while other processes push (the decision is made under the artifact lock).
   */
  async collectGarbage(): Promise<{ removed: string[]; temporaries: number }> {
    const { artifacts, store } = this.options;
    const temporaries = await artifacts.removeStaleTemporaries(
      this.options.artifactLeaseTtlMs ?? ARTIFACT_LEASE_TTL_MS,
    );
    const removed = await store.collectArtifacts(await artifacts.list(), (sha256) => artifacts.delete(sha256));
    return { removed, temporaries };
  }

  /** After a refused push: drop its lease and delete its blob unless something else references it. */
  async #release(lease: ArtifactLease): Promise<void> {
    const { artifacts, store } = this.options;
    try {
      await store.collectArtifacts([lease.sha256], (sha256) => artifacts.delete(sha256), { release: lease });
    } catch {
      // The push's own refusal is what the caller must see. A lease left behind expires, and
      // collectGarbage then deletes the blob if nothing references it.
    }
  }

  /** What `push` would do, without storing anything: the version it would get and the schema diff. */
  async planPush(
    input: Pick<PushInput, 'name' | 'bytes' | 'bump' | 'version' | 'allowDuplicate' | 'labels' | 'labelsSource'>,
  ): Promise<PushPlan> {
    const name = checkModelName(input.name);
    const request = parseBumpRequest({ bump: input.bump, version: input.version });
    const info = readOnnxModel(input.bytes);
    // A dry run refuses the labels a push would refuse.
    versionLabels(input, info);
    const versions = await this.options.store.listVersions(name, { includeArchived: true });
    const sha256 = digestOf(input.bytes);
    // The push would refuse it too; the oldest version with these bytes, as the store names it.
    const same = versions.filter((v) => v.artifact.sha256 === sha256).at(-1);
    if (same !== undefined && input.allowDuplicate !== true) throw duplicateArtifactError(name, same, sha256);
    const newest = versions[0];
    const taken = new Set(versions.map((v) => v.version));
    const plan = planVersion({ newest, taken, signature: info.signature, request });
    const differences = newest ? diffSignatures(newest.signature, info.signature) : [];
    return {
      model: name,
      version: plan.version,
      comparedTo: newest?.version ?? null,
      differences,
      report: newest
        ? formatSchemaDiff(differences, { before: newest.version, after: plan.version })
        : 'first version of a new model',
    };
  }

  /**
   * Resolve `name`, `name@1.2.3`, `name@1`, `name@alias` or `name@latest` (also as separate model and selector).
   * A major alone (digits only, Triton-style integer version) is the newest active version with that
   * major: `1` moves like `latest` when a 1.x.y is pushed or archived; `0` is the newest 0.x.y; `01` is refused.
   * Archived versions resolve only by exact number.
   */
  async resolve(ref: string, selector?: string): Promise<VersionRecord> {
    const parsed = selector === undefined ? parseModelRef(ref) : { model: checkModelName(ref), selector };
    const { store } = this.options;
    if (parsed.selector === 'latest') {
      const latest = await store.latestVersion(parsed.model);
      if (latest) return latest;
      throw notFound(
        (await store.getModel(parsed.model))
          ? `model "${parsed.model}" has no active version`
          : `model "${parsed.model}" does not exist`,
      );
    }
    const major = majorSelector(parsed.model, parsed.selector);
    if (major !== undefined) {
      // Past the integer column's range no version can have that major (and PostgreSQL would refuse the query).
      const found = major <= MAX_MAJOR ? await store.latestVersion(parsed.model, { major }) : undefined;
      if (found) return found;
      throw notFound(
        (await store.getModel(parsed.model))
          ? `model "${parsed.model}" has no active version with major ${parsed.selector} (${parsed.selector}.x.y)`
          : `model "${parsed.model}" does not exist`,
      );
    }
    const version = isSemver(parsed.selector)
      ? parsed.selector
      : await store.resolveAlias(parsed.model, parsed.selector);
    const record = version === undefined ? undefined : await store.getVersion(parsed.model, version);
    if (record) return record;
    if (!(await store.getModel(parsed.model))) throw notFound(`model "${parsed.model}" does not exist`);
    throw notFound(
      isSemver(parsed.selector)
        ? `model "${parsed.model}" has no version ${parsed.selector}`
        : `model "${parsed.model}" has no alias "${parsed.selector}" (use a version like 1.2.3, a major like 1, an alias, or latest)`,
    );
  }

  listModels(): Promise<ModelSummary[]> {
    return this.options.store.listModels();
  }

  async getModel(name: string): Promise<ModelSummary> {
    const model = await this.options.store.getModel(checkModelName(name));
    if (!model) throw notFound(`model "${name}" does not exist`);
    return model;
  }

  async listVersions(name: string, options: { includeArchived?: boolean } = {}): Promise<VersionRecord[]> {
    await this.getModel(name);
    return this.options.store.listVersions(name, options);
  }

  /** Point an alias at a version (given as a number, another alias, or latest). */
  async setAlias(model: string, alias: string, target: string, reason?: string, actor?: string): Promise<AliasEvent> {
    const record = await this.resolve(model, target);
    return this.options.store.setAlias(model, alias, record.version, reason, actor);
  }

  /** `actor` (a token name, 'anonymous' or 'cli:<user>') is kept with the alias event. */
  removeAlias(model: string, alias: string, reason?: string, actor?: string): Promise<AliasEvent> {
    return this.options.store.removeAlias(checkModelName(model), alias, reason, actor);
  }

  aliasHistory(model: string, alias?: string): Promise<AliasEvent[]> {
    return this.options.store.aliasHistory(checkModelName(model), alias);
  }

  async archive(model: string, version: string, reason?: string): Promise<VersionRecord> {
    if (!isSemver(version))
      throw new SlipwayError('INVALID_ARGUMENT', `archive takes an exact version like 1.2.3, got "${version}"`);
    const users = this.options.versionUsers;
    return this.options.store.archiveVersion(
      checkModelName(model),
      version,
      users ? { reason, inUse: users } : { reason },
    );
  }

  async getServingConfig(model: string): Promise<ServingConfig> {
    const config = await this.options.store.getServingConfig(checkModelName(model));
    if (config === undefined) throw notFound(`model "${model}" does not exist`);
    return config;
  }

  /** Validate and store a model's serving settings; they apply when its versions are next (re)loaded. */
  async setServingConfig(model: string, config: unknown): Promise<ServingConfig> {
    return this.options.store.setServingConfig(checkModelName(model), parseServingConfig(config));
  }

  /** Local path of a version's artifact, for the runtime. */
  artifactPath(record: VersionRecord): string {
    return this.options.artifacts.localPath(record.artifact.sha256);
  }
}

/**
 * The labels a new version keeps: the ones given at push, else the ones the ONNX file declares
 * (metadata labels must fit an output; a classifier node's are kept only when they do).
 */
function versionLabels(
  input: Pick<PushInput, 'labels' | 'labelsSource'>,
  info: OnnxModelInfo,
): readonly string[] | undefined {
  if (input.labels !== undefined) {
    const source = input.labelsSource ?? '"labels"';
    const labels = checkLabels(input.labels, source);
    checkLabelsFit(labels, info.signature, source);
    return labels;
  }
  const declared = declaredLabels(info);
  if (declared === undefined) return undefined;
  if (declared.from === 'metadata') checkLabelsFit(declared.values, info.signature, declared.source);
  return labelsFitSomeOutput(declared.values, info.signature) ? declared.values : undefined;
}

function checkMetrics(metrics: Readonly<Record<string, unknown>>): Readonly<Record<string, number>> {
  for (const [key, value] of Object.entries(metrics)) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `metric "${key}" must be a finite number, got ${JSON.stringify(value)}`,
      );
    }
  }
  return metrics as Readonly<Record<string, number>>;
}
