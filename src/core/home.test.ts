import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlipwayError } from './errors.js';
import { ensureHome, homeCreatedLine } from './home.js';

describe('ensureHome', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-home-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a missing home (and its parents) once; later calls report it existed', () => {
    const home = path.join(dir, 'a', 'b', '.slipway');
    expect(ensureHome(home)).toBe(true);
    expect(statSync(home).isDirectory()).toBe(true);
    expect(ensureHome(home)).toBe(false);
    expect(ensureHome(dir)).toBe(false);
  });

  it('names a home that is a file', async () => {
    const file = path.join(dir, 'file');
    await writeFile(file, 'x');
    const error = (() => {
      try {
        ensureHome(file);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(SlipwayError);
    expect(error).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: `the Slipway home ${file} (SLIPWAY_HOME) exists and is not a folder`,
    });
  });

  it('announces the absolute path and how to choose another', () => {
    expect(homeCreatedLine('.slipway')).toBe(
      `slipway: created home ${path.resolve('.slipway')} (set SLIPWAY_HOME to use another folder)`,
    );
  });
});
