/**
 * The many-predictor PheWAS score test (stats/phewas-score.ts) against R: for several phecodes
 * of varied prevalence and several predictors (rare burden, dosage, continuous), the score
 * statistic U²/V from one null fit equals R's `anova(glm0, glm1, test = "Rao")` to 1e-6, on a
 * subset of the samples (the model's rows inside a larger index space, as PheWAS exclusions
 * make them). Edge cases: a monomorphic predictor, no carrier in the model, a predictor
 * collinear with a covariate, and a null model separated by a covariate.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scoreNullModel, scoreTest } from '../../stats/phewas-score.js';
import { normal, rng, runR } from './fixture.js';

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12);

function sparse(x: Float64Array) {
  const idx: number[] = [];
  const val: number[] = [];
  x.forEach((v, i) => {
    if (v !== 0) {
      idx.push(i);
      val.push(v);
    }
  });
  return { idx: Int32Array.from(idx), val: Float64Array.from(val) };
}

/** Null model over the rows `keep` of n samples, design [1, age, sex]. */
function nullOver(y: Float64Array, age: Float64Array, sex: Float64Array, keep: number[], n: number) {
  const m = keep.length;
  const Y = Float64Array.from(keep, (i) => y[i]);
  const Z = new Float64Array(m * 3);
  keep.forEach((i, k) => {
    Z[k] = 1;
    Z[m + k] = age[i];
    Z[2 * m + k] = sex[i];
  });
  return scoreNullModel(Y, Z, 3, Int32Array.from(keep), n);
}

describe('PheWAS score test (one null fit per phecode) agrees with R anova(test = "Rao")', () => {
  it('U²/V to 1e-6 for many predictors × phecodes, on a subset of the samples', () => {
    const n = 3000;
    const u = rng(2024);
    const z = normal(u);
    const age = Float64Array.from({ length: n }, () => 50 + 12 * z());
    const sex = Float64Array.from({ length: n }, () => (u() < 0.5 ? 1 : 0));
    const predictors = {
      burden: Float64Array.from({ length: n }, () => (u() < 0.03 ? 1 : 0)),
      burden2: Float64Array.from({ length: n }, () => (u() < 0.08 ? 1 : 0) + (u() < 0.02 ? 1 : 0)),
      dosage: Float64Array.from({ length: n }, () => (u() < 0.3 ? 1 : 0) + (u() < 0.3 ? 1 : 0)),
      cont: Float64Array.from({ length: n }, () => z()),
    };
    const names = Object.keys(predictors) as (keyof typeof predictors)[];
    const prevalence = [0.25, 0.06, 0.015];
    const phecodes = prevalence.map((prev, k) =>
      Float64Array.from({ length: n }, (_, i) => {
        const eta =
          Math.log(prev / (1 - prev)) +
          0.02 * (age[i] - 50) +
          0.4 * sex[i] +
          (k === 0 ? 0.5 : 0.05) * predictors.dosage[i] +
          (k === 1 ? 1.0 : 0) * predictors.burden[i];
        return u() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
      }),
    );
    // exclusions: every 7th sample is out of the model (as a phecode's excluded persons)
    const keep = Array.from({ length: n }, (_, i) => i).filter((i) => i % 7 !== 3);
    const dir = mkdtempSync(join(tmpdir(), 'phewas-score-'));
    const lines = [`age,sex,${names.join(',')},${phecodes.map((_, k) => `y${k}`).join(',')}`];
    for (const i of keep)
      lines.push(
        [age[i], sex[i], ...names.map((v) => predictors[v][i]), ...phecodes.map((y) => y[i])].join(','),
      );
    writeFileSync(join(dir, 'score.csv'), `${lines.join('\n')}\n`);
    const out = runR(
      `d <- read.csv(${JSON.stringify(join(dir, 'score.csv'))})
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
for (k in 0:${phecodes.length - 1}) {
  y <- paste0('y', k)
  f0 <- glm(as.formula(paste(y, '~ age + sex')), family = binomial, data = d, control = ctl)
  # glm stops on the relative change of the deviance, which leaves ~1e-7 in the coefficients;
  # two more IRLS steps from there converge them to machine precision (Newton is quadratic)
  for (it in 1:2) f0 <- glm(as.formula(paste(y, '~ age + sex')), family = binomial, data = d, control = ctl, start = coef(f0))
  for (v in c(${names.map((v) => `'${v}'`).join(', ')})) {
    f1 <- glm(as.formula(paste(y, '~ age + sex +', v)), family = binomial, data = d, control = ctl)
    a <- anova(f0, f1, test = 'Rao')
    cat(k, v, sprintf('%.15g', a$Rao[2]), sprintf('%.15g', a[['Pr(>Chi)']][2]), '\\n')
  }
}`,
      dir,
    );
    const ref = new Map<string, [number, number]>();
    for (const line of out.trim().split('\n')) {
      const [k, v, rao, p] = line.trim().split(/\s+/);
      ref.set(`${k}:${v}`, [Number(rao), Number(p)]);
    }
    expect(ref.size).toBe(prevalence.length * names.length);
    let checked = 0;
    phecodes.forEach((y, k) => {
      const model = nullOver(y, age, sex, keep, n);
      expect(model.status).toBe('ok');
      for (const v of names) {
        const { idx, val } = sparse(predictors[v]);
        const s = scoreTest(model, idx, val);
        const [rao, rp] = ref.get(`${k}:${v}`)!;
        expect(s.reliable).toBe(true);
        expect(relClose(s.chi2, rao, 1e-6), `phecode ${k} ${v}: χ² ${s.chi2} vs R ${rao}`).toBe(true);
        expect(relClose(s.p, rp, 1e-6), `phecode ${k} ${v}: p ${s.p} vs R ${rp}`).toBe(true);
        // one-step estimates: β = U/V, SE = 1/√V, so β/SE is the signed score statistic
        expect(relClose((s.beta / s.se) ** 2, s.chi2, 1e-12)).toBe(true);
        expect(Math.sign(s.beta)).toBe(Math.sign(s.u));
        checked++;
      }
    });
    expect(checked).toBe(12);
  });

  it('edge cases: monomorphic, no carrier in the model, collinear with a covariate, separated null', () => {
    const n = 800;
    const u = rng(5);
    const z = normal(u);
    const age = Float64Array.from({ length: n }, () => 50 + 10 * z());
    const sex = Float64Array.from({ length: n }, (_, i) => i % 2);
    const y = Float64Array.from({ length: n }, () => (u() < 0.2 ? 1 : 0));
    const keep = Array.from({ length: n - 10 }, (_, i) => i); // the last 10 samples are out
    const model = nullOver(y, age, sex, keep, n);
    expect(model.status).toBe('ok');
    const constant = sparse(new Float64Array(n).fill(2));
    expect(scoreTest(model, constant.idx, constant.val).reliable).toBe(false);
    const none = sparse(new Float64Array(n));
    expect(scoreTest(model, none.idx, none.val).reliable).toBe(false);
    // carriers only among the samples outside the model: no information
    const outside = sparse(Float64Array.from({ length: n }, (_, i) => (i >= n - 10 ? 1 : 0)));
    expect(scoreTest(model, outside.idx, outside.val).reliable).toBe(false);
    // a copy of sex (plus a multiple of the intercept) is collinear with the covariates
    const sexCopy = sparse(Float64Array.from(sex, (s) => 3 * s + 1));
    const c = scoreTest(model, sexCopy.idx, sexCopy.val);
    expect(c.reliable).toBe(false);
    expect(Number.isNaN(c.beta)).toBe(true);
    // the null model itself: sex separates the phecode (cases only among sex = 1)
    const ySep = Float64Array.from(sex, (s, i) => (s === 1 && i % 3 === 0 ? 1 : 0));
    const sep = nullOver(ySep, age, sex, keep, n);
    expect(sep.status).not.toBe('ok');
    expect(() => scoreTest(sep, constant.idx, constant.val)).toThrow(/null model/);
  });
});
