import path from 'node:path';
import { CloseStack } from '../core/close-stack.js';
import type { SlipwayConfig } from '../core/config.js';
import { ensureHome, homeCreatedLine } from '../core/home.js';
import { openDatabaseFromConfig, type Database } from '../store/database.js';
import { LocalArtifactStore } from './artifact-store.js';
import { RegistryService, type RegistryServiceOptions } from './registry-service.js';
import { SqlRegistryStore } from './sql-registry-store.js';

/** The registry of one process and the database under it; `close` closes what `openRegistry` opened. */
export interface OpenRegistry {
  readonly database: Database;
  readonly store: SqlRegistryStore;
  readonly artifacts: LocalArtifactStore;
  readonly registry: RegistryService;
  /** The store, then the database; idempotent. */
  close(): Promise<void>;
}

export interface OpenRegistryOptions extends Pick<RegistryServiceOptions, 'verifyArtifact'> {
  /** Where the home's creation is announced; default stderr. */
  readonly log?: (line: string) => void;
}

/**
 * The configured database, registry store and artifact folder, nothing else: commands that only
 * read or write the registry (`models`, `versions`, `show`, `alias`, `archive`, `gc`) use this
 * instead of the whole platform, so no model pool, monitor, deployments or online store (an
 * unreachable Redis) stands in their way. `openPlatform` builds on it.
 */
export async function openRegistry(config: SlipwayConfig, options: OpenRegistryOptions = {}): Promise<OpenRegistry> {
  // Both dialects keep artifacts (and the SQLite online store) in the home: create it first, and say so.
  if (ensureHome(config.home))
    (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)))(homeCreatedLine(config.home));
  const opened = new CloseStack();
  const database = opened.opened(await openDatabaseFromConfig(config), (d) => d.close());
  const store = opened.opened(new SqlRegistryStore(database), (s) => s.close());
  const artifacts = new LocalArtifactStore(path.join(config.home, 'blobs'));
  const registry = new RegistryService({
    store,
    artifacts,
    ...(options.verifyArtifact === undefined ? {} : { verifyArtifact: options.verifyArtifact }),
  });
  return { database, store, artifacts, registry, close: () => opened.close() };
}
