import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { SlipwayError } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import { SERVING_CONFIG_KEYS } from '../registry/serving-config.js';
import { collect } from './format.js';
import type { CliIo } from './io.js';
import { callServer, serverToken } from './predict-command.js';
import { withPlatform } from './registry-commands.js';
import { auditedCliChange } from './cli-audit.js';

/** `load`, `unload` (against a running server) and `config` (a model's serving settings, in the store). */
export function registerLifecycleCommands(program: Command, io: CliIo): void {
  for (const action of ['load', 'unload'] as const) {
    program
      .command(action)
      .description(
        action === 'load'
          ? 'Load or reload a version on a running server (with its current serving config); the old copy serves until the new one is warm'
          : 'Unload a version on a running server once its in-flight requests end',
      )
      .argument('<model[@version]>', 'name@1.2.3, name@alias or name (latest)')
      .option('--url <url>', 'server URL', 'http://127.0.0.1:8080')
      .option('--token <token>', 'API token sent as Authorization: Bearer (default SLIPWAY_TOKEN)')
      .action(async (ref: string, options: { url: string; token?: string }) => {
        const { model, selector } = parseModelRef(ref);
        const result = (await callServer(
          `${options.url.replace(/\/+$/, '')}/v2/repository/models/${encodeURIComponent(model)}/${action}`,
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ parameters: { version: selector } }),
          },
          serverToken(options.token, io),
        )) as { name: string; version: string; unloaded?: boolean };
        const what = action === 'load' ? 'loaded' : result.unloaded === false ? 'was not loaded:' : 'unloaded';
        io.stdout(`${what} ${result.name}@${result.version}\n`);
      });
  }

  program
    .command('config')
    .description(
      `Show or change a model's serving settings (${SERVING_CONFIG_KEYS.join(', ')}); they apply at the next load`,
    )
    .argument('<model>')
    .option('--set <key=value>', 'a setting (repeatable); value "default" removes it', collect, [])
    .option(
      '--warmup-request <file.json>',
      'warm each version up with this v2 JSON request body ({"inputs": [...]}) before it is ready (the serving setting warmup={"request": ...})',
    )
    .option('--json', 'machine-readable output')
    .action(async (model: string, options: { set: string[]; warmupRequest?: string; json?: boolean }) => {
      const warmupRequest =
        options.warmupRequest === undefined ? undefined : await readWarmupRequest(io, options.warmupRequest);
      await withPlatform(io, async ({ registry, database }) => {
        let config: Record<string, unknown> = { ...(await registry.getServingConfig(model)) };
        const changing = options.set.length > 0 || warmupRequest !== undefined;
        if (changing) {
          if (warmupRequest !== undefined) config.warmup = { request: warmupRequest };
          for (const pair of options.set) {
            const eq = pair.indexOf('=');
            if (eq <= 0) throw new SlipwayError('INVALID_ARGUMENT', `--set ${pair}: expected key=value`);
            const key = pair.slice(0, eq);
            const value = pair.slice(eq + 1);
            if (value === 'default') delete config[key];
            else config[key] = value === 'true' ? true : value === 'false' ? false : value;
          }
          const wanted = config;
          config = {
            ...(await auditedCliChange(database, { action: 'config.set', target: () => model }, () =>
              registry.setServingConfig(model, wanted),
            )),
          };
        }
        if (options.json) return io.stdout(JSON.stringify(config, null, 2) + '\n');
        const entries = Object.entries(config);
        io.stdout(
          entries.length === 0
            ? `${model}: default serving settings\n`
            : entries.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n') + '\n',
        );
        if (changing) io.stdout(`apply it to a running server with \`slipway load ${model}\`\n`);
      });
    });
}

/** A warm-up request file's JSON; the serving config checks what it holds, by name. */
async function readWarmupRequest(io: CliIo, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path.resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `cannot read warm-up request ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `warm-up request ${file} is not valid JSON: ${(error as Error).message}`,
    );
  }
}
