import semver from 'semver';
import { SlipwayError, invalid } from '../core/errors.js';
import type { Signature } from '../tensor/datatypes.js';
import { diffSignatures, formatSchemaDiff } from './schema-diff.js';
import type { Bump, SchemaChange, SchemaDifference, VersionPlanner } from './types.js';

/**
 * Schema-derived semver: a new version's number follows from the diff of its signature against
 * the model's newest version. Breaking changes need MAJOR, compatible ones MINOR, and PATCH is
 * only for an identical signature (a retrain defaults to MINOR; patch must be asked for).
 */

const BUMPS: readonly Bump[] = ['patch', 'minor', 'major'];
const PLAIN_VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
/** What the pushed model is called in refusal reports. */
const PUSHED = 'the pushed model';

/** How a caller asks for a version number: derived from the schema, a bump level, or an exact number. */
export type BumpRequest = { kind: 'auto' } | { kind: 'bump'; bump: Bump } | { kind: 'exact'; version: string };

/** The planner's inputs. `newest` is undefined for a model's first version. */
export interface PlanVersionOptions {
  readonly newest: { readonly version: string; readonly signature: Signature } | undefined;
  /** Every version number the model has ever used, archived ones included; never reused. */
  readonly taken: ReadonlySet<string>;
  readonly signature: Signature;
  readonly request: BumpRequest;
}

/** The number a new version gets and the schema decision recorded with it. */
export interface VersionPlan {
  readonly version: string;
  readonly schemaChange: SchemaChange;
}

interface Triple {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

function isBump(value: string): value is Bump {
  return (BUMPS as readonly string[]).includes(value);
}

const atLeast = (bump: Bump, floor: Bump): boolean => BUMPS.indexOf(bump) >= BUMPS.indexOf(floor);
const render = (v: Triple): string => `${v.major}.${v.minor}.${v.patch}`;

/**
 * The smallest bump the differences allow: `major` if any is breaking, `minor` if any is
 * compatible, `null` when the signatures are identical (any bump, even patch, is allowed).
 */
export function requiredBump(diffs: readonly SchemaDifference[]): Bump | null {
  if (diffs.some((d) => d.severity === 'breaking')) return 'major';
  return diffs.length > 0 ? 'minor' : null;
}

/** Parses a user-given version; only plain `X.Y.Z` is accepted (no `v` prefix, prerelease or build). */
function parseExact(version: string): Triple {
  const match = PLAIN_VERSION.exec(version);
  const parsed = match === null ? null : semver.parse(version);
  if (parsed === null) {
    throw invalid(
      `version "${version}" is not a plain semver version X.Y.Z (no "v" prefix, prerelease or build metadata)`,
    );
  }
  return parsed;
}

/** Parses a stored version; the store only holds numbers this module produced, so failure is a bug. */
function parseStored(version: string): Triple {
  const parsed = semver.parse(version);
  if (parsed === null) throw new SlipwayError('INTERNAL', `stored version "${version}" is not valid semver`);
  return parsed;
}

function increment(v: Triple, bump: Bump): Triple {
  switch (bump) {
    case 'major':
      return { major: v.major + 1, minor: 0, patch: 0 };
    case 'minor':
      return { major: v.major, minor: v.minor + 1, patch: 0 };
    case 'patch':
      return { major: v.major, minor: v.minor, patch: v.patch + 1 };
  }
}

/** The first number above `from` at `bump` level that is not taken (taken numbers are skipped at the same level). */
function nextFree(from: Triple, bump: Bump, taken: ReadonlySet<string>): string {
  let candidate = increment(from, bump);
  while (taken.has(render(candidate))) candidate = increment(candidate, bump);
  return render(candidate);
}

/** The bump an exact number represents relative to `from`: the most significant part that grew. */
function bumpBetween(from: Triple, to: Triple): Bump {
  if (to.major > from.major) return 'major';
  if (to.minor > from.minor) return 'minor';
  return 'patch';
}

interface Comparison {
  readonly newest: string;
  readonly base: Triple;
  readonly taken: ReadonlySet<string>;
  readonly required: Bump;
  readonly differences: readonly SchemaDifference[];
}

/** CONFLICT for a bump below the required one; the message lists every difference. */
function tooSmall(c: Comparison, refused: string): SlipwayError {
  const suggestion = nextFree(c.base, c.required, c.taken);
  const need =
    c.required === 'major'
      ? `the schema change is breaking and needs a major bump (${suggestion} or later)`
      : `the schema changed compatibly and needs a minor bump (${suggestion} or later; patch is only for an identical schema)`;
  const report = formatSchemaDiff(c.differences, { before: c.newest, after: PUSHED });
  return new SlipwayError('CONFLICT', `${refused}, but ${need}:\n${report}`, {
    details: { requiredBump: c.required, differences: c.differences },
  });
}

function planFirst(taken: ReadonlySet<string>, request: BumpRequest): VersionPlan {
  const schemaChange: SchemaChange = { comparedTo: null, requiredBump: null, appliedBump: 'initial', differences: [] };
  if (request.kind !== 'exact') {
    // 1.0.0 unless every earlier number is taken (a model whose versions were all archived).
    return { version: nextFree({ major: 0, minor: 0, patch: 0 }, 'major', taken), schemaChange };
  }
  parseExact(request.version);
  assertFree(request.version, taken);
  return { version: request.version, schemaChange };
}

function assertFree(version: string, taken: ReadonlySet<string>): void {
  if (taken.has(version)) {
    throw new SlipwayError(
      'ALREADY_EXISTS',
      `version ${version} already exists (version numbers are never reused, even when archived)`,
    );
  }
}

/**
 * Decides the number of a new version from the diff of `signature` against the newest version's.
 *
 * - first version: `1.0.0` (or the exact number asked for), `appliedBump: 'initial'`;
 * - `auto`: major when anything is breaking, else minor (a retrain is MINOR; patch must be asked for);
 * - `bump`: the level asked for, refused (CONFLICT) below the required bump;
 * - `exact`: must be plain `X.Y.Z` (INVALID_ARGUMENT), free (ALREADY_EXISTS), greater than the
 *   newest and a large enough bump (CONFLICT).
 *
 * Numbers in `taken` are never reused: auto and bump keep bumping at the same level until free.
 *
 * @example
 * planVersion({ newest: { version: '1.2.0', signature: v1 }, taken, signature: v2, request: { kind: 'auto' } });
 * // { version: '2.0.0', schemaChange: { comparedTo: '1.2.0', requiredBump: 'major', appliedBump: 'major', differences } }
 */
export function planVersion(options: PlanVersionOptions): VersionPlan {
  const { newest, taken, signature, request } = options;
  if (newest === undefined) return planFirst(taken, request);

  const differences = diffSignatures(newest.signature, signature);
  const required = requiredBump(differences);
  const base = parseStored(newest.version);
  const plan = (version: string, appliedBump: Bump): VersionPlan => ({
    version,
    schemaChange: { comparedTo: newest.version, requiredBump: required, appliedBump, differences },
  });
  const comparison = (floor: Bump): Comparison => ({
    newest: newest.version,
    base,
    taken,
    required: floor,
    differences,
  });

  switch (request.kind) {
    case 'auto': {
      const bump = required === 'major' ? 'major' : 'minor';
      return plan(nextFree(base, bump, taken), bump);
    }
    case 'bump': {
      if (required !== null && !atLeast(request.bump, required)) {
        throw tooSmall(comparison(required), `a ${request.bump} bump from ${newest.version} is not enough`);
      }
      return plan(nextFree(base, request.bump, taken), request.bump);
    }
    case 'exact': {
      const wanted = parseExact(request.version);
      assertFree(request.version, taken);
      if (!semver.gt(request.version, newest.version)) {
        throw new SlipwayError(
          'CONFLICT',
          `version ${request.version} is not greater than the newest version ${newest.version}`,
        );
      }
      const bump = bumpBetween(base, wanted);
      if (required !== null && !atLeast(bump, required)) {
        throw tooSmall(comparison(required), `version ${request.version} is a ${bump} bump from ${newest.version}`);
      }
      return plan(request.version, bump);
    }
  }
}

/**
 * Adapts {@link planVersion} to the store's `VersionPlanner`, which is called inside the push
 * transaction with the newest version and every taken number.
 */
export function versionPlanner(options: { signature: Signature; request: BumpRequest }): VersionPlanner {
  return (newest, taken) => planVersion({ newest, taken, signature: options.signature, request: options.request });
}

/**
 * Reads a bump request from CLI flags or HTTP fields: `bump` is one of auto|major|minor|patch,
 * `version` an exact plain `X.Y.Z`; neither means auto; both is INVALID_ARGUMENT.
 *
 * @example
 * parseBumpRequest({ bump: 'major' }); // { kind: 'bump', bump: 'major' }
 * parseBumpRequest({ version: '2.0.0' }); // { kind: 'exact', version: '2.0.0' }
 */
export function parseBumpRequest(input: { bump?: string; version?: string }): BumpRequest {
  const { bump, version } = input;
  if (bump !== undefined && version !== undefined) {
    throw invalid(`give either a bump ("${bump}") or an exact version ("${version}"), not both`);
  }
  if (version !== undefined) {
    parseExact(version);
    return { kind: 'exact', version };
  }
  if (bump === undefined || bump === 'auto') return { kind: 'auto' };
  if (isBump(bump)) return { kind: 'bump', bump };
  throw invalid(`bump must be one of auto, major, minor, patch (got "${bump}")`);
}
