/**
 * Files a client names over the API (a batch job's input and output, a drift reference file) must
 * lie inside the configured data roots (`SLIPWAY_DATA_ROOTS`, default `<home>/data`;
 * core/exposure-config.ts), symlinks included: issue 15 §3, a job's output overwrote a file outside
 * any data folder. Relative names are taken from the first root. A path that does not exist yet (an
 * output) is checked through the real path of its nearest existing folder, so a symlinked folder
 * pointing outside is caught too. Commands on the local store (the CLI) do not use this: the user
 * owns the machine.
 *
 * Messages name the client's own text and the setting, never the roots themselves (they are server
 * paths: server/client-errors.ts).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from './errors.js';

/** Characters that make a path a glob (DuckDB's glob: `*`, `?`, `[...]`, `**`). */
const GLOB_CHARS = /[*?[\]{}]/;

/** True when `pattern` has a wildcard. */
export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

function outside(field: string, name: string): SlipwayError {
  return new SlipwayError(
    'INVALID_ARGUMENT',
    `${field} "${name}" is outside the folders this server reads and writes for clients (SLIPWAY_DATA_ROOTS)`,
    { details: { field } },
  );
}

/** The real path of `absolute`: of the file itself when it exists, else its nearest existing folder's plus the rest. */
async function realPathOf(absolute: string): Promise<string> {
  const rest: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      return path.join(await realpath(current), ...rest.reverse());
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      rest.push(path.basename(current));
      current = parent;
    }
  }
}

function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

async function realRoots(roots: readonly string[]): Promise<string[]> {
  return Promise.all(roots.map((root) => realPathOf(path.resolve(root))));
}

/**
 * The absolute path `name` stands for, refused (INVALID_ARGUMENT naming `field`) unless it is inside
 * one of `roots` once every symlink is followed. The path returned is the real one, so what is
 * checked is what is read or written.
 */
export async function confinePath(name: string, roots: readonly string[], field: string): Promise<string> {
  if (name.includes('\0')) throw outside(field, name.replaceAll('\0', '\\0'));
  const first = roots[0];
  if (first === undefined) throw outside(field, name);
  const real = await realPathOf(path.resolve(first, name));
  const inside = (await realRoots(roots)).some((root) => isInside(root, real));
  if (!inside) throw outside(field, name);
  return real;
}

/**
 * A file or glob: its folder part before the first wildcard is confined as {@link confinePath}
 * does; the wildcard part may not climb (`..`). The files it matches are checked with
 * {@link confineFiles} once expanded.
 */
export async function confineGlob(pattern: string, roots: readonly string[], field: string): Promise<string> {
  if (!isGlob(pattern)) return confinePath(pattern, roots, field);
  const parts = pattern.split(/[/\\]/);
  const firstGlob = parts.findIndex((part) => GLOB_CHARS.test(part));
  const wild = parts.slice(firstGlob);
  if (wild.includes('..')) throw outside(field, pattern);
  const literal = parts.slice(0, firstGlob).join('/');
  const prefix = literal !== '' ? literal : pattern.startsWith('/') ? '/' : '.';
  const folder = await confinePath(path.join(prefix, '_'), roots, field).catch((error: unknown) => {
    throw error instanceof SlipwayError ? outside(field, pattern) : error;
  });
  return path.join(path.dirname(folder), ...wild);
}

/** Every file (a glob's matches) must be inside `roots` once its symlinks are followed. */
export async function confineFiles(
  files: readonly string[],
  roots: readonly string[],
  field: string,
  name: string,
): Promise<void> {
  const real = await realRoots(roots);
  for (const file of files) {
    const resolved = await realPathOf(file);
    if (!real.some((root) => isInside(root, resolved))) throw outside(field, name);
  }
}
