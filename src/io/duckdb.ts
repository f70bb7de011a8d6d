import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { SlipwayError } from '../core/errors.js';

export interface DuckDbSettings {
  /**
   * DuckDB's memory_limit, e.g. '512MB' (the default). Beyond it DuckDB spills to the OS temp
   * folder or fails; it bounds, for example, the ordered Parquet merge of `writeTable`.
   */
  memoryLimit?: string;
  /** Worker threads; default one per core. */
  threads?: number;
}

const DEFAULT_SETTINGS: Required<Pick<DuckDbSettings, 'memoryLimit'>> = { memoryLimit: '512MB' };

let settings: DuckDbSettings = DEFAULT_SETTINGS;
let instance: Promise<DuckDBInstance> | undefined;
let closed = false;

function createInstance(): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', {
    // Never download or auto-load extensions, so no path can reach the network (parquet and json are built in).
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    // Spill files go to the OS temp folder, not `.tmp` in whatever the working directory is.
    temp_directory: path.join(os.tmpdir(), `slipway-duckdb-${process.pid}`),
    memory_limit: settings.memoryLimit ?? DEFAULT_SETTINGS.memoryLimit,
    ...(settings.threads === undefined ? {} : { threads: String(settings.threads) }),
  });
}

/**
 * Sets the shared instance's settings; only before its first use (FAILED_PRECONDITION after).
 * Call it at start-up, with values from the platform's configuration.
 */
export function configureDuckDb(next: DuckDbSettings): void {
  if (instance !== undefined || closed)
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      'DuckDB is already in use; configure it before the first table is read or written',
    );
  settings = { ...DEFAULT_SETTINGS, ...next };
}

/**
 * The process's one DuckDB instance (in memory; it only reads and writes files), created on
 * first use. A failed creation is retried by the next caller; after {@link closeDuckDb} it is
 * refused with FAILED_PRECONDITION. Prefer {@link withConnection} over connecting yourself.
 */
export function getDuckDb(): Promise<DuckDBInstance> {
  if (closed) return Promise.reject(new SlipwayError('FAILED_PRECONDITION', 'DuckDB has been closed'));
  instance ??= createInstance().catch((error: unknown) => {
    instance = undefined;
    throw error;
  });
  return instance;
}

/**
 * Closes the shared instance, at shutdown (or at the end of a test file). Results still being
 * streamed finish normally; new reads and writes are refused.
 */
export async function closeDuckDb(): Promise<void> {
  closed = true;
  const current = instance;
  instance = undefined;
  if (current === undefined) return;
  try {
    (await current).closeSync();
  } catch {
    // Creation failed: there is nothing to close.
  }
}

/** Opens a connection on the shared instance; the caller must `closeSync()` it. */
export async function openConnection(): Promise<DuckDBConnection> {
  return (await getDuckDb()).connect();
}

/** Runs `use` on a fresh connection and closes the connection afterwards, whatever happens. */
export async function withConnection<T>(use: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await openConnection();
  try {
    return await use(connection);
  } finally {
    connection.closeSync();
  }
}

const MESSAGE_LIMIT = 300;

/**
 * DuckDB's message cut to what a user can act on: the leading lines, without the SQL excerpt
 * (`LINE 1: ...`) or the sniffer's list of hints, at most 300 characters.
 */
export function shortDuckDbMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const kept: string[] = [];
  for (const line of message.split('\n')) {
    const trimmed = line.trim();
    if (
      trimmed === '' ||
      trimmed.startsWith('LINE ') ||
      trimmed.startsWith('Possible fixes') ||
      trimmed.startsWith('The search space')
    )
      break;
    kept.push(trimmed);
  }
  const short = kept.length > 0 ? kept.join(' ') : message.trim();
  return short.length > MESSAGE_LIMIT ? `${short.slice(0, MESSAGE_LIMIT - 1)}…` : short;
}
