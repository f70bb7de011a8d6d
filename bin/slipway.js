#!/usr/bin/env node
// `slipway serve` runs with a larger V8 young generation: the batcher keeps a few dozen requests
// alive across scavenges, and with the default 16 MB semi-space they are promoted and collected by
// Mark-Compact every second (p99 +30%, measured). V8 sizes the young generation when the isolate
// is created, so the flag must be on the command line: `v8.setFlagsFromString` afterwards changes
// the flag but not the heap already set up, and a `#!` line cannot carry it portably. So the
// server re-executes itself with it unless the user already chose a value.
import { spawn } from 'node:child_process';

const FLAG = '--max-semi-space-size';
const PARENT = 'SLIPWAY_SERVE_PARENT_PID';
const chosen = process.execArgv.some((a) => a.startsWith(FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(FLAG);

if (process.argv[2] === 'serve' && !chosen) {
  // An IPC channel the child watches: if this process dies, even by kill -9, the channel closes and
  // the server stops instead of holding the ports as an orphan.
  const child = spawn(process.execPath, [`${FLAG}=64`, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [PARENT]: String(process.pid) },
  });
  child.channel?.unref();
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    process.exitCode = code ?? (signal ? 1 : 0);
  });
} else {
  const parent = process.env[PARENT];
  if (parent !== undefined) {
    // Not for the cluster workers this server may fork: their parent is this process.
    delete process.env[PARENT];
    watchParent(Number(parent));
  }
  const { runSlipway } = await import('../dist/main.js');
  process.exitCode = await runSlipway(process.argv.slice(2));
}

/**
 * Stop gracefully (as on SIGTERM: drain, flush, exit) when the wrapper that started this server is
 * gone: its IPC channel closes at once, and a changed parent pid is checked every second in case
 * the channel is not there.
 */
function watchParent(pid) {
  let gone = false;
  const stop = () => {
    if (gone) return;
    gone = true;
    clearInterval(poll);
    process.kill(process.pid, 'SIGTERM');
  };
  const poll = setInterval(() => {
    if (process.ppid !== pid) stop();
  }, 1000);
  poll.unref();
  if (process.channel) {
    process.on('disconnect', stop);
    // The channel must not keep a server that has stopped (or any other command) alive.
    process.channel.unref();
  }
}
