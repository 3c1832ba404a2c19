import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BGZF_BLOCK_INPUT, BGZF_EOF, BgzfWriter } from '../../synth/bgzf.js';
import { Rng } from '../../synth/prng.js';
import { hasTool, run, tempDir } from './helpers.js';

describe('Rng', () => {
  it('is deterministic per seed and stream, and streams differ', () => {
    const a = new Rng(42, 'x');
    const b = new Rng(42, 'x');
    const c = new Rng(42, 'y');
    const d = new Rng(43, 'x');
    const sa = Array.from({ length: 20 }, () => a.u32());
    expect(Array.from({ length: 20 }, () => b.u32())).toEqual(sa);
    expect(Array.from({ length: 20 }, () => c.u32())).not.toEqual(sa);
    expect(Array.from({ length: 20 }, () => d.u32())).not.toEqual(sa);
  });

  it('draws from the stated distributions (moments within sampling error)', () => {
    const r = new Rng(7, 'moments');
    const n = 200_000;
    let su = 0;
    let sn = 0;
    let snn = 0;
    let sb = 0;
    let sp = 0;
    let sg = 0;
    let lo = 1;
    let hi = 0;
    for (let i = 0; i < n; i++) {
      const u = r.float();
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      su += u;
      const z = r.normal();
      sn += z;
      snn += z * z;
      sb += r.beta(2, 6);
      sp += r.poisson(3.5);
      sg += r.skip(0.1);
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(su / n).toBeCloseTo(0.5, 2);
    expect(sn / n).toBeCloseTo(0, 1);
    expect(snn / n).toBeGreaterThan(0.98);
    expect(snn / n).toBeLessThan(1.02);
    expect(sb / n).toBeCloseTo(0.25, 2); // a / (a + b)
    expect(sp / n).toBeGreaterThan(3.45);
    expect(sp / n).toBeLessThan(3.55);
    expect(sg / n).toBeGreaterThan(8.8); // (1 − p) / p = 9
    expect(sg / n).toBeLessThan(9.2);
  });
});

describe('BgzfWriter', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('bgzf'));
  });
  afterAll(() => cleanup());

  it('writes valid BGZF: every member ≤ 64 KiB with a BC field, EOF block last, content intact', async () => {
    const path = join(dir, 'x.txt.gz');
    const rng = new Rng(1, 'bgzf');
    const parts: Buffer[] = [];
    const w = await BgzfWriter.create(path);
    for (let i = 0; i < 3000; i++) {
      // Mix compressible text and incompressible bytes, in odd-sized writes.
      const text = Buffer.from(`line ${i}\t${'0|0\t'.repeat(rng.int(200))}\n`);
      const noise = Buffer.from(Array.from({ length: rng.int(300) }, () => rng.int(256)));
      parts.push(text, noise);
      await w.write(text);
      await w.write(noise);
    }
    await w.close();
    const input = Buffer.concat(parts);
    const file = await readFile(path);
    expect(gunzipSync(file).equals(input)).toBe(true);
    expect(file.subarray(file.length - 28).equals(BGZF_EOF)).toBe(true);
    let off = 0;
    let blocks = 0;
    while (off < file.length) {
      expect(file[off]).toBe(0x1f);
      expect(file[off + 1]).toBe(0x8b);
      expect(file[off + 3] & 4).toBe(4);
      expect(file.toString('latin1', off + 12, off + 14)).toBe('BC');
      const size = file.readUInt16LE(off + 16) + 1;
      expect(size).toBeLessThanOrEqual(65536);
      const isize = file.readUInt32LE(off + size - 4);
      expect(isize).toBeLessThanOrEqual(BGZF_BLOCK_INPUT);
      off += size;
      blocks++;
    }
    expect(off).toBe(file.length);
    expect(blocks).toBeGreaterThan(10);
    if (hasTool('bgzip')) run('bgzip', ['-t', path]);
    expect((await stat(path)).size).toBe(file.length);
  });
});
