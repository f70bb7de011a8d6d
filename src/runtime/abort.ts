/**
 * AbortSignal helpers: turn an aborted signal into a SlipwayError, and stop waiting
 * on shared work when one waiter goes away.
 */
import { SlipwayError } from '../core/errors.js';

/**
 * What Slipway needs of an AbortSignal, so a transport can pass a cheaper one: creating an
 * AbortController costs about 4 µs on Node 20 (measured), a noticeable share of a ~70 µs request.
 * Every AbortSignal is a CancelSignal; `cancelSignal()` below is the cheap kind.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A CancelSignal and the function that fires it (once; later calls do nothing). */
export function cancelSignal(): { signal: CancelSignal; abort: (reason?: unknown) => void } {
  let listeners: Array<() => void> | undefined;
  const signal = {
    aborted: false,
    reason: undefined as unknown,
    addEventListener(_type: 'abort', listener: () => void): void {
      (listeners ??= []).push(listener);
    },
    removeEventListener(_type: 'abort', listener: () => void): void {
      const i = listeners?.indexOf(listener) ?? -1;
      if (i >= 0) listeners?.splice(i, 1);
    },
  };
  return {
    signal,
    abort: (reason?: unknown) => {
      if (signal.aborted) return;
      signal.aborted = true;
      signal.reason = reason;
      const fire = listeners ?? [];
      listeners = undefined;
      for (const listener of fire) listener();
    },
  };
}

/**
 * The error for an aborted signal: the reason itself when it already is a SlipwayError,
 * DEADLINE_EXCEEDED for `AbortSignal.timeout()`, otherwise CANCELLED.
 */
export function abortError(signal: CancelSignal): SlipwayError {
  const reason: unknown = signal.reason;
  if (reason instanceof SlipwayError) return reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new SlipwayError('DEADLINE_EXCEEDED', 'deadline exceeded', { cause: reason });
  }
  return new SlipwayError('CANCELLED', 'cancelled', { cause: reason });
}

/** Throw {@link abortError} if the signal is already aborted. */
export function throwIfAborted(signal: CancelSignal | undefined): void {
  if (signal?.aborted === true) throw abortError(signal);
}

/**
 * Wait for `promise` unless `signal` aborts first. The underlying work is not stopped (others may
 * share it); only this waiter gives up.
 */
export function waitUnlessAborted<T>(promise: Promise<T>, signal: CancelSignal | undefined): Promise<T> {
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
