import { invalid } from '../core/errors.js';
import { withConnection } from '../io/duckdb.js';
import type { TableColumn } from '../io/index.js';
import { quoteIdentifier, resolveTableSource, toReadError } from '../io/table-source.js';
import type { InputMapping } from '../tensor/column-mapping.js';
import { quote, readsText } from './input-values.js';

/** Values looked at per column: enough to tell a text column from a numeric one with a few bad values. */
const SAMPLE_ROWS = 1000;

/**
 * Refuses, before anything runs, a text column feeding a numeric input when none of its first
 * {@link SAMPLE_ROWS} values is a number: a name or id column caught by the one-input default
 * mapping (the first k columns). Every row would be rejected for it, and the reason, "holds
 * "alice", not a number", would not say what to change (issue 13, item 12). A numeric column
 * with some bad values still has its bad rows rejected one by one.
 */
export async function checkTextColumns(
  file: string,
  fileColumns: readonly TableColumn[],
  mappings: readonly InputMapping[],
): Promise<void> {
  const textual = new Set(fileColumns.filter((c) => c.type === 'string' || c.type === 'other').map((c) => c.name));
  const suspects = mappings.flatMap((m) =>
    readsText(m.spec.datatype) ? [] : m.columns.filter((c) => textual.has(c)).map((column) => ({ column, mapping: m })),
  );
  if (suspects.length === 0) return;
  const source = await resolveTableSource(file);
  for (const { column, mapping } of suspects) {
    const value = quoteIdentifier(column);
    const sql = `SELECT count(v) AS present, count(TRY_CAST(v AS DOUBLE)) AS numbers, any_value(v) AS sample FROM (SELECT CAST(${value} AS VARCHAR) AS v FROM ${source.sql} LIMIT ${SAMPLE_ROWS})`;
    const row = await withConnection(
      async (connection) => (await connection.runAndReadAll(sql, [source.path])).getRows()[0],
    ).catch((error: unknown) => {
      throw toReadError(source, error);
    });
    const [present, numbers, sample] = row ?? [0, 0, null];
    if (Number(present) > 0 && Number(numbers) === 0) {
      const { spec, columns } = mapping;
      throw invalid(
        `column "${column}" holds text (${quote(String(sample))}), not numbers, but input "${spec.name}" is ${spec.datatype} and reads columns ${columns.map((c) => `"${c}"`).join(', ')}; ` +
          `name an id column (--id-column / "idColumn"), copy it with --keep / "keep", or choose the input's columns with --map / "map"`,
        { column },
      );
    }
  }
}
