import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { linearGwas, prepareLinear } from '../../stats/linear.js';
import { STATUS } from '../../stats/status.js';
import { type Cohort, makeCohort, type PlinkRow, runPlinkGlm, runR, writeCohort } from './fixture.js';

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-12);

function compareWithPlink(
  c: Cohort,
  res: ReturnType<typeof linearGwas>,
  plink: Map<string, PlinkRow>,
  K = 1,
  k = 0,
) {
  let compared = 0;
  c.variants.forEach((v, i) => {
    const ref = plink.get(v.id);
    expect(ref, v.id).toBeDefined();
    const r = i * K + k;
    const status = STATUS[res.status[r]];
    if (Number.isNaN(ref!.beta)) {
      expect(status, `${v.id}: plink2 NA (${ref!.err}), ours ${status}`).not.toBe('ok');
      return;
    }
    expect(status, `${v.id}: plink2 ok, ours ${status}`).toBe('ok');
    expect(res.nObs[r], v.id).toBe(ref!.nObs);
    expect(relClose(res.beta[r], ref!.beta, 1e-4), `${v.id} beta ${res.beta[r]} vs ${ref!.beta}`).toBe(true);
    expect(relClose(res.se[r], ref!.se, 1e-4), `${v.id} se ${res.se[r]} vs ${ref!.se}`).toBe(true);
    expect(
      Math.abs(res.mlog10p[r] - ref!.mlog10p),
      `${v.id} -log10p ${res.mlog10p[r]} vs ${ref!.mlog10p}`,
    ).toBeLessThan(1e-3);
    compared++;
  });
  return compared;
}

describe('linear GWAS agrees with plink2 --glm', () => {
  let c: Cohort;
  let dir: string;
  let plink: Map<string, PlinkRow>;
  beforeAll(() => {
    c = makeCohort(2400, 20261124);
    dir = writeCohort(c);
    plink = runPlinkGlm(dir, 'qt');
  });

  it('β, SE, −log10 p and the NA set match on hard calls with missing genotypes', () => {
    const model = prepareLinear([c.qt], c.covar, 3, c.n);
    const res = linearGwas(
      model,
      c.variants.map((v) => v.gt),
    );
    const compared = compareWithPlink(c, res, plink);
    expect(compared).toBeGreaterThan(35);
    // the planted signal is there (guards against comparing two wrong answers that agree trivially)
    expect(res.mlog10p[c.kinds.causalQt]).toBeGreaterThan(8);
    expect(STATUS[res.status[c.kinds.monomorphic]]).toBe('monomorphic');
    expect(STATUS[res.status[c.kinds.allMissing]]).toBe('all_missing');
  });

  it('dosage input (Float32Array, NaN missing) gives the same answer', () => {
    const model = prepareLinear([c.qt], c.covar, 3, c.n);
    const ds = c.variants.map((v) => Float32Array.from(v.gt, (g) => (g === 255 ? Number.NaN : g)));
    const res = linearGwas(model, ds);
    expect(compareWithPlink(c, res, plink)).toBeGreaterThan(35);
  });

  it('K traits in one pass equal K separate passes, and the second trait matches plink2', () => {
    // second trait: a transform of the first plus the binary trait, so its results differ
    const qt2 = Float64Array.from(c.qt, (y, i) => 0.5 * y * y - c.bin[i]);
    const multi = prepareLinear([c.qt, qt2], c.covar, 3, c.n);
    const gts = c.variants.map((v) => v.gt);
    const both = linearGwas(multi, gts);
    const one = linearGwas(prepareLinear([qt2], c.covar, 3, c.n), gts);
    for (let v = 0; v < gts.length; v++) {
      expect(both.status[2 * v + 1]).toBe(one.status[v]);
      if (STATUS[one.status[v]] === 'ok') {
        expect(both.beta[2 * v + 1]).toBeCloseTo(one.beta[v], 12);
        expect(both.se[2 * v + 1]).toBeCloseTo(one.se[v], 12);
      }
    }
    expect(compareWithPlink(c, both, plink, 2, 0)).toBeGreaterThan(35);
  });

  it('a sample subset through sampleIdx matches plink2 --keep', () => {
    const keep: number[] = [];
    for (let i = 0; i < c.n; i++) if (i % 3 !== 1) keep.push(i);
    writeFileSync(join(dir, 'keep.txt'), keep.map((i) => `s${i}`).join('\n') + '\n');
    const subPlink = runPlinkGlm(dir, 'qt', [], ['--keep', join(dir, 'keep.txt')], '-keep');
    const n = keep.length;
    const cov = new Float64Array(n * 3);
    for (let j = 0; j < 3; j++) for (let t = 0; t < n; t++) cov[j * n + t] = c.covar[j * c.n + keep[t]];
    const y = Float64Array.from(keep, (i) => c.qt[i]);
    const model = prepareLinear([y], cov, 3, c.n, Int32Array.from(keep));
    const res = linearGwas(
      model,
      c.variants.map((v) => v.gt),
    );
    expect(compareWithPlink(c, res, subPlink)).toBeGreaterThan(30);
  });

  it("missing: 'mean' equals R lm() with mean-imputed genotypes", () => {
    const model = prepareLinear([c.qt], c.covar, 3, c.n, undefined, { missing: 'mean' });
    const ids = ['causal_qt', 'null1', 'null2', 'null4'];
    const idx = ids.map((id) => c.variants.findIndex((v) => v.id === id));
    const res = linearGwas(
      model,
      idx.map((i) => c.variants[i].gt),
    );
    const header = ['y', 'age', 'sex', 'pc1', ...ids].join(',');
    const rows = [header];
    for (let i = 0; i < c.n; i++) {
      rows.push(
        [
          c.qt[i],
          c.covar[i],
          c.covar[c.n + i],
          c.covar[2 * c.n + i],
          ...idx.map((v) => (c.variants[v].gt[i] === 255 ? 'NA' : c.variants[v].gt[i])),
        ].join(','),
      );
    }
    writeFileSync(join(dir, 'mean.csv'), rows.join('\n') + '\n');
    const out = runR(
      `d <- read.csv(${JSON.stringify(join(dir, 'mean.csv'))})
for (v in c(${ids.map((s) => JSON.stringify(s)).join(',')})) {
  g <- d[[v]]; g[is.na(g)] <- mean(g, na.rm = TRUE)
  s <- summary(lm(d$y ~ d$age + d$sex + d$pc1 + g))$coefficients
  cat(v, sprintf('%.15g', s['g', 1]), sprintf('%.15g', s['g', 2]), sprintf('%.15g', -log10(s['g', 4])), '\\n')
}`,
      dir,
    );
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(ids.length);
    lines.forEach((line, t) => {
      const [id, b, se, lp] = line.trim().split(/\s+/);
      expect(id).toBe(ids[t]);
      expect(relClose(res.beta[t], Number(b), 1e-8), `${id} beta`).toBe(true);
      expect(relClose(res.se[t], Number(se), 1e-8), `${id} se`).toBe(true);
      expect(Math.abs(res.mlog10p[t] - Number(lp))).toBeLessThan(1e-6);
    });
  });
});
