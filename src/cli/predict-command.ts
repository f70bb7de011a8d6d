import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse/sync';
import { SlipwayError, type ErrorCode } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import type { TensorSpec } from '../tensor/datatypes.js';
import type { CliIo } from './io.js';

interface ModelMetadataResponse {
  inputs: TensorSpec[];
}

/** The API token a command sends to a server: `--token`, else `SLIPWAY_TOKEN`; undefined = none. */
export function serverToken(flag: string | undefined, io: Pick<CliIo, 'env'>): string | undefined {
  return flag || io.env.SLIPWAY_TOKEN || undefined;
}

/** What a server's refusal status means (the rest: 404 NOT_FOUND, 5xx UNAVAILABLE, else INVALID_ARGUMENT). */
const REFUSALS: Readonly<Record<number, ErrorCode>> = {
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  429: 'RATE_LIMITED',
};

/**
 * Call a running server, with `Authorization: Bearer <token>` when given; its `{error}` answers
 * become SlipwayErrors, an unreachable server a clear UNAVAILABLE.
 */
export async function callServer(url: string, init?: RequestInit, token?: string): Promise<unknown> {
  let response: Response;
  try {
    const headers = new Headers(init?.headers);
    if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
    response = await fetch(url, { ...init, headers });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SlipwayError(
      'UNAVAILABLE',
      `cannot reach ${new URL(url).origin} (${cause}); start one with \`slipway serve\` or pass --url`,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (!response.ok) {
    const message = typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : text;
    const refusal = REFUSALS[response.status];
    const hint =
      response.status === 401
        ? ' (pass a token with --token or SLIPWAY_TOKEN; create one with `slipway token create`)'
        : '';
    throw new SlipwayError(
      refusal ?? (response.status === 404 ? 'NOT_FOUND' : response.status >= 500 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT'),
      message + hint,
    );
  }
  return body;
}

/** Columns that are not model inputs: copied next to each prediction (`batch run` has the same flags). */
interface Passthrough {
  /** The column identifying each row; absent = the row number, as "row" (0-based, like batch). */
  readonly idColumn?: string;
  readonly keep: readonly string[];
}

function passthroughOf(options: { idColumn?: string; keep?: string }): Passthrough | undefined {
  const keep =
    options.keep === undefined
      ? []
      : options.keep
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== '');
  if (options.keep !== undefined && keep.length === 0)
    throw new SlipwayError('INVALID_ARGUMENT', '--keep needs column names, comma-separated');
  if (options.idColumn === undefined && keep.length === 0) return undefined;
  if (options.idColumn !== undefined && keep.includes(options.idColumn))
    throw new SlipwayError('INVALID_ARGUMENT', `--keep "${options.idColumn}" is already the --id-column`);
  return { ...(options.idColumn === undefined ? {} : { idColumn: options.idColumn }), keep };
}

/** Refuse passthrough columns a file lacks, naming the columns it has. */
function checkColumns(passthrough: Passthrough | undefined, columns: readonly string[], file: string): void {
  if (passthrough === undefined) return;
  for (const [flag, names] of [
    ['--id-column', passthrough.idColumn === undefined ? [] : [passthrough.idColumn]],
    ['--keep', passthrough.keep],
  ] as const) {
    const missing = names.find((c) => !columns.includes(c));
    if (missing !== undefined)
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${flag} "${missing}": ${file} has no such column; its columns are ${columns.join(', ')}`,
      );
  }
}

/** The id and kept values of each row, in output order. */
function passthroughRows(
  records: readonly Record<string, unknown>[],
  passthrough: Passthrough,
): Record<string, unknown>[] {
  return records.map((row, i) => ({
    ...(passthrough.idColumn === undefined ? { row: i } : { [passthrough.idColumn]: row[passthrough.idColumn] }),
    ...Object.fromEntries(passthrough.keep.map((c) => [c, row[c]])),
  }));
}

const omit = (row: Record<string, unknown>, columns: ReadonlySet<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(row).filter(([k]) => !columns.has(k)));

function passthroughColumns(passthrough: Passthrough | undefined): Set<string> {
  return new Set(
    passthrough === undefined
      ? []
      : [...(passthrough.idColumn === undefined ? [] : [passthrough.idColumn]), ...passthrough.keep],
  );
}

/**
 * CSV rows -> instances: one array per row for a single-input model, objects keyed by input
 * otherwise. A column that is not an input is refused here, naming the flags that pass it through.
 */
function csvInstances(
  text: string,
  inputs: readonly TensorSpec[],
  file: string,
  passthrough: Passthrough | undefined,
): { instances: unknown[]; records: Record<string, string>[] } {
  const records = parseCsv<Record<string, string>>(text, { columns: true, skip_empty_lines: true, trim: true });
  const header = records[0] === undefined ? [] : Object.keys(records[0]);
  checkColumns(passthrough, header, file);
  const skip = passthroughColumns(passthrough);
  const features = header.filter((c) => !skip.has(c));
  const hint = 'pass --id-column <column> or --keep <columns> for columns that are not inputs';
  const numeric = (spec: TensorSpec | undefined, value: string): unknown => {
    if (spec?.datatype === 'BYTES') return value;
    if (spec?.datatype === 'BOOL') return value === 'true' || value === '1';
    const n = Number(value);
    return value === '' || Number.isNaN(n) ? value : n;
  };
  if (inputs.length === 1) {
    const spec = inputs[0];
    const width = spec === undefined || spec.shape.length !== 2 ? undefined : spec.shape[1];
    if (width !== undefined && width > 0 && features.length > width) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `${file} has ${features.length} columns but input "${spec!.name}" takes ${width} values per row; ${hint}`,
      );
    }
    return { instances: records.map((row) => features.map((c) => numeric(spec, row[c] ?? ''))), records };
  }
  const unknown = features.filter((c) => !inputs.some((s) => s.name === c));
  if (unknown.length > 0) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `column${unknown.length > 1 ? 's' : ''} ${unknown.map((c) => `"${c}"`).join(', ')} of ${file} ${unknown.length > 1 ? 'are not inputs' : 'is not an input'} of the model (inputs: ${inputs.map((s) => s.name).join(', ')}); ${hint}`,
    );
  }
  return {
    instances: records.map((row) =>
      Object.fromEntries(
        features.map((c) => [
          c,
          numeric(
            inputs.find((s) => s.name === c),
            row[c] ?? '',
          ),
        ]),
      ),
    ),
    records,
  };
}

/** JSON rows given as objects: the passthrough columns come off before the rows are sent. */
function jsonInstances(
  instances: unknown[],
  file: string,
  passthrough: Passthrough,
): { instances: unknown[]; records: Record<string, unknown>[] } {
  const records = instances.map((row) => {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new SlipwayError(
        'INVALID_ARGUMENT',
        `--id-column and --keep need named columns: ${file} must hold rows as objects ({"column": value, ...}), or use a CSV file`,
      );
    }
    return row as Record<string, unknown>;
  });
  for (const record of records) checkColumns(passthrough, Object.keys(record), file);
  const skip = passthroughColumns(passthrough);
  return { instances: records.map((row) => omit(row, skip)), records };
}

/** `slipway predict model[@version] --input rows.json|rows.csv` against a running server. */
export function registerPredictCommand(program: Command, io: CliIo): void {
  program
    .command('predict')
    .description('Send rows to a running server and print its predictions')
    .argument('<model[@version]>')
    .requiredOption(
      '-i, --input <file>',
      'rows.json ([row, ...], {"instances": [...]} or {"inputs": {...}}) or rows.csv (header = input or feature names)',
    )
    .option(
      '--id-column <name>',
      'column identifying each row, printed with its prediction and not sent (default with --keep: the row number, as "row")',
    )
    .option('--keep <columns>', 'columns to print next to each prediction and not send, comma-separated')
    .option('--url <url>', 'server URL', 'http://127.0.0.1:8080')
    .option('--token <token>', 'API token sent as Authorization: Bearer (default SLIPWAY_TOKEN)')
    .option('--json', 'print the whole response as JSON')
    .action(
      async (
        ref: string,
        options: { input: string; url: string; token?: string; json?: boolean; idColumn?: string; keep?: string },
      ) => {
        const token = serverToken(options.token, io);
        const { model, selector } = parseModelRef(ref);
        const passthrough = passthroughOf(options);
        const base = options.url.replace(/\/+$/, '');
        const file = path.resolve(io.cwd, options.input);
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (error) {
          throw new SlipwayError(
            'INVALID_ARGUMENT',
            `cannot read ${options.input}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          );
        }
        let body: unknown;
        let records: Record<string, unknown>[] | undefined;
        if (file.toLowerCase().endsWith('.csv')) {
          const versionPath = selector === 'latest' ? '' : `/versions/${encodeURIComponent(selector)}`;
          const meta = (await callServer(
            `${base}/v2/models/${encodeURIComponent(model)}${versionPath}`,
            undefined,
            token,
          )) as ModelMetadataResponse;
          const rows = csvInstances(text, meta.inputs, options.input, passthrough);
          body = { instances: rows.instances };
          records = rows.records;
        } else {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (error) {
            throw new SlipwayError(
              'INVALID_ARGUMENT',
              `${options.input} is not valid JSON: ${(error as Error).message}`,
            );
          }
          body = Array.isArray(parsed) ? { instances: parsed } : parsed;
          if (passthrough !== undefined) {
            const instances = (body as { instances?: unknown }).instances;
            if (!Array.isArray(instances))
              throw new SlipwayError(
                'INVALID_ARGUMENT',
                `--id-column and --keep need rows: ${options.input} must be [row, ...] or {"instances": [...]}`,
              );
            const rows = jsonInstances(instances, options.input, passthrough);
            body = { ...(body as object), instances: rows.instances };
            records = rows.records;
          }
        }
        const result = (await callServer(
          `${base}/v1/models/${encodeURIComponent(`${model}@${selector}`)}:predict`,
          { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
          token,
        )) as { predictions: unknown[]; model_version: string };
        // With --id-column/--keep each prediction is printed with its row's id and kept columns.
        const rows =
          passthrough === undefined || records === undefined
            ? undefined
            : passthroughRows(records, passthrough).map((row, i) => ({ ...row, prediction: result.predictions[i] }));
        if (options.json)
          return io.stdout(JSON.stringify(rows === undefined ? result : { ...result, rows }, null, 2) + '\n');
        io.stdout(`# ${model}@${result.model_version}\n`);
        for (const p of rows ?? result.predictions) io.stdout(JSON.stringify(p) + '\n');
      },
    );
}
