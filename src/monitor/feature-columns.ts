/**
 * Tensors as named columns, for drift: a tensor `[rows, k]` gives k columns `name[0]..name[k-1]`
 * (one column `name` when k is 1). Strings and integer-typed outputs (class labels) are
 * categorical; everything else numeric. Tensors wider than {@link MAX_COLUMNS_PER_TENSOR}
 * elements per row (images, embeddings) are skipped: per-pixel drift tests say nothing useful.
 */
import { ProfileBuilder, type ColumnKind, type ColumnProfile } from '../stats/index.js';
import { elementCount, type Datatype, type Tensor } from '../tensor/datatypes.js';
import { fromHalfBits } from '../tensor/fp16.js';

export const MAX_COLUMNS_PER_TENSOR = 64;

const INTEGER_TYPES: ReadonlySet<Datatype> = new Set([
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
]);

/** Whether columns of this tensor are categories rather than quantities. */
export function columnKind(datatype: Datatype, side: 'input' | 'output'): ColumnKind {
  if (datatype === 'BYTES') return 'categorical';
  return side === 'output' && INTEGER_TYPES.has(datatype) ? 'categorical' : 'numeric';
}

/** The value of element i as a number or string. */
export function elementValue(tensor: Tensor, i: number): number | string | null {
  const value = tensor.data[i];
  if (value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number(value);
  return tensor.datatype === 'FP16' ? fromHalfBits(value) : value;
}

/** Streams tensors of one side (inputs or outputs) into per-column profiles. */
export class ProfileSet {
  private readonly builders = new Map<string, ProfileBuilder>();
  private readonly skippedTensors = new Set<string>();

  constructor(
    private readonly side: 'input' | 'output',
    private readonly options: { maxSample?: number; seed?: number } = {},
  ) {}

  /** Add the rows of one request (or one chunk of a file). */
  add(tensors: readonly Tensor[]): void {
    for (const tensor of tensors) {
      const rows = tensor.shape.length === 0 ? 1 : (tensor.shape[0] as number);
      if (rows === 0) continue;
      const width = elementCount(tensor.shape) / rows;
      if (width > MAX_COLUMNS_PER_TENSOR) {
        this.skippedTensors.add(tensor.name);
        continue;
      }
      for (let j = 0; j < width; j++) {
        const builder = this.builder(
          width === 1 ? tensor.name : `${tensor.name}[${j}]`,
          columnKind(tensor.datatype, this.side),
        );
        for (let r = 0; r < rows; r++) builder.add(elementValue(tensor, r * width + j));
      }
    }
  }

  /** Add one column of values directly (a file column mapped to a feature). */
  builder(name: string, kind: ColumnKind): ProfileBuilder {
    let builder = this.builders.get(name);
    if (builder === undefined) {
      builder = new ProfileBuilder(name, {
        kind,
        ...(this.options.maxSample === undefined ? {} : { maxSample: this.options.maxSample }),
        ...(this.options.seed === undefined ? {} : { seed: this.options.seed }),
      });
      this.builders.set(name, builder);
    }
    return builder;
  }

  build(): ColumnProfile[] {
    return [...this.builders.values()].map((b) => b.build());
  }

  /** Tensors left out because they are too wide. */
  skipped(): string[] {
    return [...this.skippedTensors];
  }
}
