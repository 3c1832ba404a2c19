/**
 * 2-bit packed hard calls (the `gt` BLOB layout): packing round trips, the counts agree with a
 * byte-by-byte count, and the packed scan (WASM and scalar) gives exactly the sums of the scan of
 * the unpacked codes, for lengths that are not multiples of 4 or 64.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { makeScratch, PAD, scanCodes, scanPacked, setScanBackend } from '../../stats/kernel.js';
import { linearGwas, prepareLinear } from '../../stats/linear.js';
import {
  countPackedGt,
  PackedCalls,
  packedCode,
  packedGtBytes,
  packedMask,
  packGt,
  unpackGt,
} from '../../stats/packed.js';
import { rng } from './fixture.js';

afterAll(() => {
  setScanBackend('auto');
});

function codes(u: () => number, n: number, maf: number, miss: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => (u() < miss ? 255 : (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0)));
}

describe('packed hard calls', () => {
  const u = rng(99);
  const lengths = [1, 2, 3, 4, 5, 63, 64, 65, 127, 1000, 3001];

  it('pack → unpack is the identity; the layout puts sample i in bits 2(i mod 4) of byte ⌊i/4⌋', () => {
    expect(Array.from(packGt(Uint8Array.from([1, 2, 255, 0, 2])))).toEqual([1 | (2 << 2) | (3 << 4), 2]);
    for (const n of lengths) {
      const g = codes(u, n, 0.3, 0.05);
      const p = packGt(g);
      expect(p.length).toBe(packedGtBytes(n));
      expect(Array.from(unpackGt(p, n))).toEqual(Array.from(g));
      for (let i = 0; i < n; i++) expect(packedCode(p, i)).toBe(g[i] === 255 ? 3 : g[i]);
      // unaligned input takes the byte path and gives the same bytes
      const shifted = new Uint8Array(n + 1);
      shifted.set(g, 1);
      expect(Array.from(packGt(shifted.subarray(1)))).toEqual(Array.from(p));
    }
    expect(() => unpackGt(new Uint8Array(3), 20)).toThrow(/3 bytes; 20 samples packed 4 per byte need 5/);
  });

  for (const backend of ['scalar', 'wasm'] as const) {
    it(`${backend}: counts of codes 0/1/2/missing equal a byte-by-byte count, also under a sample mask`, () => {
      setScanBackend(backend);
      for (const n of [...lengths, 40_000]) {
        const g = codes(u, n, 0.2, 0.03);
        const want = [0, 0, 0, 0];
        for (const c of g) want[c === 255 ? 3 : c]++;
        const got = new Int32Array(4);
        countPackedGt(packGt(g), n, got);
        expect(Array.from(got), `n=${n}`).toEqual(want);
        // only the samples of a mask (a random subset)
        const subset = Array.from({ length: n }, (_, i) => i).filter(() => u() < 0.6);
        const wantSub = [0, 0, 0, 0];
        for (const i of subset) wantSub[g[i] === 255 ? 3 : g[i]]++;
        countPackedGt(packGt(g), n, got, packedMask(subset, n), subset.length);
        expect(Array.from(got), `n=${n} masked`).toEqual(wantSub);
      }
    });

    it(`${backend}: the packed scan equals the scan of the unpacked codes`, () => {
      setScanBackend(backend);
      for (const n of lengths) {
        for (const m of [1, 3, 5, 13]) {
          const rows = new Float64Array(n * m + PAD);
          for (let t = 0; t < n * m; t++) rows[t] = u() - 0.3;
          const wCol = m > 2 ? m - 2 : -1;
          for (const [maf, miss] of [
            [0.3, 0.02],
            [0.005, 0.01],
            [0, 0],
          ]) {
            const g = codes(u, n, maf, miss);
            const a = makeScratch(n, m);
            const b = makeScratch(n, m);
            scanCodes(g, rows, m, a, wCol);
            scanPacked(new PackedCalls(packGt(g), n), rows, m, b, wCol);
            // same compaction order, same additions: identical bits
            expect(Array.from(b.sum), `n=${n} m=${m}`).toEqual(Array.from(a.sum));
            expect(b.dd).toBe(a.dd);
            expect(b.dw).toBe(a.dw);
            expect(Array.from(b.miss.subarray(0, b.nMiss))).toEqual(Array.from(a.miss.subarray(0, a.nMiss)));
          }
        }
      }
    });
  }

  it('a linear GWAS on packed calls gives the same rows as on unpacked codes', () => {
    setScanBackend('auto');
    const n = 777;
    const y = Float64Array.from({ length: n }, () => u() * 2);
    const cov = Float64Array.from({ length: 2 * n }, () => u());
    const sampleIdx = Int32Array.from({ length: n }, (_, i) => i);
    const model = prepareLinear([y], cov, 2, n, sampleIdx);
    const gs = Array.from({ length: 20 }, (_, j) => codes(u, n, 0.05 + j / 50, j % 3 === 0 ? 0.02 : 0));
    const plain = linearGwas(model, gs);
    const packed = linearGwas(
      model,
      gs.map((g) => new PackedCalls(packGt(g), n)),
    );
    expect(Array.from(packed.beta)).toEqual(Array.from(plain.beta));
    expect(Array.from(packed.p)).toEqual(Array.from(plain.p));
    expect(Array.from(packed.status)).toEqual(Array.from(plain.status));
  });
});
