/**
 * `slipway token create | list | revoke`: API tokens, on the store directly (like `push`), so the
 * first admin token can be made before any server runs. The secret is printed once, by `create`;
 * nothing else ever shows it, and the store keeps only its salted hash (src/auth/token-secret.ts).
 */
import type { Command } from 'commander';
import { SqlTokenStore } from '../auth/token-store.js';
import { TokenService, type TokenInfo } from '../auth/token-service.js';
import { ROLES } from '../auth/principal.js';
import { auditedCliChange } from './cli-audit.js';
import { table } from './format.js';
import type { CliIo } from './io.js';
import { withRegistry } from './registry-commands.js';

export function registerTokenCommands(program: Command, io: CliIo): void {
  const token = program
    .command('token')
    .description('API tokens: who may call a server, with which role and for which models');

  token
    .command('create')
    .description('Create a token and print its secret, once (only a hash is stored)')
    .argument('<name>', 'a name to know it by (unique among tokens not revoked)')
    .requiredOption('--role <role>', `what it may do: ${ROLES.join(' < ')} (each includes the ones before)`)
    .option(
      '--models <patterns>',
      "model names it is limited to, comma-separated; a trailing * matches a prefix ('fraud,risk*')",
    )
    .option('--expires <duration>', 'expire after this long (e.g. 90d, 12h); default never')
    .option('--json', 'machine-readable output (the secret included)')
    .action(async (name: string, options: { role: string; models?: string; expires?: string; json?: boolean }) => {
      const models = options.models?.split(',').map((pattern) => pattern.trim());
      const created = await withRegistry(io, ({ database }) =>
        auditedCliChange(
          database,
          { action: 'token.create', target: () => name, details: { role: options.role, models: models ?? null } },
          () =>
            new TokenService(new SqlTokenStore(database)).create({
              name,
              role: options.role,
              ...(models === undefined ? {} : { models }),
              ...(options.expires === undefined ? {} : { expires: options.expires }),
            }),
        ),
      );
      if (options.json) return io.stdout(JSON.stringify({ ...created.token, secret: created.secret }, null, 2) + '\n');
      const { token: info } = created;
      io.stdout(
        `created token "${info.name}": role ${info.role}, models ${info.models?.join(', ') ?? 'all'}, ` +
          `expires ${info.expiresAt ?? 'never'}\n` +
          `secret (shown only now; send it as "Authorization: Bearer <secret>" or SLIPWAY_TOKEN):\n${created.secret}\n`,
      );
    });

  token
    .command('list')
    .description('List tokens (never their secrets)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const tokens = await withRegistry(io, ({ database }) => new TokenService(new SqlTokenStore(database)).list());
      if (options.json) return io.stdout(JSON.stringify(tokens, null, 2) + '\n');
      io.stdout(tokens.length === 0 ? 'no tokens (create one with `slipway token create`)\n' : formatTokens(tokens));
    });

  token
    .command('revoke')
    .description('Revoke a token: every server sharing the store refuses it within a second')
    .argument('<name>')
    .action(async (name: string) => {
      await withRegistry(io, ({ database }) =>
        auditedCliChange(database, { action: 'token.revoke', target: () => name }, () =>
          new TokenService(new SqlTokenStore(database)).revoke(name),
        ),
      );
      io.stdout(`revoked token "${name}"\n`);
    });
}

function formatTokens(tokens: readonly TokenInfo[]): string {
  return table([
    ['NAME', 'ROLE', 'MODELS', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
    ...tokens.map((t) => [
      t.name,
      t.role,
      t.models?.join(',') ?? '*',
      t.status,
      t.createdAt,
      t.expiresAt ?? '-',
      t.lastUsedAt ?? '-',
    ]),
  ]);
}
