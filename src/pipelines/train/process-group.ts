import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a process group gets between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 5000;

/** State, parent and process group of a process from /proc/<pid>/stat; undefined when gone or unreadable. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')' are fixed.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` is running: it exists and is not a zombie (an exited child nobody reaped yet,
 * which a container's init may leave around). Used to tell whether a recorded training process is still
 * there after a restart.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return procStat(pid)?.state !== 'Z';
}

/** The live (non-zombie) processes of process group `pgid` (Linux /proc; elsewhere whether the group answers). */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return isGroupSignalable(pgid) ? [pgid] : [];
  }
  return entries.map(Number).filter((pid) => {
    const stat = procStat(pid);
    return stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z';
  });
}

function isGroupSignalable(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone already (ESRCH) or not ours: nothing to stop.
  }
}

/**
 * Stop every process of the group led by `pgid` (a training command spawned with `detached: true`):
 * SIGTERM, then SIGKILL to whatever is left after `graceMs`. Returns how many processes were still
 * running when it started (0: nothing to do). For a run resumed after a restart, so that no orphan of
 * the previous owner keeps training.
 */
export async function killProcessGroup(pgid: number, graceMs = KILL_GRACE_MS): Promise<number> {
  if (!Number.isInteger(pgid) || pgid <= 1) return 0;
  const running = groupMembers(pgid).length;
  if (running === 0) return 0;
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (groupMembers(pgid).length === 0) return running;
    await sleep(50);
  }
  signalGroup(pgid, 'SIGKILL');
  for (let i = 0; i < 40 && groupMembers(pgid).length > 0; i++) await sleep(25);
  return running;
}
