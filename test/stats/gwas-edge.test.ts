import { describe, expect, it } from 'vitest';
import { linearGwas, prepareLinear } from '../../stats/linear.js';
import { logisticGwas, prepareLogistic } from '../../stats/logistic.js';
import { STATUS, TEST } from '../../stats/status.js';
import { normal, rng } from './fixture.js';

const n = 300;
const u = rng(11);
const z = normal(u);
const cov = new Float64Array(n * 2);
for (let i = 0; i < 2 * n; i++) cov[i] = z();
const y = Float64Array.from({ length: n }, (_, i) => cov[i] + z());
const yb = Float64Array.from(y, (v) => (v > 0.5 ? 1 : 0));
const common = Uint8Array.from({ length: n }, () => (u() < 0.4 ? 1 : 0) + (u() < 0.4 ? 1 : 0));
const statuses = (res: { status: Uint8Array }) => Array.from(res.status, (s) => STATUS[s]);

describe('GWAS edge cases give a status, never a bare NaN', () => {
  it('monomorphic, all missing, one called sample, collinear with a covariate', () => {
    const mono = new Uint8Array(n).fill(1);
    mono[3] = 255;
    const allMissing = new Uint8Array(n).fill(255);
    const oneCalled = new Uint8Array(n).fill(255);
    oneCalled[0] = 2;
    // genotype equal to a 0/1/2 covariate → collinear
    const covG = Float64Array.from(common);
    const cov3 = new Float64Array(n * 3);
    cov3.set(cov);
    cov3.set(covG, 2 * n);
    const gts = [mono, allMissing, oneCalled, common];
    const lin = linearGwas(prepareLinear([y], cov3, 3, n), gts);
    expect(statuses(lin)).toEqual(['monomorphic', 'all_missing', 'monomorphic', 'collinear']);
    for (let r = 0; r < 4; r++) expect(Number.isNaN(lin.beta[r]) && TEST[lin.test[r]] === 'none').toBe(true);
    const log = logisticGwas(prepareLogistic(yb, cov3, 3, n, undefined, { fullFitBelow: 1 }), gts);
    expect(statuses(log)).toEqual(['monomorphic', 'all_missing', 'monomorphic', 'collinear']);
  });

  it('collinear covariates mark every row collinear', () => {
    const bad = new Float64Array(n * 3);
    bad.set(cov);
    for (let i = 0; i < n; i++) bad[2 * n + i] = 3 * cov[i] - cov[n + i];
    const lin = prepareLinear([y], bad, 3, n);
    expect(lin.collinearCovariates).toEqual([2]);
    expect(statuses(linearGwas(lin, [common]))).toEqual(['collinear']);
    expect(statuses(logisticGwas(prepareLogistic(yb, bad, 3, n), [common]))).toEqual(['collinear']);
  });

  it('too few samples after dropping missing calls', () => {
    const g = new Uint8Array(n).fill(255);
    g[0] = 0;
    g[1] = 1;
    g[2] = 2;
    g[3] = 1;
    // 4 called samples, q = 3 (intercept + 2 covariates) + genotype → df = 0
    expect(statuses(linearGwas(prepareLinear([y], cov, 2, n), [g]))).toEqual(['too_few_samples']);
  });

  it('too few cases, and a Firth row for a case-only variant', () => {
    const none = new Float64Array(n);
    expect(statuses(logisticGwas(prepareLogistic(none, cov, 2, n), [common]))).toEqual(['too_few_cases']);
    const caseOnly = new Uint8Array(n);
    let placed = 0;
    for (let i = 0; i < n && placed < 4; i++) {
      if (yb[i] === 1) {
        caseOnly[i] = 1;
        placed++;
      }
    }
    const res = logisticGwas(prepareLogistic(yb, cov, 2, n), [caseOnly]);
    expect(statuses(res)).toEqual(['ok']);
    expect(TEST[res.test[0]]).toBe('firth');
    expect(Number.isFinite(res.beta[0])).toBe(true);
    const never = logisticGwas(prepareLogistic(yb, cov, 2, n, undefined, { firth: 'never' }), [caseOnly]);
    expect(statuses(never)).toEqual(['separation']);
  });

  it('bad input is rejected with the argument named', () => {
    const yNaN = Float64Array.from(y);
    yNaN[5] = Number.NaN;
    expect(() => prepareLinear([yNaN], cov, 2, n)).toThrow(/trait 0 is not finite at sample 5/);
    expect(() => prepareLinear([y], cov, 3, n)).toThrow(/covariates/);
    expect(() => linearGwas(prepareLinear([y], cov, 2, n), [new Uint8Array(n - 1)])).toThrow(
      /genotype vector/,
    );
  });
});
