// How much of the machine something OTHER than this benchmark used during a cell, so a reader
// can tell a clean measurement from one taken while the box was busy (/proc, Linux only).
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ; `getconf CLK_TCK` is 100 on Linux

/** Busy ticks of the whole machine since boot (all CPUs; idle and iowait excluded). */
function machineBusyTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal; guest is inside user
  return total - fields[3] - fields[4];
}

/** pid -> { ppid, ticks } for every process (ticks = own + reaped children's user+system time). */
function processTable() {
  const table = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      table.set(Number(name), {
        ppid: Number(f[1]),
        ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
      });
    } catch {
      // the process exited while we were reading
    }
  }
  return table;
}

/** CPU ticks of this process, every live descendant (exited, reaped ones are in cutime) and `extraPids`. */
function ourTicks(extraPids = []) {
  const table = processTable();
  const children = new Map();
  for (const [pid, p] of table) {
    if (!children.has(p.ppid)) children.set(p.ppid, []);
    children.get(p.ppid).push(pid);
  }
  let ticks = 0;
  const stack = [process.pid, ...extraPids];
  while (stack.length) {
    const pid = stack.pop();
    ticks += table.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return ticks;
}

/**
 * Start measuring; `stop()` returns the share (0..1) of all cores used by other processes.
 * `extraPids` count as ours too (e.g. a local Redis server the benchmark drives).
 */
export function otherCpuProbe({ extraPids = [] } = {}) {
  const t0 = performance.now();
  const machine0 = machineBusyTicks();
  const ours0 = ourTicks(extraPids);
  return {
    stop() {
      const seconds = (performance.now() - t0) / 1000;
      const other = machineBusyTicks() - machine0 - (ourTicks(extraPids) - ours0);
      return Math.max(0, other / (seconds * TICKS_PER_SECOND * cpus().length));
    },
  };
}

/**
 * Before a cell: sample 0.5 s at a time until other processes use less than `threshold` of the
 * machine, giving up after `maxSeconds` (0 = never wait). Logs when it had to wait.
 */
export async function waitForQuiet({ threshold, maxSeconds, log, extraPids = [] }) {
  if (maxSeconds <= 0) return;
  const deadline = performance.now() + maxSeconds * 1000;
  let waited = false;
  for (;;) {
    const probe = otherCpuProbe({ extraPids });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const other = probe.stop();
    const pct = `${Math.round(other * 100)}%`;
    if (other < threshold) {
      if (waited) log(`  machine quiet again (${pct} other CPU)`);
      return;
    }
    if (performance.now() >= deadline) {
      log(`  machine still busy (${pct} other CPU) after ${maxSeconds}s; measuring anyway`);
      return;
    }
    if (!waited) log(`  machine busy (${pct} other CPU); waiting up to ${maxSeconds}s for it to calm down`);
    waited = true;
  }
}

/** Pids of running processes whose command name is `comm` (e.g. 'redis-server'). */
export function pidsNamed(comm) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() === comm) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}
