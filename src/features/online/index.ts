/** Online feature stores: the {@link OnlineStore} contract and its SQLite and Redis implementations. */
export { NOT_FOUND_VALUE, encodeEntityKey } from './online-store.js';
export type {
  EntityKey,
  FeatureScalar,
  OnlineReadOptions,
  OnlineRow,
  OnlineStatus,
  OnlineStore,
  OnlineValue,
  OnlineWriteResult,
} from './online-store.js';
export { SqliteOnlineStore, openSqliteOnlineStore } from './sqlite/sqlite-online-store.js';
export type { SqliteOnlineStoreOptions } from './sqlite/sqlite-online-store.js';
export { RedisOnlineStore, openRedisOnlineStore } from './redis/redis-online-store.js';
export type { RedisOnlineStoreOptions } from './redis/redis-online-store.js';
