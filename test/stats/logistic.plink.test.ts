import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { logisticGwas, prepareLogistic } from '../../stats/logistic.js';
import { STATUS, TEST } from '../../stats/status.js';
import { type Cohort, makeCohort, type PlinkRow, runPlinkGlm, runR, writeCohort } from './fixture.js';

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12);

describe('logistic GWAS agrees with plink2 --glm firth-fallback', () => {
  let c: Cohort;
  let dir: string;
  let plink: Map<string, PlinkRow>;
  beforeAll(() => {
    c = makeCohort(2200, 7);
    dir = writeCohort(c);
    plink = runPlinkGlm(dir, 'bin', ['firth-fallback']);
  });

  it('Wald and Firth rows match β, SE, −log10 p, the test used and the NA set', () => {
    const model = prepareLogistic(c.bin, c.covar, 3, c.n, undefined, { fullFitBelow: 1 });
    const res = logisticGwas(
      model,
      c.variants.map((v) => v.gt),
    );
    // R glm on the called samples of every variant that we fitted by ML
    const waldIdx = c.variants.map((_, i) => i).filter((i) => TEST[res.test[i]] === 'wald');
    const r = rGlm(c, dir, waldIdx);
    let wald = 0;
    let firth = 0;
    let waldWithMissing = 0;
    c.variants.forEach((v, i) => {
      const ref = plink.get(v.id)!;
      const status = STATUS[res.status[i]];
      if (Number.isNaN(ref.beta)) {
        expect(status, `${v.id}: plink2 NA (${ref.err}), ours ${status}`).not.toBe('ok');
        return;
      }
      expect(status, `${v.id}: plink2 ok, ours ${status}`).toBe('ok');
      expect(TEST[res.test[i]], v.id).toBe(ref.firth ? 'firth' : 'wald');
      expect(res.nObs[i], v.id).toBe(ref.nObs);
      const tol = ref.firth ? 1e-3 : 1e-4;
      expect(relClose(res.beta[i], ref.beta, tol), `${v.id} beta ${res.beta[i]} vs ${ref.beta}`).toBe(true);
      const hasMissing = v.gt.includes(255);
      if (ref.firth) firth++;
      else {
        wald++;
        const [rb, rse, rlp] = r.get(v.id)!;
        expect(relClose(res.beta[i], rb, 1e-6), `${v.id} beta vs R ${rb}`).toBe(true);
        expect(relClose(res.se[i], rse, 1e-6), `${v.id} se vs R ${rse}`).toBe(true);
        expect(Math.abs(res.mlog10p[i] - rlp), `${v.id} -log10p vs R ${rlp}`).toBeLessThan(1e-6);
        if (hasMissing) waldWithMissing++;
      }
      if (!ref.firth && hasMissing) {
        // plink2 2.00a3.5 reports SEs up to ~0.3% away from R glm (and from us) for some variants
        // with missing calls, while β agrees to 1e-6; R is the reference for those SEs (above).
        expect(relClose(res.se[i], ref.se, 5e-3), `${v.id} se ${res.se[i]} vs plink2 ${ref.se}`).toBe(true);
        expect(Math.abs(res.mlog10p[i] - ref.mlog10p)).toBeLessThan(2e-3);
        return;
      }
      expect(relClose(res.se[i], ref.se, tol), `${v.id} se ${res.se[i]} vs ${ref.se}`).toBe(true);
      expect(
        Math.abs(res.mlog10p[i] - ref.mlog10p),
        `${v.id} -log10p ${res.mlog10p[i]} vs ${ref.mlog10p}`,
      ).toBeLessThan(1e-3);
    });
    expect(wald).toBeGreaterThan(30);
    expect(waldWithMissing).toBeGreaterThan(10);
    // controls-only, case-only rare variants and the singleton go through Firth
    expect(firth).toBeGreaterThanOrEqual(2);
    expect(TEST[res.test[c.kinds.controlsOnly]]).toBe('firth');
    expect(res.mlog10p[c.kinds.causalBin]).toBeGreaterThan(5);
  });

  it('the hybrid (score, then Wald below p 0.05) keeps every Wald/Firth row and R agrees with the score rows', () => {
    const full = logisticGwas(
      prepareLogistic(c.bin, c.covar, 3, c.n, undefined, { fullFitBelow: 1 }),
      c.variants.map((v) => v.gt),
    );
    const hybrid = logisticGwas(
      prepareLogistic(c.bin, c.covar, 3, c.n),
      c.variants.map((v) => v.gt),
    );
    const scoreIdx: number[] = [];
    c.variants.forEach((_, i) => {
      expect(hybrid.status[i]).toBe(full.status[i]);
      if (TEST[hybrid.test[i]] === 'score') {
        expect(hybrid.p[i]).toBeGreaterThanOrEqual(0.05);
        scoreIdx.push(i);
      } else if (STATUS[hybrid.status[i]] === 'ok') {
        expect(hybrid.beta[i]).toBe(full.beta[i]);
      }
    });
    expect(scoreIdx.length).toBeGreaterThan(20);
    // R: Rao score test of the variant added to the covariate model, on the called samples
    const rows = ['y,age,sex,pc1,' + scoreIdx.map((i) => c.variants[i].id).join(',')];
    for (let s = 0; s < c.n; s++) {
      const g = scoreIdx.map((i) => (c.variants[i].gt[s] === 255 ? 'NA' : c.variants[i].gt[s]));
      rows.push([c.bin[s], c.covar[s], c.covar[c.n + s], c.covar[2 * c.n + s], ...g].join(','));
    }
    writeFileSync(join(dir, 'score.csv'), rows.join('\n') + '\n');
    const out = runR(
      `d <- read.csv(${JSON.stringify(join(dir, 'score.csv'))})
for (v in names(d)[-(1:4)]) {
  e <- d[!is.na(d[[v]]), ]
  f0 <- glm(y ~ age + sex + pc1, family = binomial, data = e, control = glm.control(epsilon = 1e-14, maxit = 100))
  f1 <- glm(as.formula(paste('y ~ age + sex + pc1 +', v)), family = binomial, data = e, control = glm.control(epsilon = 1e-14, maxit = 100))
  a <- anova(f0, f1, test = 'Rao')
  cat(v, sprintf('%.15g', a$Rao[2]), sum(is.na(d[[v]])), '\\n')
}`,
      dir,
    );
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(scoreIdx.length);
    let exact = 0;
    lines.forEach((line, t) => {
      const [id, rao, nMissing] = line.trim().split(/\s+/);
      const i = scoreIdx[t];
      expect(id).toBe(c.variants[i].id);
      const chi2 = hybrid.stat[i] ** 2;
      if (Number(nMissing) === 0) {
        // no missing calls: the score test is exact
        expect(relClose(chi2, Number(rao), 1e-6), `${id} χ² ${chi2} vs R ${rao}`).toBe(true);
        exact++;
      } else {
        // missing calls: C(α) score with the full-sample null fit, asymptotically equivalent
        expect(Math.abs(chi2 - Number(rao)), `${id} χ² ${chi2} vs R ${rao}`).toBeLessThan(
          0.05 * Math.max(1, Number(rao)),
        );
      }
    });
    expect(exact).toBeGreaterThan(5);
  });

  it('dosage input (Float32Array, NaN missing) gives the same rows as hard calls', () => {
    const model = prepareLogistic(c.bin, c.covar, 3, c.n);
    const codes = logisticGwas(
      model,
      c.variants.map((v) => v.gt),
    );
    const ds = logisticGwas(
      model,
      c.variants.map((v) => Float32Array.from(v.gt, (g) => (g === 255 ? Number.NaN : g))),
    );
    c.variants.forEach((v, i) => {
      expect(ds.status[i], v.id).toBe(codes.status[i]);
      expect(ds.test[i], v.id).toBe(codes.test[i]);
      if (STATUS[codes.status[i]] !== 'ok') return;
      expect(relClose(ds.stat[i], codes.stat[i], 1e-9), `${v.id} stat`).toBe(true);
      expect(Math.abs(ds.mlog10p[i] - codes.mlog10p[i])).toBeLessThan(1e-9);
    });
  });
});

/** R glm(binomial) per variant on its called samples: id → [β, SE, −log10 p]. */
function rGlm(c: Cohort, dir: string, idx: number[]): Map<string, [number, number, number]> {
  const rows = ['y,age,sex,pc1,' + idx.map((i) => c.variants[i].id).join(',')];
  for (let s = 0; s < c.n; s++) {
    const g = idx.map((i) => (c.variants[i].gt[s] === 255 ? 'NA' : c.variants[i].gt[s]));
    rows.push([c.bin[s], c.covar[s], c.covar[c.n + s], c.covar[2 * c.n + s], ...g].join(','));
  }
  writeFileSync(join(dir, 'wald.csv'), rows.join('\n') + '\n');
  const out = runR(
    `d <- read.csv(${JSON.stringify(join(dir, 'wald.csv'))})
for (v in names(d)[-(1:4)]) {
  f <- glm(as.formula(paste('y ~ age + sex + pc1 +', v)), family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- coef(summary(f))[v, ]
  cat(v, sprintf('%.15g', s[1]), sprintf('%.15g', s[2]), sprintf('%.15g', -pnorm(-abs(s[3]), log.p = TRUE) / log(10) - log10(2)), '\\n')
}`,
    dir,
  );
  const map = new Map<string, [number, number, number]>();
  for (const line of out.trim().split('\n')) {
    const [id, b, se, lp] = line.trim().split(/\s+/);
    map.set(id, [Number(b), Number(se), Number(lp)]);
  }
  expect(map.size).toBe(idx.length);
  return map;
}
