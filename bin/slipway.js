#!/usr/bin/env node
// `slipway serve` runs with a larger V8 young generation: the batcher keeps a few dozen requests
// alive across scavenges, and with the default 16 MB semi-space they are promoted and collected by
// Mark-Compact every second (p99 +30%, measured). V8 reads this flag only at start-up, so the
// server re-executes itself with it unless the user already chose a value.
import { spawn } from 'node:child_process';

const FLAG = '--max-semi-space-size';
const chosen = process.execArgv.some((a) => a.startsWith(FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(FLAG);

if (process.argv[2] === 'serve' && !chosen) {
  const child = spawn(process.execPath, [`${FLAG}=64`, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
} else {
  const { runCli } = await import('../dist/cli/main.js');
  process.exitCode = await runCli(process.argv.slice(2));
}
