/**
 * The fused one-pass kernels of stats/logistic-fit.ts (η/μ/w/ℓ, XᵀWX with the score, Firth's
 * modified score) give bitwise the same numbers as the generic loops they replace, for every
 * fused width p, with zero, negative and large coefficients.
 */
import { describe, expect, it } from 'vitest';
import { cholesky } from '../../stats/linalg.js';
import {
  evaluateGeneric,
  firthScoreGeneric,
  fusedKernels,
  informationGeneric,
} from '../../stats/logistic-fit.js';
import { rng } from '../helpers/rng.js';

function same(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

describe('fused logistic kernels', () => {
  it('match the generic loops bit for bit for p = 1..maxP', () => {
    const r = rng(11);
    const n = 1013;
    for (let p = 1; p <= fusedKernels.maxP; p++) {
      const x = new Float64Array(n * p);
      x.fill(1, 0, n);
      for (let t = n; t < n * p; t++) x[t] = t % 7 === 0 ? 0 : r.normal() * (1 + (t % 5));
      const y = Float64Array.from({ length: n }, () => (r.next() < 0.2 ? 1 : 0));
      const beta = Float64Array.from({ length: p }, (_, j) => (j % 3 === 1 ? 0 : (r.normal() * 3) / (j + 1)));
      const [eta1, mu1, w1, eta2, mu2, w2] = Array.from({ length: 6 }, () => new Float64Array(n));
      const ll1 = evaluateGeneric(y, x, n, p, beta, eta1, mu1, w1);
      const ll2 = fusedKernels.evaluate(y, x, n, p, beta, eta2, mu2, w2);
      expect(Object.is(ll1, ll2)).toBe(true);
      expect(same(eta1, eta2) && same(mu1, mu2) && same(w1, w2)).toBe(true);

      const info1 = new Float64Array(p * p);
      const info2 = new Float64Array(p * p);
      const score1 = new Float64Array(p);
      const score2 = new Float64Array(p);
      informationGeneric(x, n, p, w1, info1);
      for (let j = 0; j < p; j++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += x[j * n + i] * (y[i] - mu1[i]);
        score1[j] = s;
      }
      fusedKernels.informationAndScore(x, n, p, w2, info2, y, mu2, score2);
      expect(same(info1, info2)).toBe(true);
      expect(same(score1, score2)).toBe(true);

      expect(cholesky(info1, p)).toBe(true);
      const f1 = new Float64Array(p);
      const f2 = new Float64Array(p);
      firthScoreGeneric(x, n, p, y, mu1, w1, info1, new Float64Array(p), f1);
      fusedKernels.firthScore(x, n, p, y, mu1, w1, info1, f2);
      expect(same(f1, f2)).toBe(true);
    }
  });
});
