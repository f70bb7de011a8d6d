/**
 * AbortSignal helpers (STYLE.md §9): turn an aborted signal into a SlipwayError, and stop waiting
 * on shared work when one waiter goes away.
 */
import { SlipwayError } from '../core/errors.js';

/**
 * The error for an aborted signal: the reason itself when it already is a SlipwayError,
 * DEADLINE_EXCEEDED for `AbortSignal.timeout()`, otherwise CANCELLED.
 */
export function abortError(signal: AbortSignal): SlipwayError {
  const reason: unknown = signal.reason;
  if (reason instanceof SlipwayError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new SlipwayError('DEADLINE_EXCEEDED', 'deadline exceeded', { cause: reason });
  }
  return new SlipwayError('CANCELLED', 'cancelled', { cause: reason });
}

/** Throw {@link abortError} if the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortError(signal);
}

/**
 * Wait for `promise` unless `signal` aborts first. The underlying work is not stopped (others may
 * share it); only this waiter gives up.
 */
export function waitUnlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
