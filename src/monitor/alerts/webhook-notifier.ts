import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { invalid } from '../../core/errors.js';
import { DEFAULT_WEBHOOK_ALLOW, type WebhookAllow } from '../../core/exposure-config.js';
import { SLIPWAY_VERSION } from '../../version.js';
import type { DeliveryOutcome } from './alert-store.js';
import { originOf } from './notifier.js';
import type { AlertNotifier, AlertPayload } from './notifier.js';
import type { AlertRule } from './rule.js';
import { checkWebhookTarget, guardedLookup } from './webhook-policy.js';

export interface WebhookNotifierOptions {
  /** Receives the events of rules without a webhook of their own; undefined = only rules' own webhooks. */
  readonly url?: string;
  /** Tries per event, the first included (default 5). */
  readonly attempts?: number;
  /** Wait before the second try; doubles after each (default 500 ms). */
  readonly initialBackoffMs?: number;
  /** Longest wait between tries (default 30 s). */
  readonly maxBackoffMs?: number;
  /** Per try (default 5 s). */
  readonly timeoutMs?: number;
  /** Sent with every request, e.g. an Authorization header. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Where webhooks may point (`SLIPWAY_WEBHOOK_ALLOW`, webhook-policy.ts); default any public http(s) host. */
  readonly allow?: WebhookAllow;
  /** How host names are resolved (default dns.lookup); tests give a resolver of their own. */
  readonly resolve?: LookupFunction;
}

const RETRYABLE_STATUS = new Set([408, 429]);

/**
 * POSTs each event as JSON (see `AlertPayload`) to the rule's `webhook`, or to `url` for rules
 * without one. A 2xx is success; network errors, timeouts, 408, 429 and 5xx are retried with
 * exponential backoff (a `Retry-After` in seconds lengthens the wait, up to `maxBackoffMs`);
 * any other status fails at once.
 *
 * @example
 * new WebhookNotifier({ url: 'https://hooks.example.com/slipway', attempts: 3 });
 */
export class WebhookNotifier implements AlertNotifier {
  readonly name = 'webhook';
  readonly #url: string | undefined;
  readonly #attempts: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #allow: WebhookAllow;
  readonly #lookup: LookupFunction;

  constructor(options: WebhookNotifierOptions = {}) {
    this.#url = options.url;
    this.#attempts = positiveInteger(options.attempts ?? 5, 'attempts', 1);
    this.#initialBackoffMs = positiveInteger(options.initialBackoffMs ?? 500, 'initialBackoffMs', 0);
    this.#maxBackoffMs = positiveInteger(options.maxBackoffMs ?? 30_000, 'maxBackoffMs', 0);
    this.#timeoutMs = positiveInteger(options.timeoutMs ?? 5000, 'timeoutMs', 1);
    this.#headers = options.headers ?? {};
    this.#allow = options.allow ?? DEFAULT_WEBHOOK_ALLOW;
    this.#lookup = guardedLookup(this.#allow, options.resolve);
  }

  targetOf(rule: AlertRule): string | undefined {
    return rule.webhook ?? this.#url;
  }

  /** Any JSON body: alert events, and pipeline run transitions (pipelines/run-notifications.ts) through the same policy and retries. */
  async deliver(payload: AlertPayload | object, target: string, signal: AbortSignal): Promise<DeliveryOutcome> {
    const body = JSON.stringify(payload);
    const outcome = (attempts: number, delivered: boolean, lastError?: string): DeliveryOutcome => ({
      notifier: this.name,
      target: originOf(target),
      delivered,
      attempts,
      ...(lastError === undefined ? {} : { lastError }),
    });
    let lastError = 'not attempted';
    // Checked again at fire time: the allow-list may have changed since the rule was created, and
    // the socket connects only to addresses the guarded lookup admits (webhook-policy.ts).
    let url: URL;
    try {
      url = checkWebhookTarget(target, this.#allow);
    } catch (error) {
      return outcome(0, false, (error as Error).message);
    }
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (signal.aborted) return outcome(attempt - 1, false, `cancelled; last error: ${lastError}`);
      let retryAfterMs = 0;
      try {
        const response = await post(url, body, {
          headers: { ...this.#headers, 'content-type': 'application/json', 'user-agent': `slipway/${SLIPWAY_VERSION}` },
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
          lookup: this.#lookup,
        });
        if (response.status >= 200 && response.status < 300) return outcome(attempt, true);
        lastError = `HTTP ${response.status}`;
        if (!RETRYABLE_STATUS.has(response.status) && response.status < 500) return outcome(attempt, false, lastError);
        retryAfterMs = retryAfterOf(response.retryAfter);
      } catch (error) {
        if (signal.aborted) return outcome(attempt, false, 'cancelled');
        lastError = describeFailure(error, this.#timeoutMs);
        // A refused address stays refused: no retries.
        if ((error as { code?: unknown }).code === 'EWEBHOOKREFUSED') return outcome(attempt, false, lastError);
      }
      if (attempt < this.#attempts) {
        const backoff = Math.min(
          this.#maxBackoffMs,
          Math.max(retryAfterMs, this.#initialBackoffMs * 2 ** (attempt - 1)),
        );
        await sleep(backoff, signal);
      }
    }
    return outcome(this.#attempts, false, lastError);
  }
}

/**
 * POST `body` with node:http(s) rather than fetch: its socket takes our `lookup`, so the address
 * checked is the address connected to. Redirects are not followed (a 3xx fails the delivery).
 */
function post(
  url: URL,
  body: string,
  options: { headers: Record<string, string>; signal: AbortSignal; lookup: LookupFunction },
): Promise<{ status: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? https.request : http.request;
    const request = send(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(body)) },
        lookup: options.lookup,
        signal: options.signal,
      },
      (response) => {
        response.resume();
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode ?? 0, retryAfter: typeof retryAfter === 'string' ? retryAfter : null });
      },
    );
    request.on('error', (error) =>
      reject(options.signal.aborted && options.signal.reason instanceof Error ? options.signal.reason : error),
    );
    request.end(body);
  });
}

function positiveInteger(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw invalid(`webhook ${field} ${value}: expected an integer of at least ${min}`);
  return value;
}

/** Seconds (the HTTP-date form is rare for webhooks and ignored). */
function retryAfterOf(header: string | null): number {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && error.name === 'TimeoutError') return `timed out after ${timeoutMs} ms`;
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail =
    typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return detail === undefined ? message : `${message} (${detail})`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
