import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseCsv } from 'csv-parse/sync';
import { SlipwayError } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import type { TensorSpec } from '../tensor/datatypes.js';
import type { CliIo } from './io.js';

interface ModelMetadataResponse {
  inputs: TensorSpec[];
}

/** Call a running server; its `{error}` answers become SlipwayErrors, an unreachable server a clear UNAVAILABLE. */
export async function callServer(url: string, init?: RequestInit): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new SlipwayError('UNAVAILABLE', `cannot reach ${new URL(url).origin} (${cause}); start one with \`slipway serve\` or pass --url`);
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
    throw new SlipwayError(response.status === 404 ? 'NOT_FOUND' : response.status >= 500 ? 'UNAVAILABLE' : 'INVALID_ARGUMENT', message);
  }
  return body;
}

/** CSV rows -> instances: one array per row for a single-input model, objects keyed by input otherwise. */
function csvInstances(text: string, inputs: readonly TensorSpec[]): unknown[] {
  const records = parseCsv<Record<string, string>>(text, { columns: true, skip_empty_lines: true, trim: true });
  const numeric = (spec: TensorSpec | undefined, value: string): unknown => {
    if (spec?.datatype === 'BYTES') return value;
    if (spec?.datatype === 'BOOL') return value === 'true' || value === '1';
    const n = Number(value);
    return value === '' || Number.isNaN(n) ? value : n;
  };
  if (inputs.length === 1) {
    const spec = inputs[0];
    return records.map((row) => Object.values(row).map((v) => numeric(spec, v)));
  }
  return records.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, numeric(inputs.find((s) => s.name === k), v)])));
}

/** `slipway predict model[@version] --input rows.json|rows.csv` against a running server. */
export function registerPredictCommand(program: Command, io: CliIo): void {
  program
    .command('predict')
    .description('Send rows to a running server and print its predictions')
    .argument('<model[@version]>')
    .requiredOption('-i, --input <file>', 'rows.json ([row, ...], {"instances": [...]} or {"inputs": {...}}) or rows.csv (header = input or feature names)')
    .option('--url <url>', 'server URL', 'http://127.0.0.1:8080')
    .option('--json', 'print the whole response as JSON')
    .action(async (ref: string, options: { input: string; url: string; json?: boolean }) => {
      const { model, selector } = parseModelRef(ref);
      const base = options.url.replace(/\/+$/, '');
      const file = path.resolve(io.cwd, options.input);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new SlipwayError('INVALID_ARGUMENT', `cannot read ${options.input}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      }
      let body: unknown;
      if (file.toLowerCase().endsWith('.csv')) {
        const versionPath = selector === 'latest' ? '' : `/versions/${encodeURIComponent(selector)}`;
        const meta = (await callServer(`${base}/v2/models/${encodeURIComponent(model)}${versionPath}`)) as ModelMetadataResponse;
        body = { instances: csvInstances(text, meta.inputs) };
      } else {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (error) {
          throw new SlipwayError('INVALID_ARGUMENT', `${options.input} is not valid JSON: ${(error as Error).message}`);
        }
        body = Array.isArray(parsed) ? { instances: parsed } : parsed;
      }
      const result = (await callServer(`${base}/v1/models/${encodeURIComponent(`${model}@${selector}`)}:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })) as { predictions: unknown[]; model_version: string };
      if (options.json) return io.stdout(JSON.stringify(result, null, 2) + '\n');
      io.stdout(`# ${model}@${result.model_version}\n`);
      for (const p of result.predictions) io.stdout(JSON.stringify(p) + '\n');
    });
}
