/**
 * The PheWAS meta-analysis core (meta/phewas.ts) against R metafor, computed at test time:
 * three inputs of predictor × phecode rows (variants, burden scores), one input naming a variant
 * with its alleles swapped, one association missing from an input, one not tested in an input.
 * Every association with k ≥ 2 is refitted by `rma(yi, sei, method = "FE")` and `"DL"` on the
 * aligned βs the test builds itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AssociationRow, bonferroniByPredictor, metaAnalysePhewas } from '../../meta/phewas.js';
import { rng } from '../helpers/rng.js';

const PHECODES = ['250.2', '401.1', '411.4', '428', '272.1', '585.3'];
const PREDICTORS: { id: string; type: AssociationRow['predictor_type']; swapped: string | null }[] = [
  { id: '1:1000:A:G', type: 'variant', swapped: '1:1000:G:A' },
  { id: '7:5500:C:CT', type: 'variant', swapped: null },
  { id: 'LMNA__pLoF__0.01', type: 'burden', swapped: null },
];
const LABELS = ['EUR', 'AFR', 'site C'];

function fixture() {
  const r = rng(20261206);
  // truth per (predictor, phecode), then per input a noisy estimate
  const inputs = LABELS.map((label) => ({ label, rows: [] as AssociationRow[] }));
  const truth = new Map<string, number>();
  for (const p of PREDICTORS) for (const ph of PHECODES) truth.set(`${p.id}|${ph}`, 0.3 * r.normal());
  inputs.forEach((input, i) => {
    for (const p of PREDICTORS)
      for (const ph of PHECODES) {
        // input 1 lacks 7:5500 × 428; input 2 did not test LMNA × 585.3
        if (i === 1 && p.id === '7:5500:C:CT' && ph === '428') continue;
        const se = 0.05 + 0.3 * r.next();
        const heterogeneous = ph === '411.4' && i === 1 ? 1.2 : 0;
        const b = (truth.get(`${p.id}|${ph}`) as number) + heterogeneous + se * r.normal();
        const untested = i === 2 && p.id.startsWith('LMNA') && ph === '585.3';
        // input 2 names the first variant with swapped alleles: its β is for the other allele
        const swapped = i === 2 && p.swapped !== null;
        input.rows.push({
          predictor: swapped ? (p.swapped as string) : p.id,
          predictor_type: p.type,
          phecode: ph,
          description: `phecode ${ph}`,
          category: null,
          n_cases: 100 + i,
          n_controls: 1000,
          beta: untested ? null : swapped ? -b : b,
          se: untested ? null : se,
          p: untested ? null : 0.5,
          test: untested ? null : 'wald',
        });
      }
  });
  return { inputs };
}

/** metafor FE and DL of each group of (yi, sei), by id. */
function metafor(rows: { id: string; yi: number; sei: number }[]) {
  const dir = mkdtempSync(join(tmpdir(), 'biobank-meta-phewas-'));
  try {
    const csv = ['id,yi,sei', ...rows.map((r) => `${r.id},${r.yi.toPrecision(17)},${r.sei.toPrecision(17)}`)];
    writeFileSync(join(dir, 'in.csv'), `${csv.join('\n')}\n`);
    const code = `
      suppressMessages(library(metafor))
      d <- read.csv("${join(dir, 'in.csv')}", colClasses = c("character", "numeric", "numeric"))
      out <- do.call(rbind, lapply(split(d, d$id), function(g) {
        fe <- rma(yi = g$yi, sei = g$sei, method = "FE")
        dl <- rma(yi = g$yi, sei = g$sei, method = "DL")
        data.frame(id = g$id[1], beta = fe$beta[1], se = fe$se, p = fe$pval, q = fe$QE, qp = fe$QEp,
                   i2 = dl$I2, tau2 = dl$tau2, beta_re = dl$beta[1], se_re = dl$se, p_re = dl$pval)
      }))
      write.csv(out, "${join(dir, 'out.csv')}", row.names = FALSE)`;
    execFileSync('Rscript', ['-e', code], { stdio: 'pipe' });
    const [head, ...lines] = readFileSync(join(dir, 'out.csv'), 'utf8').trim().split('\n');
    const cols = head.split(',').map((c) => c.replaceAll('"', ''));
    return new Map(
      lines.map((l) => {
        const v = l.split(',');
        const o = Object.fromEntries(
          cols.map((c, i) => [c, c === 'id' ? v[i].replaceAll('"', '') : Number(v[i])]),
        );
        return [o.id as string, o as Record<string, number>];
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

describe('PheWAS meta-analysis core', () => {
  const { inputs } = fixture();
  const out = metaAnalysePhewas(inputs, 'logistic');

  it('matches associations across inputs, aligning a swapped variant, and equals metafor FE and DL', () => {
    expect(out.results).toHaveLength(PREDICTORS.length * PHECODES.length);
    // the test's own alignment: input 2's first-variant βs negated; untested rows left out
    const ref: { id: string; yi: number; sei: number }[] = [];
    inputs.forEach((input, i) => {
      for (const row of input.rows) {
        if (row.beta === null || row.se === null) continue;
        const pred = row.predictor === '1:1000:G:A' ? '1:1000:A:G' : row.predictor;
        ref.push({
          id: `${pred}|${row.phecode}`,
          yi: i === 2 && row.predictor === '1:1000:G:A' ? -row.beta : row.beta,
          sei: row.se,
        });
      }
    });
    const r = metafor(ref);
    let checked = 0;
    for (const row of out.results) {
      const m = r.get(`${row.predictor}|${row.phecode}`);
      expect(m, `${row.predictor} × ${row.phecode}`).toBeDefined();
      if (!m) continue;
      expect(rel(row.beta as number, m.beta)).toBeLessThan(1e-8);
      expect(rel(row.se as number, m.se)).toBeLessThan(1e-8);
      expect(rel(row.p as number, m.p)).toBeLessThan(1e-8);
      expect(rel(row.q as number, m.q)).toBeLessThan(1e-8);
      expect(rel(row.q_p as number, m.qp)).toBeLessThan(1e-8);
      expect(Math.abs((row.i2 as number) - m.i2)).toBeLessThan(1e-8 * 100);
      expect(Math.abs((row.tau2 as number) - m.tau2)).toBeLessThan(1e-8 * Math.max(1, m.tau2));
      expect(rel(row.beta_random as number, m.beta_re)).toBeLessThan(1e-8);
      expect(rel(row.se_random as number, m.se_re)).toBeLessThan(1e-8);
      expect(rel(row.p_random as number, m.p_re)).toBeLessThan(1e-8);
      checked++;
    }
    expect(checked).toBe(out.results.length);
  });

  it('names the variant with the reference alleles and reports k, direction and counts', () => {
    const v = out.results.filter((x) => x.predictor.startsWith('1:1000:'));
    expect(new Set(v.map((x) => x.predictor))).toEqual(new Set(['1:1000:A:G']));
    const missing = out.results.find((x) => x.predictor === '7:5500:C:CT' && x.phecode === '428');
    expect(missing?.k).toBe(2);
    expect(missing?.direction[1]).toBe('?');
    expect(missing?.n_cases).toBe(100 + 102);
    const untested = out.results.find((x) => x.predictor === 'LMNA__pLoF__0.01' && x.phecode === '585.3');
    expect(untested?.k).toBe(2);
    const forest = out.forest.filter((f) => f.predictor === 'LMNA__pLoF__0.01' && f.phecode === '585.3');
    expect(forest.map((f) => f.aligned)).toEqual(['reference', 'same', 'not_tested']);
    const swapped = out.forest.filter((f) => f.predictor === '1:1000:A:G' && f.label === 'site C');
    expect(swapped.every((f) => f.aligned === 'swapped')).toBe(true);
    // the planted heterogeneity (AFR +1.2 at 411.4) gives large Q
    const het = out.results.filter((x) => x.phecode === '411.4');
    expect(Math.max(...het.map((x) => x.i2 ?? 0))).toBeGreaterThan(50);
  });

  it('keeps an association no input tested as no_inputs, and one input as single_input', () => {
    const one = metaAnalysePhewas(
      [
        { label: 'a', rows: [{ ...inputs[0].rows[0], beta: null, se: null }] },
        { label: 'b', rows: [inputs[1].rows[0], { ...inputs[1].rows[1] }] },
      ],
      'cox',
    );
    const first = one.results.find((x) => x.phecode === inputs[0].rows[0].phecode);
    expect(first?.status).toBe('single_input');
    expect(first?.beta).toBe(inputs[1].rows[0].beta);
    expect(first?.q_p).toBeNull();
    const none = metaAnalysePhewas(
      [{ label: 'a', rows: [{ ...inputs[0].rows[0], beta: null, se: null }] }],
      'cox',
    );
    expect(none.results[0].status).toBe('no_inputs');
    expect(none.results[0].beta).toBeNull();
    expect(none.results[0].n_cases).toBeNull();
  });

  it('refuses a duplicated association within an input', () => {
    expect(() =>
      metaAnalysePhewas([{ label: 'a', rows: [inputs[0].rows[0], inputs[0].rows[0]] }], 'logistic'),
    ).toThrow(/appears twice/);
  });

  it('gives each predictor a Bonferroni threshold over its tested associations', () => {
    const b = bonferroniByPredictor(out.results);
    expect(b.get('1:1000:A:G')).toBeCloseTo(0.05 / PHECODES.length, 15);
  });
});
