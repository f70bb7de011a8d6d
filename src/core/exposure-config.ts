/**
 * What a client may make the server reach (issue 15 §3): the webhook targets alert rules may name
 * (`SLIPWAY_WEBHOOK_ALLOW`) and the folders API requests may name files in (`SLIPWAY_DATA_ROOTS`).
 * Parsed and checked here with the rest of the configuration (config.ts); applied by
 * monitor/alerts/webhook-policy.ts and core/data-roots.ts.
 */
import path from 'node:path';

/** One allowed webhook target: a scheme (or both) and a host pattern (`hooks.example.com`, `*.example.com`, `*`). */
export interface WebhookTargetRule {
  readonly schemes: readonly ('http' | 'https')[];
  /** Lower-case; `*` = any host, `*.example.com` = example.com's subdomains. */
  readonly host: string;
}

export interface WebhookAllow {
  /** Empty = any host over http or https; otherwise a target must match one of these. */
  readonly targets: readonly WebhookTargetRule[];
  /** Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) may be targets. */
  readonly private: boolean;
  /** Loopback (127/8, ::1, localhost) may be a target. */
  readonly loopback: boolean;
}

export interface ExposureConfig {
  readonly webhookAllow: WebhookAllow;
  /**
   * Absolute folders a client may name files in over the API (job input/output, reference files,
   * feature sources), symlinks resolved. `SLIPWAY_DATA_ROOTS` (comma-separated), default `<home>/data`.
   */
  readonly dataRoots: readonly string[];
}

export const EXPOSURE_ENV = {
  webhookAllow: 'SLIPWAY_WEBHOOK_ALLOW',
  dataRoots: 'SLIPWAY_DATA_ROOTS',
} as const satisfies Record<keyof ExposureConfig, string>;

export const DEFAULT_WEBHOOK_ALLOW: WebhookAllow = Object.freeze({ targets: [], private: false, loopback: false });

const TARGET = /^(?:(https?):\/\/)?(\*|(?:\*\.)?[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])\/?$/i;

/**
 * `private`, `loopback`, or `[http://|https://]host-pattern`, comma-separated; every other entry is
 * a problem naming it. Unset or empty = any public http(s) host.
 */
export function parseWebhookAllow(raw: string | undefined, problems: string[]): WebhookAllow {
  if (raw === undefined || raw.trim() === '') return DEFAULT_WEBHOOK_ALLOW;
  const targets: WebhookTargetRule[] = [];
  let allowPrivate = false;
  let allowLoopback = false;
  for (const entry of raw.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    if (entry === 'private') allowPrivate = true;
    else if (entry === 'loopback') allowLoopback = true;
    else {
      const match = TARGET.exec(entry);
      if (match === null) {
        problems.push(
          `${EXPOSURE_ENV.webhookAllow}: "${entry}" is not private, loopback or [http(s)://]host (a name, *.domain or *)`,
        );
        continue;
      }
      const scheme = match[1]?.toLowerCase() as 'http' | 'https' | undefined;
      targets.push({ schemes: scheme === undefined ? ['http', 'https'] : [scheme], host: match[2]!.toLowerCase() });
    }
  }
  return Object.freeze({ targets: Object.freeze(targets), private: allowPrivate, loopback: allowLoopback });
}

/** Absolute folders from `SLIPWAY_DATA_ROOTS`; empty = the default (`<home>/data`, set by loadConfig). */
export function parseDataRoots(raw: string | undefined, problems: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const roots: string[] = [];
  for (const entry of raw.split(',').map((part) => part.trim())) {
    if (entry === '') continue;
    if (!path.isAbsolute(entry)) {
      problems.push(`${EXPOSURE_ENV.dataRoots}: "${entry}" is not an absolute path`);
      continue;
    }
    roots.push(path.resolve(entry));
  }
  return roots;
}

export function loadExposureConfig(env: NodeJS.ProcessEnv, problems: string[]): ExposureConfig {
  return {
    webhookAllow: parseWebhookAllow(env[EXPOSURE_ENV.webhookAllow], problems),
    dataRoots: parseDataRoots(env[EXPOSURE_ENV.dataRoots], problems),
  };
}

/** The data roots once the home is known: the configured ones, or `<home>/data`. */
export function resolvedDataRoots(roots: readonly string[], home: string): readonly string[] {
  return Object.freeze(roots.length > 0 ? [...roots] : [path.join(path.resolve(home), 'data')]);
}
