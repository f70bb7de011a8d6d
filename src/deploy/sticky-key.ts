import type { Tensor } from '../tensor/datatypes.js';
import type { StickyKey } from './spec.js';

/** Reads a request header by lower-case name (HTTP headers, gRPC metadata). */
export type HeaderLookup = (name: string) => string | undefined;

/**
 * The sticky key of a request: the header's value, or the first element of the named input as
 * text. Undefined when the request does not carry it (then the request is routed at random).
 */
export function stickyKeyOf(
  sticky: StickyKey,
  headers: HeaderLookup | undefined,
  inputs: readonly Tensor[] | undefined,
): string | undefined {
  if (sticky.kind === 'header') return headers?.(sticky.name);
  const tensor = inputs?.find((t) => t.name === sticky.name);
  return tensor === undefined ? undefined : keyText(tensor.data[0]);
}

/** A scalar of any tensor or JSON value as the text the router hashes. */
export function keyText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return undefined;
}
