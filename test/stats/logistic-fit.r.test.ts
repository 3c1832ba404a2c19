import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { designMatrix, firthFit, logisticFit, logisticFitWithFallback } from '../../stats/logistic-fit.js';
import { normal, rng, runR } from './fixture.js';

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12);

describe('logisticFit (PheWAS: phecode ~ predictor + covariates) agrees with R glm(binomial)', () => {
  it('β, SE, z, p and Wald 95% CI of every coefficient for phecodes of varied prevalence', () => {
    const n = 2000;
    const u = rng(99);
    const z = normal(u);
    const age = Float64Array.from({ length: n }, () => 50 + 12 * z());
    const sex = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
    const burden = Float64Array.from({ length: n }, () => (u() < 0.1 ? 1 : 0) + (u() < 0.03 ? 1 : 0));
    const prevalence = [0.3, 0.08, 0.02, 0.012];
    const phecodes = prevalence.map((prev, k) =>
      Float64Array.from({ length: n }, (_, i) => {
        const eta =
          Math.log(prev / (1 - prev)) +
          0.02 * (age[i] - 50) +
          0.3 * sex[i] +
          (k === 1 ? 0.8 : 0.1) * burden[i];
        return u() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'phewas-'));
    const rows = ['burden,age,sex,' + phecodes.map((_, k) => `y${k}`).join(',')];
    for (let i = 0; i < n; i++)
      rows.push([burden[i], age[i], sex[i], ...phecodes.map((y) => y[i])].join(','));
    writeFileSync(join(dir, 'phewas.csv'), rows.join('\n') + '\n');
    const out = runR(
      `d <- read.csv(${JSON.stringify(join(dir, 'phewas.csv'))})
for (k in 0:${phecodes.length - 1}) {
  f <- glm(as.formula(paste0('y', k, ' ~ burden + age + sex')), family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- coef(summary(f)); ci <- exp(confint.default(f))
  for (j in 1:4) cat(k, j, sprintf('%.15g', c(s[j, ], ci[j, ])), '\\n')
}`,
      dir,
    );
    const ref = out
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    expect(ref).toHaveLength(4 * phecodes.length);
    const x = designMatrix(n, [burden, age, sex]);
    for (const [k, y] of phecodes.entries()) {
      const fit = logisticFit(y, x, 4);
      expect(fit.status).toBe('ok');
      expect(fit.test).toBe('wald');
      for (let j = 0; j < 4; j++) {
        const [, , b, se, zz, p, lo, hi] = ref[k * 4 + j];
        expect(relClose(fit.beta[j], b, 1e-6), `y${k} coef ${j} β ${fit.beta[j]} vs ${b}`).toBe(true);
        expect(relClose(fit.se[j], se, 1e-6), `y${k} coef ${j} SE`).toBe(true);
        expect(relClose(fit.z[j], zz, 1e-6), `y${k} coef ${j} z`).toBe(true);
        expect(relClose(fit.pValue[j], p, 1e-5), `y${k} coef ${j} p ${fit.pValue[j]} vs ${p}`).toBe(true);
        expect(relClose(fit.orLower95[j], lo, 1e-6), `y${k} coef ${j} L95`).toBe(true);
        expect(relClose(fit.orUpper95[j], hi, 1e-6), `y${k} coef ${j} U95`).toBe(true);
      }
    }
  });
});

describe('logistic edge cases', () => {
  const n = 200;
  const u = rng(5);
  const z = normal(u);
  const cov = Float64Array.from({ length: n }, () => z());
  const y = Float64Array.from(cov, (c) => (u() < 1 / (1 + Math.exp(-c)) ? 1 : 0));

  it('complete separation: ML reports separation, the fallback gives a finite Firth estimate', () => {
    // predictor = 1 exactly for 8 cases, 0 elsewhere → cases-only carriers
    const g = new Float64Array(n);
    let placed = 0;
    for (let i = 0; i < n && placed < 8; i++) {
      if (y[i] === 1) {
        g[i] = 1;
        placed++;
      }
    }
    const x = designMatrix(n, [g, cov]);
    const ml = logisticFit(y, x, 3);
    expect(ml.status).toBe('separation');
    expect(Number.isNaN(ml.beta[1])).toBe(true);
    const fb = logisticFitWithFallback(y, x, 3);
    expect(fb.status).toBe('ok');
    expect(fb.test).toBe('firth');
    expect(Number.isFinite(fb.beta[1]) && fb.beta[1] > 1).toBe(true);
    expect(logisticFitWithFallback(y, x, 3, 'never').status).toBe('separation');
  });

  it('Firth on a regular problem shrinks ML estimates slightly towards 0', () => {
    const x = designMatrix(n, [cov]);
    const ml = logisticFit(y, x, 2);
    const f = firthFit(y, x, 2);
    expect(f.status).toBe('ok');
    expect(Math.abs(f.beta[1])).toBeLessThan(Math.abs(ml.beta[1]));
    expect(Math.abs(f.beta[1] - ml.beta[1])).toBeLessThan(0.1 * Math.abs(ml.beta[1]));
  });

  it('collinear covariates, no cases, too few samples', () => {
    const x = designMatrix(n, [cov, Float64Array.from(cov, (c) => 2 * c + 1)]);
    expect(logisticFit(y, x, 3).status).toBe('collinear');
    expect(firthFit(y, x, 3).status).toBe('collinear');
    expect(logisticFit(new Float64Array(n), designMatrix(n, [cov]), 2).status).toBe('too_few_cases');
    expect(logisticFit(Float64Array.of(0, 1), designMatrix(2, [Float64Array.of(1, 2)]), 2).status).toBe(
      'too_few_samples',
    );
    expect(() =>
      logisticFit(Float64Array.of(0, 2, 1), designMatrix(3, [Float64Array.of(1, 2, 3)]), 2),
    ).toThrow(/y\[1\] = 2/);
  });
});
