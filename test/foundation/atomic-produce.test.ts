/** atomicProduce under racing producers: the loser adopts the winner's output, never fails. */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atomicProduce } from '../../engine/fsutil.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('atomicProduce with racing producers', () => {
  it('a folder produced twice at once: both resolve, one complete folder, no temp left', async () => {
    const root = await mkdtemp(join(tmpdir(), 'biobank-race-'));
    const target = join(root, 'derived', 'pca', 'k4-abc');
    const producer = (delay: number) =>
      atomicProduce(target, async (tmp) => {
        await writeFile(join(root, `started-${delay}`), '');
        const { mkdir } = await import('node:fs/promises');
        await mkdir(tmp, { recursive: true });
        await writeFile(join(tmp, 'pcs.parquet'), 'same content');
        await sleep(delay);
        await writeFile(join(tmp, 'info.json'), '{"n":1}');
        return { delay };
      });
    const results = await Promise.all([producer(10), producer(60), producer(30)]);
    expect(results.map((r) => r.delay).sort()).toEqual([10, 30, 60]);
    expect((await readdir(target)).sort()).toEqual(['info.json', 'pcs.parquet']);
    expect(await readFile(join(target, 'info.json'), 'utf8')).toBe('{"n":1}');
    expect((await readdir(join(root, 'derived', 'pca'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('a failing producer still leaves nothing and raises', async () => {
    const root = await mkdtemp(join(tmpdir(), 'biobank-race-'));
    const target = join(root, 'out');
    await expect(
      atomicProduce(target, async (tmp) => {
        await writeFile(tmp, 'partial');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(await readdir(root)).toEqual([]);
  });
});
