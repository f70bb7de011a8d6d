import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { SlipwayError, type ErrorCode } from '../core/errors.js';
import { readTable } from './read-table.js';
import type { ColumnValues, ReadTableOptions, TableChunk } from './types.js';

/** A fresh temp folder and its cleanup. */
export async function tempFolder(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slipway-io-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function readAll(file: string, options?: ReadTableOptions): Promise<TableChunk[]> {
  const chunks: TableChunk[] = [];
  for await (const chunk of readTable(file, options)) chunks.push(chunk);
  return chunks;
}

/** A column as plain JS values: numbers (null for nulls) or strings. */
export function plain(values: ColumnValues | undefined): (number | string | null)[] {
  if (values === undefined) throw new Error('column missing');
  if (values.type === 'string' || values.type === 'other') return [...values.values];
  const { nulls } = values;
  return Array.from(values.values, (value, i) => (nulls[i] === 1 ? null : value));
}

/** Every column of every chunk, concatenated. */
export async function readColumns(
  file: string,
  options?: ReadTableOptions,
): Promise<Record<string, (number | string | null)[]>> {
  const out: Record<string, (number | string | null)[]> = {};
  for (const chunk of await readAll(file, options)) {
    for (const [name, values] of chunk.columns) (out[name] ??= []).push(...plain(values));
  }
  return out;
}

/** Awaits `promise` and checks it fails with a SlipwayError of `code`; returns its message. */
export async function failure(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SlipwayError);
  expect((error as SlipwayError).code).toBe(code);
  return (error as SlipwayError).message;
}
