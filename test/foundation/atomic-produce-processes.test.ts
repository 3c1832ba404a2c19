/**
 * atomicProduce raced by separate OS processes (two workers building the same PCA folder): every
 * producer exits 0 with no warning, one complete folder is left, and no temp folder remains.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = resolve(import.meta.dirname, '../helpers/produce-folder.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function producer(root: string, target: string, delayMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, root, target, String(delayMs)], {
    cwd: resolve(import.meta.dirname, '../..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const done = new Promise<{ code: number | null; out: string; err: string }>((res) =>
    child.on('exit', (code) => res({ code, out, err })),
  );
  return { pid: child.pid, done };
}

describe('atomicProduce raced by processes', () => {
  it('three processes produce one folder at once: all succeed, one complete folder, no temp left', async () => {
    const root = await mkdtemp(join(tmpdir(), 'biobank-race-proc-'));
    const target = join(root, 'derived', 'pca', 'k4-abc');
    const procs = [producer(root, target, 40), producer(root, target, 5), producer(root, target, 20)];
    // Release them together once all have started, so their renames overlap.
    const deadline = Date.now() + 60_000;
    while ((await readdir(root)).filter((f) => f.startsWith('ready-')).length < procs.length) {
      if (Date.now() > deadline) throw new Error('producers did not start');
      await sleep(10);
    }
    await writeFile(join(root, 'go'), '');
    const results = await Promise.all(procs.map((p) => p.done));
    for (const r of results) {
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^ok \d+\n$/);
    }
    expect((await readdir(target)).sort()).toEqual(['info.json', 'pcs.parquet']);
    expect(await readFile(join(target, 'info.json'), 'utf8')).toBe('{"n":1}');
    expect((await readdir(join(root, 'derived', 'pca'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 120_000);
});
