/**
 * A tabix (`.tbi`) index for a BGZF VCF, built while the VCF is written (SAMtools tabix
 * format spec: UCSC binning with min_shift 14 and 5 levels, 16 kb linear index, per-
 * reference pseudo-bin 37450 with the reference's offsets and record count).
 *
 * Records are registered by their *uncompressed* byte range; `finish` converts those to
 * virtual offsets with the block table of the `BgzfWriter` that wrote the VCF, then writes
 * the index itself BGZF-compressed. Memory is a few numbers per bin and per 16 kb window.
 */
import { BgzfWriter } from './bgzf.js';

/** UCSC bin of the 0-based half-open interval [beg, end) (htslib's reg2bin, min_shift 14). */
export function reg2bin(beg: number, end: number): number {
  const e = end - 1;
  if (beg >> 14 === e >> 14) return ((1 << 15) - 1) / 7 + (beg >> 14);
  if (beg >> 17 === e >> 17) return ((1 << 12) - 1) / 7 + (beg >> 17);
  if (beg >> 20 === e >> 20) return ((1 << 9) - 1) / 7 + (beg >> 20);
  if (beg >> 23 === e >> 23) return ((1 << 6) - 1) / 7 + (beg >> 23);
  if (beg >> 26 === e >> 26) return ((1 << 3) - 1) / 7 + (beg >> 26);
  return 0;
}

interface RefIndex {
  name: string;
  /** bin → flat list of [start, end) uncompressed offsets, adjacent chunks merged. */
  bins: Map<number, number[]>;
  /** Smallest record start per 16 kb window (−1 = none yet). */
  linear: number[];
  first: number;
  last: number;
  count: number;
}

export class TabixIndexBuilder {
  private refs: RefIndex[] = [];
  private current: RefIndex | undefined;

  /** Register a record of `chrom` covering 0-based [beg, end), stored at uncompressed [uStart, uEnd). */
  add(chrom: string, beg: number, end: number, uStart: number, uEnd: number): void {
    let ref = this.current;
    if (!ref || ref.name !== chrom) {
      if (this.refs.some((r) => r.name === chrom)) throw new Error(`records of ${chrom} are not contiguous`);
      ref = { name: chrom, bins: new Map(), linear: [], first: uStart, last: uEnd, count: 0 };
      this.refs.push(ref);
      this.current = ref;
    }
    ref.last = uEnd;
    ref.count++;
    const bin = reg2bin(beg, end);
    let chunks = ref.bins.get(bin);
    if (!chunks) ref.bins.set(bin, (chunks = []));
    if (chunks.length > 0 && chunks[chunks.length - 1] === uStart) chunks[chunks.length - 1] = uEnd;
    else chunks.push(uStart, uEnd);
    const w0 = beg >> 14;
    const w1 = (end - 1) >> 14;
    for (let w = w0; w <= w1; w++) {
      while (ref.linear.length <= w) ref.linear.push(-1);
      if (ref.linear[w] < 0) ref.linear[w] = uStart;
    }
  }

  /** Write the index to `path`, mapping offsets through `vcf` (closed). */
  async finish(path: string, vcf: BgzfWriter): Promise<void> {
    const voff = (u: number) => vcf.virtualOffset(u);
    const names = Buffer.from(`${this.refs.map((r) => r.name).join('\0')}\0`, 'latin1');
    const parts: Buffer[] = [];
    const head = Buffer.alloc(36);
    head.write('TBI\x01', 0, 'latin1');
    head.writeInt32LE(this.refs.length, 4);
    head.writeInt32LE(2, 8); // format: VCF
    head.writeInt32LE(1, 12); // col_seq
    head.writeInt32LE(2, 16); // col_beg
    head.writeInt32LE(0, 20); // col_end
    head.writeInt32LE(35, 24); // meta '#'
    head.writeInt32LE(0, 28); // skip
    head.writeInt32LE(names.length, 32);
    parts.push(head, names);
    const i32 = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeInt32LE(v);
      return b;
    };
    const u64 = (v: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b;
    };
    for (const ref of this.refs) {
      const bins = [...ref.bins.keys()].sort((a, b) => a - b);
      parts.push(i32(bins.length + 1));
      for (const bin of bins) {
        const chunks = ref.bins.get(bin)!;
        parts.push(i32(bin), i32(chunks.length / 2));
        for (let c = 0; c < chunks.length; c++) parts.push(u64(voff(chunks[c])));
      }
      // Pseudo-bin: the reference's first/last offsets, then mapped/unmapped counts.
      parts.push(
        i32(37450),
        i32(2),
        u64(voff(ref.first)),
        u64(voff(ref.last)),
        u64(BigInt(ref.count)),
        u64(0n),
      );
      // Linear index: empty windows take the next filled window's offset to their left.
      const lin = ref.linear.slice();
      for (let w = 0; w < lin.length; w++) if (lin[w] < 0) lin[w] = w > 0 ? lin[w - 1] : ref.first;
      parts.push(i32(lin.length));
      for (const u of lin) parts.push(u64(voff(u)));
    }
    const w = await BgzfWriter.create(path, { level: 6 });
    try {
      for (const p of parts) {
        const pending = w.write(p);
        if (pending) await pending;
      }
      await w.close();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
}
