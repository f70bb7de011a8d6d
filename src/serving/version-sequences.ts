import type { ServingConfig } from '../registry/serving-config.js';
import type { VersionRecord } from '../registry/types.js';
import { SequenceStates } from './sequence-state.js';

/** Reads a model's stored serving settings (the registry's). */
export type ServingConfigReader = (model: string) => Promise<ServingConfig | undefined>;

/**
 * The sequence state of every stateful version served (Triton's sequence batcher with implicit
 * state): one {@link SequenceStates} per version whose model's serving config has `sequence`,
 * created at its first request from the settings stored then, and dropped when the version is
 * loaded again or unloaded (so changed settings apply at the next load, like batching).
 */
export class VersionSequences {
  /** `undefined` value: the version is stateless (looked up once). */
  private readonly byVersion = new Map<string, Promise<SequenceStates | undefined>>();
  /** The lookups that finished, for the request path's synchronous {@link peek}. */
  private readonly settled = new Map<string, SequenceStates | 'stateless'>();

  constructor(private readonly servingConfigOf: ServingConfigReader) {}

  /** What is known without waiting: the states, 'stateless', or undefined before the first lookup finished. */
  peek(record: Pick<VersionRecord, 'model' | 'version'>): SequenceStates | 'stateless' | undefined {
    return this.settled.get(`${record.model}@${record.version}`);
  }

  /** The version's sequence states, or undefined when its model keeps none. */
  statesFor(record: VersionRecord): Promise<SequenceStates | undefined> {
    const id = `${record.model}@${record.version}`;
    let states = this.byVersion.get(id);
    if (states === undefined) {
      states = this.open(record);
      this.byVersion.set(id, states);
      states.then(
        (s) => {
          if (this.byVersion.get(id) === states) this.settled.set(id, s ?? 'stateless');
        },
        () => undefined,
      );
      // A failed read (the store down) is retried by the next request.
      states.catch(() => this.byVersion.delete(id));
    }
    return states;
  }

  /** Forget a version's sequences (it is being reloaded or unloaded): live sequences end. */
  drop(record: Pick<VersionRecord, 'model' | 'version'>): void {
    const id = `${record.model}@${record.version}`;
    const states = this.byVersion.get(id);
    this.byVersion.delete(id);
    this.settled.delete(id);
    void states?.then(
      (s) => s?.close(),
      () => undefined,
    );
  }

  close(): void {
    for (const states of this.byVersion.values())
      void states.then(
        (s) => s?.close(),
        () => undefined,
      );
    this.byVersion.clear();
    this.settled.clear();
  }

  private async open(record: VersionRecord): Promise<SequenceStates | undefined> {
    const config = await this.servingConfigOf(record.model);
    if (config?.sequence === undefined) return undefined;
    return new SequenceStates({ model: record.model, config: config.sequence, signature: record.signature });
  }
}
