/**
 * Step 2 of `relatedness: 'loco'` for binary traits: the LOCO prediction is a fixed offset in
 * the logistic model (stats/logistic.ts `offset`). Checked against R `glm(…, offset = o,
 * family = binomial)` on the same data:
 * - full Wald fits (fullFitBelow 1): β and SE of the genotype to 1e-6 relative;
 * - score rows (no full fit): stat² equals R's Rao score statistic of the genotype given the
 *   covariates and the offset (`anova(m0, m1, test = "Rao")`), to 1e-6 relative;
 * - without the offset the numbers differ (the offset is used at all).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { logisticTestVariant, prepareLogistic } from '../../stats/logistic.js';
import { allocAssocColumns, STATUS_CODE } from '../../stats/status.js';
import { rng } from '../helpers/rng.js';

const N = 1500;
const M = 12;
const dir = mkdtempSync(join(tmpdir(), 'biobank-loco-offset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fixture() {
  const r = rng(20261205);
  const c1 = Float64Array.from({ length: N }, () => r.normal());
  const c2 = Float64Array.from({ length: N }, () => (r.next() < 0.5 ? 1 : 0));
  // a polygenic part the offset carries (as a LOCO prediction would)
  const offset = Float64Array.from({ length: N }, () => 0.8 * r.normal());
  const gts: Uint8Array[] = [];
  for (let v = 0; v < M; v++) {
    const af = 0.05 + 0.4 * r.next();
    gts.push(Uint8Array.from({ length: N }, () => (r.next() < af ? 1 : 0) + (r.next() < af ? 1 : 0)));
  }
  const y = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const eta = -1.2 + 0.4 * c1[i] - 0.3 * c2[i] + offset[i] + 0.25 * gts[0][i] + 0.15 * gts[1][i];
    y[i] = r.next() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
  }
  return { c1, c2, offset, gts, y };
}

const f = fixture();
const cov = new Float64Array(N * 2);
cov.set(f.c1, 0);
cov.set(f.c2, N);

function runEngine(fullFitBelow: number, withOffset: boolean) {
  const model = prepareLogistic(f.y, cov, 2, N, undefined, {
    fullFitBelow,
    firth: 'never',
    offset: withOffset ? f.offset : null,
  });
  const out = allocAssocColumns(M);
  for (let v = 0; v < M; v++) logisticTestVariant(model, f.gts[v], out, v);
  return out;
}

function runR(): { beta: number[]; se: number[]; rao: number[] } {
  const lines = ['y,c1,c2,o,' + Array.from({ length: M }, (_, v) => `g${v}`).join(',')];
  for (let i = 0; i < N; i++)
    lines.push(
      [f.y[i], f.c1[i], f.c2[i], f.offset[i], ...f.gts.map((g) => g[i])].map((x) => String(x)).join(','),
    );
  writeFileSync(join(dir, 'd.csv'), `${lines.join('\n')}\n`);
  const script = `
d <- read.csv('${join(dir, 'd.csv')}')
m0 <- glm(y ~ c1 + c2, offset = o, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
for (v in 0:${M - 1}) {
  d$g <- d[[paste0('g', v)]]
  m1 <- glm(y ~ c1 + c2 + g, offset = o, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- summary(m1)$coefficients['g', ]
  rao <- anova(m0, m1, test = 'Rao')$Rao[2]
  cat(sprintf('%.15g %.15g %.15g\\n', s[1], s[2], rao))
}`;
  const text = execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' });
  const rows = text
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  return { beta: rows.map((r) => r[0]), se: rows.map((r) => r[1]), rao: rows.map((r) => r[2]) };
}

describe('logistic GWAS with a LOCO offset (REGENIE step 2)', () => {
  const ref = runR();

  it('full fits equal R glm with offset', () => {
    const out = runEngine(1, true);
    for (let v = 0; v < M; v++) {
      expect(out.status[v]).toBe(STATUS_CODE.ok);
      expect(Math.abs(out.beta[v] - ref.beta[v]) / Math.abs(ref.beta[v])).toBeLessThan(1e-6);
      expect(Math.abs(out.se[v] - ref.se[v]) / ref.se[v]).toBeLessThan(1e-6);
    }
  });

  it('score rows equal R Rao score statistics with offset', () => {
    const out = runEngine(1e-300, true);
    for (let v = 0; v < M; v++) {
      expect(out.status[v]).toBe(STATUS_CODE.ok);
      expect(Math.abs(out.stat[v] ** 2 - ref.rao[v]) / ref.rao[v]).toBeLessThan(1e-6);
    }
  });

  it('the offset changes the fit', () => {
    const plain = runEngine(1, false);
    const diffs = ref.beta.map((b, v) => Math.abs(plain.beta[v] - b) / Math.abs(b));
    expect(Math.max(...diffs)).toBeGreaterThan(1e-3);
  });
});
