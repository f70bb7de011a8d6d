import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { startArtifactSweeper, type ArtifactSweeper } from './artifact-sweeper.js';

async function blobs(home: string): Promise<string[]> {
  const root = path.join(home, 'blobs', 'sha256');
  const names: string[] = [];
  for (const dir of await readdir(root))
    names.push(...(await readdir(path.join(root, dir))).filter((f) => /^[0-9a-f]{64}$/.test(f)));
  return names.sort();
}

describe('the artifact sweeper (serve runs it with the background work)', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  it('deletes, on its timer, a blob that no version references (a push killed before its row) and keeps the referenced one', async () => {
    const platform = await openTestPlatform();
    cleanup.push(() => platform.dispose());
    const pushed = await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    const orphan = 'e'.repeat(64);
    await mkdir(path.join(platform.home, 'blobs', 'sha256', 'ee'), { recursive: true });
    await writeFile(path.join(platform.home, 'blobs', 'sha256', 'ee', orphan), 'written by a push that was killed');
    expect(await blobs(platform.home)).toEqual([pushed.artifact.sha256, orphan].sort());

    const lines: string[] = [];
    const sweeper: ArtifactSweeper = startArtifactSweeper(platform.registry, {
      intervalMs: 20,
      log: (line) => lines.push(line),
    });
    cleanup.push(() => sweeper.stop());
    const deadline = Date.now() + 10_000;
    while ((await blobs(platform.home)).includes(orphan) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));

    expect(await blobs(platform.home)).toEqual([pushed.artifact.sha256]);
    expect(lines).toContain('artifacts: removed 1 unreferenced blob(s) and 0 stale temporary file(s)');
    expect(await sweeper.sweep()).toEqual([]);
    expect((await platform.registry.resolve('cancer', 'latest')).version).toBe(pushed.version);
  });
});
