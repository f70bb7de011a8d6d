/**
 * What an error may tell a client (issue 15 §3): never a server file path or the database's
 * address. Both transports answer through {@link clientErrorMessage} (http/errors.ts,
 * grpc/unary-call.ts) and log the full error server-side with the request id.
 *
 * - An error that is not a SlipwayError is a bug or an unexpected failure (an fs call's ENOENT with
 *   its path, a driver's message): the client gets a generic message with the request id.
 * - A SlipwayError's message is written for the client, but some embed a cause's text (PostgreSQL
 *   at host:port/db, `connect ECONNREFUSED 10.0.0.5:5432`, a DuckDB or fs message with a path):
 *   those parts are replaced by what they are. Only the error path pays for this.
 */
import os from 'node:os';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';

/** The generic answer to an unexpected failure; the log line carries the same request id. */
export function internalErrorMessage(requestId: string): string {
  return `internal error (request id ${requestId}); the detail is in the server log`;
}

/** The message a client may see for `error` (the normalised form of `raw`, what was thrown). */
export function clientErrorMessage(error: SlipwayError, raw: unknown, requestId: string): string {
  if (!(raw instanceof SlipwayError)) return internalErrorMessage(requestId);
  return redactServerDetails(error.message, raw);
}

/** Database URLs (any scheme a store or cache uses), credentials included. */
const DATABASE_URL = /\b(?:postgres(?:ql)?|redis|rediss|mysql|sqlite):\/\/[^\s'"()<>]+/gi;
/** connection-guard.ts and database.ts name the server as "PostgreSQL at host:port/database". */
const POSTGRES_AT = /PostgreSQL at [^\s:]+(?::\d+)?(?:\/[^\s:]*)?/g;
/** Socket errors name the peer: "connect ECONNREFUSED 10.0.0.5:5432", "getaddrinfo ENOTFOUND db.internal". */
const SOCKET_PEER =
  /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EADDRINUSE|EADDRNOTAVAIL) (?:\[[0-9a-f:.]+\]|[^\s,;)]+)/gi;
/** Folders a server's files live under; an absolute path starting with one of them is redacted. */
const SERVER_ROOTS = [
  'home',
  'root',
  'tmp',
  'var',
  'etc',
  'usr',
  'opt',
  'srv',
  'mnt',
  'media',
  'data',
  'run',
  'proc',
  'sys',
  'dev',
  'private',
  'Users',
  'Volumes',
  'work',
  'workspace',
  'app',
  'nix',
];
const ABSOLUTE_PATH = new RegExp(`(^|[\\s'"\`(=:,\\[])(/(?:${SERVER_ROOTS.join('|')})(?:/[^\\s'"\`(),;\\]]*)?)`, 'g');
const WINDOWS_PATH = /\b[A-Za-z]:\\[^\s'"`(),;]*/g;

/** `message` with database addresses, socket peers and server file paths replaced by what they are. */
export function redactServerDetails(message: string, error?: unknown): string {
  let text = message;
  for (const exact of causePaths(error)) text = text.split(exact).join('<path>');
  for (const prefix of localRoots()) text = text.replace(pathUnder(prefix), '$1<path>');
  return text
    .replace(DATABASE_URL, '<database address>')
    .replace(POSTGRES_AT, 'PostgreSQL')
    .replace(SOCKET_PEER, '$1 <address>')
    .replace(ABSOLUTE_PATH, '$1<path>')
    .replace(WINDOWS_PATH, '<path>');
}

/** A path starting at `prefix` (a whole segment), to its end. */
function pathUnder(prefix: string): RegExp {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w.-])${escaped}(?![\\w.-])[^\\s'"\`(),;\\]]*`, 'g');
}

/** The process's own folders, wherever they are (a home outside the usual roots included). */
function localRoots(): string[] {
  const roots = [os.homedir(), os.tmpdir(), process.cwd()].filter((root) => root.length > 1);
  // Longest first, so a folder inside another is replaced whole.
  return [...new Set(roots)].sort((a, b) => b.length - a.length);
}

/** The absolute `path`/`dest` of fs errors anywhere in the cause chain (at most a few levels deep). */
function causePaths(error: unknown): string[] {
  const paths: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { path: source, dest } = current as { path?: unknown; dest?: unknown };
    for (const named of [source, dest])
      if (typeof named === 'string' && named.length > 1 && path.isAbsolute(named)) paths.push(named);
    current = (current as { cause?: unknown }).cause;
  }
  return paths.sort((a, b) => b.length - a.length);
}
