import { SlipwayError } from './errors.js';

/**
 * What a composition function opened, closed in the reverse order of opening (what was opened
 * later may depend on what was opened before it), each exactly once. `close` runs every closer
 * even when one fails and then throws the first failure, so one stuck service cannot leave the
 * database open. Used by `openPlatform` (platform.ts) and `openRegistry` (registry/open-registry.ts),
 * also to undo a half-finished open.
 */
export class CloseStack {
  readonly #closers: Array<() => Promise<unknown>> = [];
  #closing: Promise<void> | undefined;

  /** Remember how to close something just opened; returns it, for `const x = stack.opened(await open(), (x) => x.close())`. */
  opened<T>(resource: T, close: (resource: T) => Promise<unknown>): T {
    if (this.#closing !== undefined)
      throw new SlipwayError('FAILED_PRECONDITION', 'opened after its owner began closing');
    this.#closers.push(() => close(resource));
    return resource;
  }

  /** Close everything, newest first; idempotent (later calls get the first call's promise). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let failure: { error: unknown } | undefined;
      for (const closer of this.#closers.splice(0).reverse()) {
        try {
          await closer();
        } catch (error) {
          failure ??= { error };
        }
      }
      if (failure !== undefined) throw failure.error;
    })();
    return this.#closing;
  }
}
