import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { DataFingerprint } from '../types.js';

/** The three split files of a run, in the order they are hashed. */
export interface SplitFiles {
  readonly train: string;
  readonly validation: string;
  readonly test: string;
}

/**
 * sha256 (hex) over the bytes of the train, validation and test files, in that order, streamed. Two
 * runs with the same fingerprint trained and were evaluated on byte-identical data.
 */
export async function hashSplitFiles(files: SplitFiles): Promise<string> {
  const hash = createHash('sha256');
  for (const file of [files.train, files.validation, files.test]) {
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

export interface FingerprintInput {
  readonly files: SplitFiles;
  readonly counts: DataFingerprint['splits'];
  /** Event times (epoch ms) of the oldest and newest row. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly featureColumns: readonly string[];
  readonly labelColumn: string;
}

/** The fingerprint a run records for its data: counts, time range, content hash, columns. */
export async function dataFingerprint(input: FingerprintInput): Promise<DataFingerprint> {
  const { counts } = input;
  return {
    rows: counts.train + counts.validation + counts.test,
    splits: { train: counts.train, validation: counts.validation, test: counts.test },
    from: new Date(input.fromMs).toISOString(),
    to: new Date(input.toMs).toISOString(),
    sha256: await hashSplitFiles(input.files),
    files: { train: input.files.train, validation: input.files.validation, test: input.files.test },
    featureColumns: [...input.featureColumns],
    labelColumn: input.labelColumn,
  };
}
