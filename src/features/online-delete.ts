import { invalid } from '../core/errors.js';
import type { JoinKey } from './definitions/types.js';
import type { FeatureStore } from './feature-store.js';
import { checkEntities } from './online-retrieval.js';

/** What {@link deleteOnlineEntities} did. */
export interface OnlineDeleteResult {
  readonly view: string;
  /** Entities asked for. */
  readonly entities: number;
  /** Entities that had online values (the rest had none; not an error). */
  readonly deleted: number;
}

/**
 * Delete the online values of some entities of one view (`DELETE /api/v1/features/views/{view}/online`,
 * `slipway features delete`): the operator's repair for a key whose stored event time is wrong, e.g.
 * a value stamped in the future from before pushes were checked, which makes every real value stale.
 * Afterwards the key is NOT_FOUND (served with its defaults) until a push or materialization writes it.
 * The offline data (source and push log) is not touched.
 *
 * @example
 * await deleteOnlineEntities(platform.features, 'vitals', [{ patient_id: 42 }]); // { view: 'vitals', entities: 1, deleted: 1 }
 * @throws NOT_FOUND for an unknown view; INVALID_ARGUMENT for an entity that does not carry exactly the view's join keys.
 */
export async function deleteOnlineEntities(
  store: FeatureStore,
  viewName: string,
  entities: readonly Readonly<Record<string, unknown>>[],
): Promise<OnlineDeleteResult> {
  const view = await store.view(viewName);
  const keys = checkEntities(await store.joinKeys(view), entities);
  const deleted = await store.online.deleteKeys(view.name, keys);
  return { view: view.name, entities: keys.length, deleted };
}

/**
 * One entity from text pairs (a query string, `--entity k1=7,k2=x`): an int64 join key's text
 * becomes a number when it is an integer, anything else is left as text for
 * {@link deleteOnlineEntities} to refuse by name. A join key given twice is refused here.
 */
export function entityFromText(
  joinKeys: readonly JoinKey[],
  pairs: readonly (readonly [string, string])[],
): Record<string, unknown> {
  // A Map, then fromEntries: a pair named "__proto__" stays an (unknown) own key.
  const entity = new Map<string, unknown>();
  for (const [name, text] of pairs) {
    if (entity.has(name))
      throw invalid(
        `join key "${name}" is given ${pairs.filter(([n]) => n === name).length} times; one entity has one value per join key`,
      );
    const type = joinKeys.find((k) => k.name === name)?.type;
    entity.set(
      name,
      type === 'int64' && /^-?\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : text,
    );
  }
  return Object.fromEntries(entity);
}
