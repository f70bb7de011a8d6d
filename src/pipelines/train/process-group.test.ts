import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { groupMembers, isAlive, killProcessGroup } from './process-group.js';

/** A detached shell (its own group) that starts two sleeps; returns the group id and the sleeps' pids. */
async function spawnGroup(script: string): Promise<{ pgid: number; children: number[] }> {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  for (let i = 0; i < 100 && out.split('\n').length < 3; i++) await sleep(20);
  child.unref();
  return { pgid: child.pid!, children: out.trim().split('\n').map(Number) };
}

describe('killProcessGroup', () => {
  it('stops a whole group left behind (leader and children) with SIGTERM', async () => {
    const { pgid, children } = await spawnGroup('sleep 30 & echo $!; sleep 30 & echo $!; wait');
    expect(children).toHaveLength(2);
    expect([pgid, ...children].map(isAlive)).toEqual([true, true, true]);
    expect(groupMembers(pgid).sort()).toEqual([pgid, ...children].sort());
    const started = Date.now();
    expect(await killProcessGroup(pgid, 5000)).toBe(3);
    expect(Date.now() - started).toBeLessThan(3000);
    expect([pgid, ...children].map(isAlive)).toEqual([false, false, false]);
    expect(groupMembers(pgid)).toEqual([]);
    expect(await killProcessGroup(pgid)).toBe(0);
  });

  it('uses SIGKILL after the grace period when the group ignores SIGTERM', async () => {
    const { pgid, children } = await spawnGroup("trap '' TERM; sleep 30 & echo $!; sleep 30 & echo $!; wait");
    const started = Date.now();
    expect(await killProcessGroup(pgid, 400)).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect([pgid, ...children].map(isAlive)).toEqual([false, false, false]);
  });

  it('isAlive: this process yes, an unused or invalid pid no', () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(0)).toBe(false);
    expect(isAlive(-5)).toBe(false);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
  });
});
