import { expect } from 'vitest';
import { SlipwayError, type ErrorCode } from '../core/errors.js';

/**
 * The SlipwayError `promise` rejects with, after checking it is one (with `code`, when given).
 * Fails the test when the promise resolves.
 *
 * @example
 * const error = await rejection(store.insert(taken), 'ALREADY_EXISTS');
 * expect(error.message).toContain('taken');
 */
export async function rejection(promise: Promise<unknown>, code?: ErrorCode): Promise<SlipwayError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(SlipwayError);
  if (code !== undefined) expect((error as SlipwayError).code).toBe(code);
  return error as SlipwayError;
}
