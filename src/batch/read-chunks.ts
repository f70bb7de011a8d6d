import type { TableColumn } from '../io/index.js';
import { tableFormatOf } from '../io/table-source.js';
import type { InputMapping } from '../tensor/column-mapping.js';
import type { BufferPool } from './buffer-pool.js';
import type { ChunkEncoder, ReadChunk } from './chunk-encoder.js';
import { readInput } from './read-input.js';
import { readVectorChunks, readsVectors } from './vector-chunks.js';

export interface ReadChunksOptions {
  /** The file (or glob) that is scored. */
  readonly file: string;
  readonly fileColumns: readonly TableColumn[];
  readonly mappings: readonly InputMapping[];
  readonly encoder: ChunkEncoder;
  readonly chunkRows: number;
  /** Rows in the input when known (Parquet), else null. */
  readonly rowsTotal: number | null;
  /** Chunks done before a resume: read past, not encoded. */
  readonly skip: (index: number) => boolean;
  /** Feed buffers to reuse (the fast path's). */
  readonly buffers: BufferPool;
}

/**
 * The input as numbered chunks of `chunkRows` rows, in file order, each encoded for the model
 * (feeds, rejects) with its part columns. Parquet files feeding FP32/FP64 inputs take the fast
 * path of `vector-chunks.ts`; everything else goes through `readInput` and `ChunkEncoder`.
 */
export function readChunks(options: ReadChunksOptions): AsyncGenerator<ReadChunk> {
  const { rowsTotal } = options;
  if (rowsTotal !== null && readsVectors(tableFormatOf(options.file), options.mappings, options.fileColumns))
    return readVectorChunks({ ...options, rowsTotal });
  return readTableChunks(options);
}

async function* readTableChunks(options: ReadChunksOptions): AsyncGenerator<ReadChunk> {
  const { encoder } = options;
  let index = 0;
  let firstRow = 0;
  for await (const chunk of readInput(options.file, options.fileColumns, {
    numeric: encoder.numericColumns,
    text: encoder.textColumns,
    other: encoder.otherColumns,
    chunkRows: options.chunkRows,
  })) {
    index++;
    if (options.skip(index)) {
      yield { index, firstRow, rows: chunk.rows };
    } else {
      const encoded = encoder.encode(chunk, firstRow);
      yield {
        index,
        firstRow,
        rows: chunk.rows,
        work: { encoded, columns: encoder.partColumns(chunk, firstRow, encoded.valid) },
      };
    }
    firstRow += chunk.rows;
  }
}
