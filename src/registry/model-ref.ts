import { SlipwayError } from '../core/errors.js';
import { checkName } from '../core/names.js';

/** `name`, `name@1.2.3`, `name@alias`, `name@latest`. */
export interface ModelRef {
  readonly model: string;
  /** A semver, an alias, or 'latest'. */
  readonly selector: string;
}

export const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

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
  if (selector === '') throw new SlipwayError('INVALID_ARGUMENT', `"${ref}": nothing after "@"; use name@1.2.3, name@alias or name@latest`);
  return { model, selector };
}

export function isSemver(value: string): boolean {
  return SEMVER.test(value);
}
