import fs from 'node:fs';
import path from 'node:path';
import { SlipwayError } from './errors.js';

/**
 * Create the Slipway home (`SLIPWAY_HOME`, default `./.slipway`) unless it exists; true when this
 * call created it. Every mode needs it: artifacts, the SQLite online store, the feature push log
 * and batch output live there even when the metadata is in PostgreSQL.
 *
 * The last folder is made with a non-recursive mkdir, which exactly one of several racing
 * processes (`serve --workers N`) wins, so the creation is announced once.
 *
 * @example
 * if (ensureHome(config.home)) log(homeCreatedLine(config.home));
 */
export function ensureHome(home: string): boolean {
  const absolute = path.resolve(home);
  try {
    fs.mkdirSync(path.dirname(absolute), { recursive: true });
    fs.mkdirSync(absolute);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.statSync(absolute).isDirectory()) return false;
    if (code === 'EEXIST')
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `the Slipway home ${absolute} (SLIPWAY_HOME) exists and is not a folder`,
        { cause: error },
      );
    throw new SlipwayError(
      'FAILED_PRECONDITION',
      `cannot create the Slipway home ${absolute} (SLIPWAY_HOME): ${code ?? String(error)}`,
      { cause: error },
    );
  }
}

/**
 * The one line printed when a command created the home: the default depends on the working
 * folder, so a user who runs commands from two folders would otherwise get two homes silently.
 */
export function homeCreatedLine(home: string): string {
  return `slipway: created home ${path.resolve(home)} (set SLIPWAY_HOME to use another folder)`;
}
