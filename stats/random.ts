/**
 * The engine's small deterministic PRNG: mulberry32 (Tommy Ettinger, 2017; a 32-bit state,
 * Weyl increment 0x6d2b79f5 and an xorshift–multiply output mix), for the randomised parts of
 * the statistics (the PCA's random test matrix Ω) and the benchmarks' data. Identical seeds give
 * identical sequences on every platform. Not cryptographic. (The synthetic biobank uses its own
 * streamed xoshiro128** generator: synth/prng.ts.)
 */

/** Uniform doubles in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One standard normal from two uniforms (Box–Muller, cosine branch). */
export function boxMullerNormal(u: () => number): number {
  return Math.sqrt(-2 * Math.log(Math.max(u(), 1e-300))) * Math.cos(2 * Math.PI * u());
}
