/**
 * Where an alert webhook may point (issue 15 §3: a rule aimed at http://127.0.0.1:…/internal/admin
 * was POSTed to, a server-side request forgery). Checked twice:
 *
 * - when a rule is created ({@link checkWebhookTarget}): the scheme and host against
 *   `SLIPWAY_WEBHOOK_ALLOW` (core/exposure-config.ts), and a literal address or `localhost` against
 *   the refused ranges;
 * - when it fires ({@link guardedLookup}, the DNS lookup the webhook's socket connects with): every
 *   address the name resolves to is checked, so a name that resolves to loopback, or is re-pointed
 *   there after the rule was created, is not connected to at all.
 *
 * Loopback and private ranges are refused unless `loopback` / `private` are in the allow-list;
 * link-local (the cloud metadata address 169.254.169.254 among them), multicast and unspecified
 * addresses are always refused.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { invalid } from '../../core/errors.js';
import type { WebhookAllow } from '../../core/exposure-config.js';

export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'multicast' | 'unspecified';

/** The range an IP address is in (IPv4-mapped IPv6 addresses as their IPv4 address). */
export function addressKind(address: string): AddressKind {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return addressKind(mapped[1]!);
  // The URL parser writes a mapped address in hex: ::ffff:7f00:1 is 127.0.0.1.
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hexMapped !== null) {
    const high = parseInt(hexMapped[1]!, 16);
    const low = parseInt(hexMapped[2]!, 16);
    return addressKind(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`);
  }
  if (net.isIPv4(address)) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    if (a === 127) return 'loopback';
    if (a === 0) return 'unspecified';
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127))
      return 'private';
    if (a === 169 && b === 254) return 'link-local';
    if (a >= 224) return 'multicast'; // 224/4 multicast, 240/4 reserved and broadcast
    return 'public';
  }
  const lower = address.toLowerCase();
  if (lower === '::1') return 'loopback';
  if (lower === '::') return 'unspecified';
  if (/^f[cd]/.test(lower)) return 'private';
  if (/^fe[89ab]/.test(lower)) return 'link-local';
  if (lower.startsWith('ff')) return 'multicast';
  return 'public';
}

/** Why `address` may not be a webhook target under `allow`, or undefined when it may. */
export function refusedAddress(address: string, allow: WebhookAllow): string | undefined {
  const kind = addressKind(address);
  if (kind === 'public') return undefined;
  if (kind === 'loopback' && allow.loopback) return undefined;
  if (kind === 'private' && allow.private) return undefined;
  const optIn =
    kind === 'loopback' || kind === 'private' ? ` (add "${kind}" to SLIPWAY_WEBHOOK_ALLOW to allow it)` : '';
  return `${address} is a ${kind} address${optIn}`;
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

/**
 * INVALID_ARGUMENT naming why, unless `url` is an http(s) URL whose scheme and host the allow-list
 * admits and whose host, when an address or `localhost`, is in no refused range.
 */
export function checkWebhookTarget(url: string, allow: WebhookAllow): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`webhook "${url}" is not a URL`);
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') throw invalid(`webhook "${url}": expected an http:// or https:// URL`);
  if (parsed.username !== '' || parsed.password !== '')
    throw invalid(`webhook "${url}": credentials in the URL are not accepted`);
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (
    allow.targets.length > 0 &&
    !allow.targets.some((rule) => rule.schemes.includes(scheme) && hostMatches(rule.host, host))
  )
    throw invalid(`webhook "${url}": ${scheme}://${host} is not in SLIPWAY_WEBHOOK_ALLOW`);
  const literal = net.isIP(host) !== 0 ? host : host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : '';
  if (literal !== '') {
    const refused = refusedAddress(literal, allow);
    if (refused !== undefined) throw invalid(`webhook "${url}" refused: ${refused}`);
  }
  return parsed;
}

type LookupAddress = { address: string; family: number };

/**
 * A `lookup` for the webhook's socket that resolves with `resolve` (default dns.lookup) and fails
 * the connection when any resolved address is refused: the check and the connection use the same
 * answer, so DNS cannot be changed between them.
 */
export function guardedLookup(allow: WebhookAllow, resolve: LookupFunction = dns.lookup): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    resolve(hostname, { ...options, all: true }, (error, result) => {
      if (error !== null) return callback(error);
      const addresses = (Array.isArray(result) ? result : [{ address: result, family: 0 }]) as LookupAddress[];
      for (const { address } of addresses) {
        const refused = refusedAddress(address, allow);
        if (refused !== undefined)
          return callback(
            Object.assign(new Error(`webhook host ${hostname} resolves to ${refused}`), { code: 'EWEBHOOKREFUSED' }),
          );
      }
      if (options.all === true) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}
