/**
 * Whether a server asks for tokens (README "Security", modes). `auto` (the default): off only when
 * bound to a loopback address and no usable token exists, so the demo and a laptop need no setup;
 * a non-loopback bind with no token refuses to start. `required` and `off` (SLIPWAY_AUTH) override.
 */
import { SlipwayError } from '../core/errors.js';
import type { AuthSetting } from '../core/auth-config.js';

export interface AuthModeInput {
  readonly setting: AuthSetting;
  readonly host: string;
  /** Tokens neither revoked nor expired (the bootstrap token included, once created). */
  readonly usableTokens: number;
}

export interface AuthMode {
  /** Requests need a token now. */
  readonly enabled: boolean;
  /**
   * Auth is off for now but a token created later must turn it on (auto mode on loopback): the
   * server looks for tokens every second (authenticator.ts `watchForTokens`).
   */
  readonly watchForTokens: boolean;
}

export function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return (
    bare === 'localhost' ||
    bare === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
    bare === '::ffff:127.0.0.1'
  );
}

/** How to create the first token: what a server that refuses to start says. */
export function noTokenMessage(host: string): string {
  return (
    `refusing to serve on ${host} without authentication: no API token exists. ` +
    `Create the first admin token with \`slipway token create admin --role admin\` (same SLIPWAY_HOME or SLIPWAY_DATABASE_URL), ` +
    `or set SLIPWAY_BOOTSTRAP_TOKEN to a long random secret; then send it as "Authorization: Bearer <secret>". ` +
    `SLIPWAY_AUTH=off serves without tokens (not recommended beyond loopback).`
  );
}

/** Decide the mode at start; FAILED_PRECONDITION (the start fails) when serving would be open to the network. */
export function decideAuthMode(input: AuthModeInput): AuthMode {
  if (input.setting === 'off') return { enabled: false, watchForTokens: false };
  const loopback = isLoopback(input.host);
  if (input.usableTokens === 0 && !loopback) throw new SlipwayError('FAILED_PRECONDITION', noTokenMessage(input.host));
  if (input.setting === 'required') return { enabled: true, watchForTokens: false };
  return input.usableTokens > 0 ? { enabled: true, watchForTokens: false } : { enabled: false, watchForTokens: true };
}
