import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SlipwayError } from '../core/errors.js';
import { checkName } from '../core/names.js';
import { writeFileAtomically } from '../io/atomic-file.js';
import type { BatchSummary } from './types.js';

/**
 * What a job's output depends on. A rerun with the same job id resumes only when this is equal:
 * chunk k must be the same rows scored the same way, so the input files (size and mtime), the
 * model's exact version and bytes, the chunk size and every column choice are all in it.
 */
export interface JobFingerprint {
  readonly model: string;
  readonly sha256: string;
  readonly input: string;
  readonly files: readonly { readonly file: string; readonly size: number; readonly mtimeMs: number }[];
  readonly chunkRows: number;
  /** Input name -> columns, as resolved. */
  readonly mapping: Readonly<Record<string, readonly string[]>>;
  readonly idColumn: string | null;
  readonly keep: readonly string[];
  readonly features: { readonly service: string; readonly version: number; readonly timestampColumn: string } | null;
}

export interface ChunkRecord {
  /** 1-based; the part file's number. */
  readonly index: number;
  readonly rows: number;
  readonly scored: number;
  readonly rejected: number;
}

/** `<job>/manifest.json`: rewritten atomically after every part, so it never names a part that is not complete. */
export interface JobManifest {
  readonly format: 1;
  readonly jobId: string;
  readonly fingerprint: JobFingerprint;
  readonly chunks: readonly ChunkRecord[];
  readonly summary?: BatchSummary;
}

/** The folder of one job: its manifest, numbered parts and per-part rejects. */
export class JobFolder {
  readonly dir: string;

  constructor(workDir: string, jobId: string) {
    checkName('job id', jobId);
    this.dir = path.join(workDir, jobId);
  }

  get manifestPath(): string {
    return path.join(this.dir, 'manifest.json');
  }

  partPath(index: number): string {
    return path.join(this.dir, 'parts', `part-${String(index).padStart(6, '0')}.parquet`);
  }

  rejectsPath(index: number): string {
    return path.join(this.dir, 'rejects', `part-${String(index).padStart(6, '0')}.jsonl`);
  }

  /** Creates the folders, and removes temp files a process killed mid-write left behind. */
  async create(): Promise<void> {
    for (const sub of ['parts', 'rejects']) {
      const folder = path.join(this.dir, sub);
      await mkdir(folder, { recursive: true });
      for (const name of await readdir(folder)) {
        if (name.startsWith('.') && name.endsWith('.tmp')) await rm(path.join(folder, name), { force: true });
      }
    }
  }

  async read(): Promise<JobManifest | undefined> {
    const text = await readFile(this.manifestPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as JobManifest;
    } catch (error) {
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `the manifest of job folder ${this.dir} is not valid JSON; delete the folder to start over`,
        { cause: error },
      );
    }
  }

  async write(manifest: JobManifest): Promise<void> {
    await writeFileAtomically(this.manifestPath, (temp) => writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`));
  }

  async writeRejects(index: number, rejects: readonly { id: unknown; reason: string }[]): Promise<void> {
    const text = rejects
      .map((r) => `${JSON.stringify({ id: typeof r.id === 'bigint' ? r.id.toString() : r.id, reason: r.reason })}\n`)
      .join('');
    await writeFileAtomically(this.rejectsPath(index), (temp) => writeFile(temp, text));
  }
}

/** The first field of `actual` that differs from `expected`, for a clear refusal. */
export function fingerprintDifference(
  expected: JobFingerprint,
  actual: JobFingerprint,
): keyof JobFingerprint | undefined {
  for (const key of Object.keys(expected) as (keyof JobFingerprint)[]) {
    if (JSON.stringify(expected[key]) !== JSON.stringify(actual[key])) return key;
  }
  return undefined;
}

/** Size and mtime of every file `input` names (a glob expands to its matches, sorted). */
export async function inputFiles(files: readonly string[]): Promise<JobFingerprint['files']> {
  return Promise.all(
    files.map(async (file) => {
      const info = await stat(file);
      return { file, size: info.size, mtimeMs: info.mtimeMs };
    }),
  );
}
