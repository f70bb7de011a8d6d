/**
 * The Node options a scoring worker thread is started with: the parent's, kept only when they are
 * on this allow-list.
 *
 * A Worker given `execArgv` refuses V8 flags and per-process options with
 * ERR_WORKER_INVALID_EXEC_ARGV, and `slipway serve` runs with a V8 heap flag
 * (`--max-semi-space-size`, see bin/slipway.js), so handing workers `process.execArgv` failed every
 * batch job a default server ran (issue 13, item 9). Which flags a parent carries is not ours to
 * know (a wrapper, NODE_OPTIONS, a test runner), so this is an allow-list rather than a deny-list:
 * module loading (preloads, resolution conditions) and diagnostics pass, everything else (heap and
 * other V8 flags, inspector, process-wide options) stays with the parent. The scoring workers
 * allocate their large buffers off the V8 heap (typed arrays), so they need no heap flags; a
 * worker that did would set them through the Worker's `resourceLimits`, never `execArgv`.
 * `--input-type` is left out too: the worker's source is CommonJS (see scoring-worker.ts).
 */

/** Options that take a value, as `--name=value` or as `--name value`. */
const WITH_VALUE = new Set([
  '--require',
  '-r',
  '--import',
  '--conditions',
  '-C',
  '--loader',
  '--experimental-loader',
  '--unhandled-rejections',
]);

/** Options without a value. */
const FLAGS = new Set([
  '--enable-source-maps',
  '--no-warnings',
  '--no-deprecation',
  '--pending-deprecation',
  '--throw-deprecation',
  '--trace-deprecation',
  '--trace-warnings',
  '--trace-uncaught',
  '--experimental-import-meta-resolve',
  '--experimental-vm-modules',
]);

/** Every option name the allow-list passes (tests start a real Worker with each). */
export const WORKER_ALLOWED_OPTIONS: readonly string[] = [...WITH_VALUE, ...FLAGS];

/**
 * `parent` (default `process.execArgv`) reduced to the options a worker thread accepts and needs.
 *
 * @example
 * workerExecArgv(['--max-semi-space-size=64', '--enable-source-maps', '-r', 'otel.cjs']); // ['--enable-source-maps', '-r', 'otel.cjs']
 */
export function workerExecArgv(parent: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i] as string;
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    if (WITH_VALUE.has(name)) {
      if (eq >= 0) kept.push(arg);
      else if (i + 1 < parent.length) kept.push(arg, parent[++i] as string);
    } else if (FLAGS.has(arg)) {
      kept.push(arg);
    } else {
      // A dropped option's value given as the next argument goes with it: `execArgv` holds options
      // and their values only (never the script), so an entry not starting with "-" is a value.
      while (i + 1 < parent.length && !(parent[i + 1] as string).startsWith('-')) i++;
    }
  }
  return kept;
}
