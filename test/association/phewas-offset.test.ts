/**
 * The per-phecode LOCO offset of the single-predictor PheWAS (phewas/fit.ts `PhecodeSets.offset`,
 * stats/phewas-score.ts `scoreNullModel` option `offset`; gwas.relatedness 'loco', issue 14).
 *
 * Fixture: 1,500 persons, covariates c1, c2 (binary), c3, a dosage predictor x with a few
 * missing values, three phecodes (~30 %, ~15 % with 150 excluded persons, ~5 %), each with its
 * own offset (a polygenic part that also drives the phecode, as a LOCO prediction would).
 *
 * 1. `spa: 'never'`, firth 'fallback': each row's β and SE equal R
 *    `glm(y ~ x + c1 + c2 + c3, offset = o, family = binomial)` over the phecode's cases and
 *    controls with a predictor value, to 1e-6 relative.
 * 2. `spa: 'always'`: each row's p equals stats/spa.ts's dense SPA (`spaScoreTestDense`, cutoff
 *    2, fast split) on a null model whose μ̂ is R's `glm(y ~ c1 + c2 + c3, offset = o)`, to 1e-9
 *    relative in −log10 p, and differs from the row of the same batch without offsets; β and SE
 *    are still R's offset glm's and the row says `spa_wald`.
 * 3. Without offsets (`offset: null`), rows equal those of sets with no `offset` field, for
 *    every SPA mode.
 * 4. The many-predictor path's guard and a wrong-length offset throw.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  assertNoOffsets,
  fitPhecodes,
  type PhecodeFit,
  type PhecodeSets,
  type PhewasBatch,
  phecodeFitter,
} from '../../phewas/fit.js';
import { newSpaResult, spaNullModel, spaScoreTestDense } from '../../stats/spa.js';
import { rng } from '../helpers/rng.js';

const N = 1500;
const K = 3;
const dir = mkdtempSync(join(tmpdir(), 'biobank-phewas-offset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const expit = (t: number) => 1 / (1 + Math.exp(-t));

function fixture() {
  const r = rng(20260611);
  const c1 = Float64Array.from({ length: N }, () => r.normal());
  const c2 = Float64Array.from({ length: N }, () => (r.next() < 0.5 ? 1 : 0));
  const c3 = Float64Array.from({ length: N }, () => r.normal());
  const x = Float64Array.from({ length: N }, () => (r.next() < 0.25 ? 1 : 0) + (r.next() < 0.25 ? 1 : 0));
  for (let i = 7; i < N; i += 173) x[i] = Number.NaN;
  const intercepts = [-1.0, -1.9, -3.3];
  const effects = [0.25, 0.35, 0.55];
  const offsets: Float64Array[] = [];
  const status: Int8Array[] = []; // 1 case, 0 control, -1 excluded
  for (let k = 0; k < K; k++) {
    const o = Float64Array.from({ length: N }, () => 0.9 * r.normal());
    const s = new Int8Array(N);
    for (let i = 0; i < N; i++) {
      const xi = Number.isNaN(x[i]) ? 0 : x[i];
      const eta = intercepts[k] + o[i] + effects[k] * xi + 0.4 * c1[i] - 0.3 * c2[i] + 0.2 * c3[i];
      s[i] = r.next() < expit(eta) ? 1 : 0;
      if (k === 1 && r.next() < 0.1) s[i] = -1;
    }
    offsets.push(o);
    status.push(s);
  }
  return { c1, c2, c3, x, offsets, status };
}

const f = fixture();
const cov = new Float64Array(N * 3);
cov.set(f.c1, 0);
cov.set(f.c2, N);
cov.set(f.c3, 2 * N);

function sets(offsets: 'field' | 'null' | 'absent'): PhecodeSets[] {
  return f.status.map((s, k) => {
    const cases: number[] = [];
    const excluded: number[] = [];
    s.forEach((t, i) => {
      if (t === 1) cases.push(i);
      else if (t < 0) excluded.push(i);
    });
    const ph: PhecodeSets = {
      index: k,
      sex: null,
      cases: Int32Array.from(cases),
      excluded: Int32Array.from(excluded),
    };
    if (offsets === 'field') ph.offset = f.offsets[k];
    else if (offsets === 'null') ph.offset = null;
    return ph;
  });
}

function batch(
  spa: 'never' | 'always' | 'auto',
  offsets: 'field' | 'null' | 'absent',
  spaCaseFraction = 0.2,
): PhewasBatch {
  return {
    n: N,
    x: f.x,
    cov,
    nCov: 3,
    sexCols: [],
    minCases: 10,
    minControls: 10,
    firth: 'fallback',
    spa,
    spaCaseFraction,
    phecodes: sets(offsets),
  };
}

/** The rows a phecode's fits use: a status ≥ 0 and a predictor value. */
const rowsOf = (k: number) => {
  const rows: number[] = [];
  for (let i = 0; i < N; i++) if (f.status[k][i] >= 0 && !Number.isNaN(f.x[i])) rows.push(i);
  return rows;
};

/** R: per phecode, β and SE of x in the full model and the null model's fitted μ (row order). */
function runR(): { beta: number[]; se: number[]; mu: Float64Array[] } {
  const lines = ['x,c1,c2,c3,' + Array.from({ length: K }, (_, k) => `y${k},o${k}`).join(',')];
  for (let i = 0; i < N; i++) {
    const ys = Array.from({ length: K }, (_, k) => {
      const s = f.status[k][i];
      return `${s < 0 ? 'NA' : s},${f.offsets[k][i]}`;
    });
    lines.push([Number.isNaN(f.x[i]) ? 'NA' : f.x[i], f.c1[i], f.c2[i], f.c3[i], ...ys].join(','));
  }
  writeFileSync(join(dir, 'data.csv'), `${lines.join('\n')}\n`);
  const code = `
d <- read.csv(${JSON.stringify(join(dir, 'data.csv'))})
ctl <- glm.control(epsilon = 1e-14, maxit = 100)
for (k in 0:${K - 1}) {
  s <- d[!is.na(d[[paste0('y', k)]]) & !is.na(d$x), ]
  s$y <- s[[paste0('y', k)]]; s$o <- s[[paste0('o', k)]]
  m1 <- glm(y ~ x + c1 + c2 + c3, offset = o, family = binomial, data = s, control = ctl)
  m0 <- glm(y ~ c1 + c2 + c3, offset = o, family = binomial, data = s, control = ctl)
  cf <- summary(m1)$coefficients
  cat(sprintf('%.17g', cf['x', 'Estimate']), sprintf('%.17g', cf['x', 'Std. Error']), '\\n')
  writeLines(sprintf('%.17g', fitted(m0)), ${JSON.stringify(join(dir, 'mu'))} |> paste0(k, '.txt'))
}`;
  const out = execFileSync('Rscript', ['-e', code], { encoding: 'utf8' }).trim().split('\n');
  const beta: number[] = [];
  const se: number[] = [];
  for (const line of out) {
    const [b, s] = line.trim().split(/\s+/).map(Number);
    beta.push(b);
    se.push(s);
  }
  const mu = Array.from({ length: K }, (_, k) =>
    Float64Array.from(
      readFileSync(join(dir, `mu${k}.txt`), 'utf8')
        .trim()
        .split('\n')
        .map(Number),
    ),
  );
  return { beta, se, mu };
}

/** spa.ts's dense SPA of x (no flip: mean < 1) against the null model with R's μ̂ (offset). */
function denseSpa(k: number, mu: Float64Array) {
  const rows = rowsOf(k);
  const m = rows.length;
  expect(mu.length).toBe(m);
  const y = Float64Array.from(rows, (i) => f.status[k][i]);
  const z = new Float64Array(m * 4);
  z.fill(1, 0, m);
  [f.c1, f.c2, f.c3].forEach((c, j) => {
    rows.forEach((i, t) => {
      z[(1 + j) * m + t] = c[i];
    });
  });
  const model = spaNullModel(y, mu, z, 4);
  const g = Float64Array.from(rows, (i) => f.x[i]);
  return { ...spaScoreTestDense(model, g, { cutoff: 2, fast: true }, newSpaResult()) };
}

function expectClose(a: number, b: number, rel: number, label: string) {
  expect(Math.abs(a - b), `${label}: ${a} vs ${b}`).toBeLessThanOrEqual(rel * Math.abs(b));
}

describe('LOCO offset in the single-predictor PheWAS (phewas/fit.ts)', () => {
  const ref = runR();

  it('the fixture: prevalences, exclusions and the mean dosage are as intended', () => {
    const prev = f.status.map((s) => {
      let cases = 0;
      let used = 0;
      for (const t of s) {
        if (t >= 0) used++;
        if (t === 1) cases++;
      }
      return { prev: cases / used, excluded: N - used };
    });
    expect(prev[0].prev).toBeGreaterThan(0.2);
    expect(prev[1].prev).toBeGreaterThan(0.1);
    expect(prev[1].prev).toBeLessThan(0.2);
    expect(prev[1].excluded).toBeGreaterThan(100);
    expect(prev[2].prev).toBeGreaterThan(0.03);
    expect(prev[2].prev).toBeLessThan(0.07);
    let sum = 0;
    let called = 0;
    for (const v of f.x) {
      if (Number.isNaN(v)) continue;
      sum += v;
      called++;
    }
    expect(sum / called).toBeLessThan(1);
  });

  it("spa 'never': β and SE equal R glm(y ~ x + covariates, offset = o) to 1e-6", () => {
    const rows = fitPhecodes(batch('never', 'field'));
    const plain = fitPhecodes(batch('never', 'absent'));
    for (let k = 0; k < K; k++) {
      expect(rows[k].status).toBe('ok');
      expect(rows[k].test).toBe('wald');
      expect(rows[k].n_cases + rows[k].n_controls).toBe(rowsOf(k).length);
      expectClose(rows[k].beta as number, ref.beta[k], 1e-6, `phecode ${k} β`);
      expectClose(rows[k].se as number, ref.se[k], 1e-6, `phecode ${k} SE`);
      expect(Math.abs((rows[k].beta as number) - (plain[k].beta as number))).toBeGreaterThan(1e-3);
    }
  });

  it("spa 'always': p equals the dense SPA on the null model fitted with the offset (1e-9)", () => {
    const rows = fitPhecodes(batch('always', 'field'));
    const plain = fitPhecodes(batch('always', 'absent'));
    let saddle = 0;
    for (let k = 0; k < K; k++) {
      const row = rows[k];
      // β and SE from the offset-aware Wald fit: named spa_wald
      expect(row.test).toBe('spa_wald');
      const d = denseSpa(k, ref.mu[k]);
      expect(d.status).toBe('ok');
      if (Math.abs(d.z) >= 2) saddle++;
      expectClose(row.neg_log10_p as number, d.mlog10p, 1e-9, `phecode ${k} −log10 p`);
      expectClose(row.p as number, d.p, 1e-9, `phecode ${k} p`);
      // β and SE stay those of the offset Wald fit
      expectClose(row.beta as number, ref.beta[k], 1e-6, `phecode ${k} β`);
      expectClose(row.se as number, ref.se[k], 1e-6, `phecode ${k} SE`);
      expect(Math.abs((row.neg_log10_p as number) - (plain[k].neg_log10_p as number))).toBeGreaterThan(1e-3);
    }
    expect(saddle).toBeGreaterThan(0); // the saddlepoint itself, not only the normal branch
  });

  it("spa 'auto' (case fraction 0.1) applies SPA to the ~5 % phecode only, with the offset", () => {
    const rows = fitPhecodes(batch('auto', 'field', 0.1));
    const always = fitPhecodes(batch('always', 'field'));
    const never = fitPhecodes(batch('never', 'field'));
    expect(rows.map((r) => r.test)).toEqual(['wald', 'wald', 'spa_wald']);
    expect(rows[0]).toEqual(never[0]);
    expect(rows[1]).toEqual(never[1]);
    expect(rows[2]).toEqual(always[2]);
  });

  it('without offsets the rows are bit-identical to sets with no offset field', () => {
    for (const spa of ['never', 'always', 'auto'] as const) {
      const a = fitPhecodes(batch(spa, 'null'));
      const b = fitPhecodes(batch(spa, 'absent'));
      expect(a).toEqual(b);
      a.forEach((row: PhecodeFit, k) => {
        expect(Object.is(row.p, b[k].p) && Object.is(row.beta, b[k].beta) && Object.is(row.se, b[k].se)).toBe(
          true,
        );
      });
    }
  });

  it('offsets are refused where they are not supported, and checked', () => {
    expect(() => assertNoOffsets(sets('field'))).toThrow(/single-predictor PheWAS only/);
    expect(() => assertNoOffsets(sets('null'))).not.toThrow();
    const fitOne = phecodeFitter(batch('always', 'field'));
    const ph = sets('field')[2];
    expect(() => fitOne(ph, f.x, null)).toThrow(/single-predictor PheWAS only/);
    expect(() => fitOne({ ...ph, offset: new Float64Array(N - 1) }, f.x)).toThrow(/offset has 1499 values/);
  });
});
