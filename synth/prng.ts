/**
 * Deterministic pseudo-random numbers for the synthetic biobank.
 *
 * Generator: xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", ACM TOMS 2021), 128-bit state in four uint32 words, seeded through
 * splitmix32 from a 32-bit FNV-1a hash of `"<seed>:<stream>"`. Every part of the generator
 * (persons, genome plan, each chromosome's genotypes, EHR, labs) draws from its own named
 * stream, so changing one part never shifts the numbers another part sees.
 *
 * Not cryptographic. Identical seeds give identical sequences on every platform: only
 * 32-bit integer arithmetic (`Math.imul`, shifts) and IEEE doubles are used.
 */

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal = Number.NaN;

  /** A stream named `stream` of the generator seeded with `seed`. */
  constructor(seed: number | string, stream: string) {
    const st = { s: fnv1a(`${seed}:${stream}`) | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** A child stream, independent of this one's position. */
  fork(seed: number | string, stream: string): Rng {
    return new Rng(seed, stream);
  }

  /** Uniform uint32. */
  u32(): number {
    const b = this.b;
    const r = Math.imul(b, 5);
    const rot = (r << 7) | (r >>> 25);
    const result = Math.imul(rot, 9) >>> 0;
    const t = b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = (this.d << 11) | (this.d >>> 21);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  float(): number {
    const hi = this.u32() >>> 5;
    const lo = this.u32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  /** Uniform double in (0, 1): safe for logarithms. */
  open01(): number {
    return (this.u32() + 0.5) / TWO_POW_32;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.float();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.float() < p;
  }

  /** Standard normal (Box–Muller, polar form). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const s = this.spareNormal;
      this.spareNormal = Number.NaN;
      return s;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      u = 2 * this.float() - 1;
      v = 2 * this.float() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const f = Math.sqrt((-2 * Math.log(s)) / s);
    this.spareNormal = v * f;
    return u * f;
  }

  /** Gamma(shape, 1) (Marsaglia & Tsang 2000; shape < 1 by the U^(1/shape) boost). */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * this.open01() ** (1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.open01();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b) as Ga/(Ga+Gb). */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x + y === 0 ? 0 : x / (x + y);
  }

  /** Poisson(lambda) by inversion (lambda up to a few dozen). */
  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 60) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const l = Math.exp(-lambda);
    let k = 0;
    let p = this.float();
    while (p > l) {
      k++;
      p *= this.float();
    }
    return k;
  }

  /**
   * Number of failures before the next success of a Bernoulli(p) sequence (geometric on
   * {0,1,…}). Used to jump straight to the next rare event (a carrier, a recombination)
   * instead of drawing one number per genotype.
   */
  skip(p: number): number {
    if (p >= 1) return 0;
    if (p <= 0) return Number.MAX_SAFE_INTEGER;
    return Math.floor(Math.log(this.open01()) / Math.log1p(-p));
  }

  /** Index drawn from cumulative weights `cum` (last element = total). */
  pickCumulative(cum: ArrayLike<number>): number {
    const x = this.float() * cum[cum.length - 1];
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Dirichlet(alpha) draw. */
  dirichlet(alpha: readonly number[]): number[] {
    const g = alpha.map((a) => this.gamma(a));
    const s = g.reduce((x, y) => x + y, 0);
    return s === 0 ? alpha.map(() => 1 / alpha.length) : g.map((x) => x / s);
  }
}
