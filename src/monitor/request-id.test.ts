import { describe, expect, it } from 'vitest';
import { newRequestId, requestIdTime } from './request-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('makes UUIDv7 strings carrying the current millisecond', () => {
    const before = Date.now();
    const id = newRequestId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    expect(requestIdTime(id)).toBeGreaterThanOrEqual(before);
    // A burst of over 4096 ids in one millisecond borrows from the next ones.
    expect(requestIdTime(id)).toBeLessThanOrEqual(after + 50);
  });

  it('is unique and strictly increasing as a string, also in bursts within one millisecond', () => {
    const ids = Array.from({ length: 50_000 }, () => newRequestId());
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) {
      if (!(ids[i - 1]! < ids[i]!)) throw new Error(`${ids[i - 1]} then ${ids[i]}`);
    }
    expect(ids.every((id) => UUID_V7.test(id))).toBe(true);
  });

  it('reads no time out of other strings', () => {
    expect(requestIdTime('req-1')).toBeUndefined();
    expect(requestIdTime('123e4567-e89b-42d3-a456-426614174000')).toBeUndefined();
  });
});
