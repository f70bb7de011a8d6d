import { runCli } from './main.js';

export interface CliResult {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/**
 * `runCli` with captured output, for CLI tests. `setting` is read on every call (tests create their
 * home in `beforeAll`): the environment (`SLIPWAY_LOG_LEVEL=silent` is added) and working folder.
 *
 * @example
 * const cli = cliRunner(() => ({ env: { SLIPWAY_HOME: home }, cwd: home }));
 * const { code, out } = await cli('models', '--json');
 */
export function cliRunner(
  setting: () => { env: NodeJS.ProcessEnv; cwd: string },
): (...argv: string[]) => Promise<CliResult> {
  return async (...argv) => {
    let out = '';
    let err = '';
    const { env, cwd } = setting();
    const code = await runCli(argv, {
      stdout: (t) => void (out += t),
      stderr: (t) => void (err += t),
      env: { SLIPWAY_LOG_LEVEL: 'silent', ...env },
      cwd,
    });
    return { code, out, err };
  };
}
