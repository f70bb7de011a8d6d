import path from 'node:path';
import type { SlipwayConfig } from '../../core/config.js';
import type { OnlineStore } from './online-store.js';
import { openRedisOnlineStore } from './redis/redis-online-store.js';
import { openSqliteOnlineStore } from './sqlite/sqlite-online-store.js';

/**
 * The configured online store (`SLIPWAY_ONLINE_STORE`): SQLite in the home by default, or Redis at
 * a `redis://` URL. The caller owns what it returns and closes it.
 */
export async function openOnlineStore(config: Pick<SlipwayConfig, 'onlineStore' | 'home'>): Promise<OnlineStore> {
  if (config.onlineStore === 'sqlite') return openSqliteOnlineStore({ path: path.join(config.home, 'online.db') });
  return openRedisOnlineStore({ url: config.onlineStore, keyPrefix: 'slipway:online:' });
}
