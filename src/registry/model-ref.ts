import { SlipwayError, invalid } from '../core/errors.js';
import { checkName } from '../core/names.js';

/** `name`, `name@1.2.3`, `name@1` (newest active 1.x.y), `name@alias`, `name@latest`. */
export interface ModelRef {
  readonly model: string;
  /** A semver, a major alone (digits only), an alias, or 'latest'. */
  readonly selector: string;
}

export const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** Digits only: a Triton-style integer version, i.e. a major (aliases start with a letter, so none can look like one). */
const INTEGER_VERSION = /^[0-9]+$/;

/**
 * The major a Triton-style integer version selects (`1` = the newest active 1.x.y, `0` = the newest
 * active 0.x.y), or undefined when `selector` is not digits only. A leading zero (`01`) is refused.
 */
export function majorSelector(model: string, selector: string): number | undefined {
  if (!INTEGER_VERSION.test(selector)) return undefined;
  if (selector.length > 1 && selector.startsWith('0')) {
    throw invalid(
      `version "${selector}" of model "${model}": an integer version is a major number without leading zeros (0, 1, 2, ...), meaning the newest active version with that major`,
    );
  }
  return Number(selector);
}

/** Validate a model name by the one name rule (core/names.ts): every valid name is reachable over HTTP. */
export function checkModelName(name: string): string {
  return checkName('model name', name);
}

/** Parse `name[@selector]`; the selector defaults to `latest`. */
export function parseModelRef(ref: string, defaultSelector = 'latest'): ModelRef {
  const at = ref.indexOf('@');
  const model = at === -1 ? ref : ref.slice(0, at);
  const selector = at === -1 ? defaultSelector : ref.slice(at + 1);
  checkModelName(model);
  if (selector === '')
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `"${ref}": nothing after "@"; use name@1.2.3, name@1 (newest 1.x.y), name@alias or name@latest`,
    );
  return { model, selector };
}

export function isSemver(value: string): boolean {
  return SEMVER.test(value);
}
