import type { Command } from 'commander';
import { SlipwayError } from '../core/errors.js';
import { parseModelRef } from '../registry/model-ref.js';
import { SERVING_CONFIG_KEYS } from '../registry/serving-config.js';
import { collect } from './format.js';
import type { CliIo } from './io.js';
import { callServer } from './predict-command.js';
import { withPlatform } from './registry-commands.js';

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
      .action(async (ref: string, options: { url: string }) => {
        const { model, selector } = parseModelRef(ref);
        const result = (await callServer(`${options.url.replace(/\/+$/, '')}/v2/repository/models/${encodeURIComponent(model)}/${action}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ parameters: { version: selector } }),
        })) as { name: string; version: string; unloaded?: boolean };
        const what = action === 'load' ? 'loaded' : result.unloaded === false ? 'was not loaded:' : 'unloaded';
        io.stdout(`${what} ${result.name}@${result.version}\n`);
      });
  }

  program
    .command('config')
    .description(`Show or change a model's serving settings (${SERVING_CONFIG_KEYS.join(', ')}); they apply at the next load`)
    .argument('<model>')
    .option('--set <key=value>', 'a setting (repeatable); value "default" removes it', collect, [])
    .option('--json', 'machine-readable output')
    .action(async (model: string, options: { set: string[]; json?: boolean }) => {
      await withPlatform(io, async ({ registry }) => {
        let config: Record<string, unknown> = { ...(await registry.getServingConfig(model)) };
        if (options.set.length > 0) {
          for (const pair of options.set) {
            const eq = pair.indexOf('=');
            if (eq <= 0) throw new SlipwayError('INVALID_ARGUMENT', `--set ${pair}: expected key=value`);
            const key = pair.slice(0, eq);
            const value = pair.slice(eq + 1);
            if (value === 'default') delete config[key];
            else config[key] = value === 'true' ? true : value === 'false' ? false : value;
          }
          config = { ...(await registry.setServingConfig(model, config)) };
        }
        if (options.json) return io.stdout(JSON.stringify(config, null, 2) + '\n');
        const entries = Object.entries(config);
        io.stdout(entries.length === 0 ? `${model}: default serving settings\n` : entries.map(([k, v]) => `${k}=${String(v)}`).join('\n') + '\n');
        if (options.set.length > 0) io.stdout(`apply it to a running server with \`slipway load ${model}\`\n`);
      });
    });
}
