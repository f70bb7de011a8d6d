import { invalid } from './errors.js';

/**
 * The one rule for names (issue 13 item 16). Every name a user picks ends up in a URL path
 * (`/v2/models/{name}`, `/v1/models/{name}@{alias}:predict`, `/api/v1/deployments/{name}`,
 * `/api/v1/jobs/{id}`, ...), so every name the CLI or the API accepts must be short enough for the
 * HTTP router: `MAX_PATH_PARAM_LENGTH` below is what `server/app.ts` gives Fastify, and it is
 * derived from these limits rather than chosen apart from them.
 */

/** Models, deployments (served under model URLs) and batch job ids. */
export const NAME_MAX_LENGTH = 128;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Aliases (`champion`): a letter first, so an alias never looks like a version. */
export const ALIAS_MAX_LENGTH = 64;
const ALIAS = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Feature store entities, views, services and features: identifiers, as in SQL and Parquet columns. */
export const IDENTIFIER_MAX_LENGTH = 128;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Alert rule names: lower case, as Prometheus-style rule files write them. */
export const RULE_NAME_MAX_LENGTH = 64;
const RULE_NAME = /^[a-z0-9][a-z0-9_.-]*$/;

/**
 * The longest path parameter a valid request carries: `{name}@{selector}:predict`, where the
 * selector is an alias, `latest` or a version (`X.Y.Z`, allowed up to a name's length), plus slack
 * for a verb. Fastify's default (100) made names of 101..128 characters unreachable.
 */
export const MAX_PATH_PARAM_LENGTH = NAME_MAX_LENGTH + 1 + NAME_MAX_LENGTH + ':predict'.length + 16;

function describe(name: string): string {
  return name.length > 40 ? `"${name.slice(0, 40)}…" (${name.length} characters)` : `"${name}"`;
}

function check(what: string, name: unknown, pattern: RegExp, max: number, rule: string): string {
  const text = typeof name === 'string' ? name : String(name);
  if (typeof name !== 'string' || name.length === 0 || name.length > max || !pattern.test(name)) {
    throw invalid(`invalid ${what} ${describe(text)}: ${rule} (1 to ${max} characters)`);
  }
  return name;
}

/** A model name, deployment name or job id: letters, digits, ".", "_", "-", starting with a letter or digit. */
export function checkName(what: string, name: unknown): string {
  return check(
    what,
    name,
    NAME,
    NAME_MAX_LENGTH,
    'use letters, digits, "_", "-" and ".", starting with a letter or digit',
  );
}

export function isValidName(name: string): boolean {
  return name.length <= NAME_MAX_LENGTH && NAME.test(name);
}

export function checkAliasName(alias: unknown): string {
  return check('alias', alias, ALIAS, ALIAS_MAX_LENGTH, 'use a letter, then letters, digits, "_" or "-"');
}

export function isIdentifier(name: string): boolean {
  return name.length <= IDENTIFIER_MAX_LENGTH && IDENTIFIER.test(name);
}

/** The rule `isIdentifier` applies, for messages. */
export const IDENTIFIER_RULE = `letters, digits and "_", not starting with a digit, at most ${IDENTIFIER_MAX_LENGTH} characters`;

export function isRuleName(name: string): boolean {
  return name.length <= RULE_NAME_MAX_LENGTH && RULE_NAME.test(name);
}
