/** A small seeded PRNG for test data (mulberry32) with normal draws. */
import { mulberry32 } from '../../stats/random.js';

/** A small seeded PRNG for test data (mulberry32) with normal draws. */
export function rng(seed: number) {
  const next = mulberry32(seed);
  const normal = () => {
    const u = Math.max(next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  return { next, normal };
}
