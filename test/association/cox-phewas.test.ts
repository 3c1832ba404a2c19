/**
 * The Cox PheWAS layer (phewas/cox.ts, phewas/cox-many.ts, phewas/schedule.ts coxFitAll /
 * coxScoreAll) on a seeded fixture of 600 persons on the age scale (entry = age at enrolment:
 * left truncation; times on a 0.1-year grid, so events tie and first = entry happens), a dosage
 * with missing values, covariates sex, c1, c2 and six phecodes: ordinary, mostly prevalent, many
 * cases diagnosed after exit, female-only, too few events, and monotone likelihood (every event
 * a homozygous carrier).
 *  1. R derives each phecode's rows from the raw per-person data and the per-phecode case /
 *     first / event / excluded lists with the outcome rules written again in R, then fits
 *     `coxph(Surv(start, stop, event) ~ x + covariates)` (Efron, and Breslow in a second pass):
 *     counts and person-years equal; β and SE to 1e-6 relative; the score p (coxph started at
 *     (0, γ̂ of the covariates-only fit)) to 1e-6; `cox.zph` p (predictor and GLOBAL) to 1e-4
 *     where the row has p < 0.05.
 *  2. The monotone phecode: R's coxph warns of an infinite coefficient; the row is `cox_firth`
 *     and equals stats/cox.ts's Firth fit run directly on the rows R derived.
 *  3. Many predictors (x with missing values, a burden-like score, a null score): score rows'
 *     χ² = (β/SE)² equals R's score statistic to 1e-6 and their p ≥ the threshold; every other
 *     row equals the single-predictor row.
 *  4. coxFitAll on 2 threads (minWork 0) gives the inline rows; coxScoreAll likewise.
 *  5. writeCoxPhewas: the Parquet has the `phewas_cox_results` columns (less run_id) and the
 *     rows; the record holds the hazard ratio of the top rows and `model: 'cox'`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import {
  attachOnsets,
  type CoxBatch,
  type CoxPhecodeFit,
  type CoxSettings,
  fitCoxPhecodes,
  type Timeline,
} from '../../phewas/cox.js';
import { coxScorePhecodes } from '../../phewas/cox-many.js';
import { writeCoxPhewas } from '../../phewas/cox-write.js';
import type { PhecodeSets } from '../../phewas/fit.js';
import { coxFitAll, coxScoreAll } from '../../phewas/schedule.js';
import { columnsOf } from '../../schemas/results.js';
import type { PhenomeRef, RunContext } from '../../schemas/study-io.js';
import { coxFit } from '../../stats/cox.js';
import { rng } from '../helpers/rng.js';
import { runR } from '../stats/fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'biobank-coxphewas-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const N = 600;
const MIN_EVENTS = 10;
const MIN_CONTROLS = 20;
const r1 = (t: number) => Math.round(t * 10) / 10;

interface Fixture {
  entry: Float64Array;
  exit: Float64Array;
  x: Float64Array;
  x2: Float64Array;
  x3: Float64Array;
  /** covariates sex, c1, c2 (column-major). */
  cov: Float64Array;
  phecodes: { phecode: string; sex: string | null }[];
  sets: PhecodeSets[];
  timeline: Timeline;
}

/**
 * Entry age 40–65, follow-up 1–12 years (2 % without follow-up), x ~ Bin(2, 0.3) (4 % missing),
 * onset ages from exponential hazards on x, c1 and sex; `first` is the onset, `event` 0–0.5 years
 * later (the second code date), and phecodes keep their cases diagnosed up to 8 years after exit.
 */
function makeFixture(seed: number): Fixture {
  const u = rng(seed);
  const entry = new Float64Array(N);
  const exit = new Float64Array(N);
  const x = new Float64Array(N);
  const x2 = new Float64Array(N);
  const x3 = new Float64Array(N);
  const cov = new Float64Array(3 * N);
  for (let i = 0; i < N; i++) {
    entry[i] = r1(40 + 25 * u.next());
    exit[i] = r1(entry[i] + 1 + 11 * u.next());
    if (u.next() < 0.02) {
      entry[i] = Number.NaN;
      exit[i] = Number.NaN;
    }
    x[i] = (u.next() < 0.3 ? 1 : 0) + (u.next() < 0.3 ? 1 : 0);
    x2[i] = u.next() < 0.1 ? 1 + Math.floor(3 * u.next()) : 0;
    x3[i] = u.next() < 0.15 ? 1 : 0;
    cov[i] = u.next() < 0.5 ? 1 : 0;
    cov[N + i] = u.normal();
    cov[2 * N + i] = r1(2 * u.next());
  }
  const xTrue = Float64Array.from(x);
  for (let i = 0; i < N; i++) if (u.next() < 0.04) x[i] = Number.NaN;

  const specs: {
    phecode: string;
    sex: string | null;
    onset: (i: number) => number;
    lag: number;
    excluded: number;
  }[] = [
    // ordinary: incident from entry, a strong effect of x (zph computed)
    {
      phecode: '100',
      sex: null,
      onset: (i) => entry[i] + expo(0.02 * Math.exp(0.6 * xTrue[i] + 0.3 * cov[N + i] + 0.4 * x2[i])),
      lag: 0.3,
      excluded: 0.03,
    },
    // mostly prevalent: onsets from age 30
    {
      phecode: '200',
      sex: null,
      onset: (i) => 30 + expo(0.02 * Math.exp(0.3 * xTrue[i] - 0.4 * cov[i])),
      lag: 0.5,
      excluded: 0.02,
    },
    // many cases diagnosed after their exit (kept up to 8 years after)
    {
      phecode: '300',
      sex: null,
      onset: (i) => entry[i] + 3 + expo(0.05 * Math.exp(0.2 * xTrue[i] + 0.2 * cov[2 * N + i])),
      lag: 0.2,
      excluded: 0,
    },
    // female only (sex = 1); males are excluded by the phenome
    {
      phecode: '400',
      sex: 'F',
      onset: (i) =>
        cov[i] === 1 ? entry[i] + expo(0.03 * Math.exp(0.4 * xTrue[i])) : Number.POSITIVE_INFINITY,
      lag: 0.4,
      excluded: 0,
    },
    // too few events
    {
      phecode: '500',
      sex: null,
      onset: (i) => (i % 150 === 7 ? entry[i] + 0.5 : Number.POSITIVE_INFINITY),
      lag: 0,
      excluded: 0,
    },
    // monotone likelihood: only homozygous carriers have events
    {
      phecode: '600',
      sex: null,
      onset: (i) => (xTrue[i] === 2 ? entry[i] + expo(0.06) : Number.POSITIVE_INFINITY),
      lag: 0.1,
      excluded: 0,
    },
  ];
  function expo(rate: number): number {
    return -Math.log(Math.max(u.next(), 1e-12)) / rate;
  }
  const sets: PhecodeSets[] = [];
  const onsets: Timeline['onsets'] = new Map();
  specs.forEach((s, k) => {
    const cases: number[] = [];
    const excluded: number[] = [];
    const first: number[] = [];
    const event: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = s.onset(i);
      const base = Number.isNaN(entry[i]) ? 50 : entry[i];
      const end = Number.isNaN(exit[i]) ? 60 : exit[i];
      const tt = Number.isNaN(t) ? base + 1 : t;
      if (tt <= end + 8) {
        const f = r1(Math.max(tt, 20));
        cases.push(i);
        first.push(f);
        event.push(r1(f + s.lag * u.next()));
      } else if (s.sex === 'F' ? cov[i] === 0 : u.next() < s.excluded) excluded.push(i);
    }
    sets.push({ index: k, sex: s.sex, cases: Int32Array.from(cases), excluded: Int32Array.from(excluded) });
    onsets.set(s.phecode, {
      samples: Int32Array.from(cases),
      first: Float64Array.from(first),
      event: Float64Array.from(event),
    });
  });
  return {
    entry,
    exit,
    x,
    x2,
    x3,
    cov,
    phecodes: specs.map((s) => ({ phecode: s.phecode, sex: s.sex })),
    sets,
    timeline: { entry, exit, onsets },
  };
}

const fx = makeFixture(20240516);
const coxSets = attachOnsets(fx.sets, fx.phecodes, fx.timeline);
const settings = (ties: 'efron' | 'breslow'): CoxSettings => ({
  n: N,
  cov: fx.cov,
  nCov: 3,
  sexCols: [0],
  entry: fx.entry,
  exit: fx.exit,
  minCases: MIN_EVENTS,
  minControls: MIN_CONTROLS,
  firth: 'fallback',
  ties,
});
const batch = (ties: 'efron' | 'breslow', x = fx.x): CoxBatch => ({
  ...settings(ties),
  x,
  phecodes: coxSets,
});

const num = (v: number) => (Number.isNaN(v) ? 'NA' : String(v));

/** The raw data for R: persons (with every predictor) and each phecode's case / excluded lists. */
function writeInputs(): void {
  const p = ['sample,entry,exit,x,x2,x3,sex,c1,c2'];
  for (let i = 0; i < N; i++)
    p.push(
      [i, fx.entry[i], fx.exit[i], fx.x[i], fx.x2[i], fx.x3[i], fx.cov[i], fx.cov[N + i], fx.cov[2 * N + i]]
        .map(num)
        .join(','),
    );
  writeFileSync(join(dir, 'persons.csv'), `${p.join('\n')}\n`);
  const s = ['phecode,sex,role,sample,first,event'];
  fx.sets.forEach((set, k) => {
    const ph = fx.phecodes[k];
    const on = fx.timeline.onsets.get(ph.phecode);
    if (!on) throw new Error('no onsets');
    set.cases.forEach((i, j) => {
      s.push([ph.phecode, ph.sex ?? '', 'case', i, num(on.first[j]), num(on.event[j])].join(','));
    });
    for (const i of set.excluded) s.push([ph.phecode, ph.sex ?? '', 'excluded', i, 'NA', 'NA'].join(','));
  });
  writeFileSync(join(dir, 'sets.csv'), `${s.join('\n')}\n`);
}

/**
 * The outcome rules again, in R, from the raw data; then coxph, the score statistics (of x and
 * of the many-predictor path's x2 and x3) and cox.zph. Prints "phecode.ties.key values…".
 */
const R_SCRIPT = (d: string) => `
suppressMessages(library(survival))
out <- function(k, v) cat(k, format(v, digits = 17), '\\n')
d <- read.csv('${d}/persons.csv'); s <- read.csv('${d}/sets.csv', colClasses = c(phecode = 'character', sex = 'character'))
n <- nrow(d)
ctl <- coxph.control(eps = 1e-12, iter.max = 100)
for (P in unique(s$phecode)) {
  cs <- s[s$phecode == P & s$role == 'case', ]; ex <- s[s$phecode == P & s$role == 'excluded', ]
  sexr <- cs$sex[1] != '' || (nrow(ex) > 0 && ex$sex[1] != '')
  isCase <- rep(FALSE, n); first <- rep(NA_real_, n); ev <- rep(NA_real_, n)
  isCase[cs$sample + 1] <- TRUE; first[cs$sample + 1] <- cs$first; ev[cs$sample + 1] <- cs$event
  base <- is.na(d$entry) | is.na(d$exit) | !(d$exit > d$entry)
  base[ex$sample + 1] <- TRUE
  base <- base | (isCase & (is.na(first) | is.na(ev)))
  for (pred in c('x', 'x2', 'x3')) {
    left <- base | is.na(d[[pred]])
    prev <- !left & isCase & first <= d$entry
    inc <- !left & !prev
    event <- as.numeric(inc & isCase & ev <= d$exit)
    stop <- ifelse(event == 1, ev, d$exit)
    dd <- data.frame(start = d$entry, stop = stop, event = event, x = d[[pred]], sex = d$sex, c1 = d$c1, c2 = d$c2)[inc, ]
    covs <- if (sexr) 'c1 + c2' else 'sex + c1 + c2'
    ne <- sum(dd$event); nc <- nrow(dd) - ne
    for (ties in c('efron', 'breslow')) {
      k <- function(x) paste0(P, '.', pred, '.', ties, '.', x)
      if (pred == 'x') out(k('counts'), c(ne, nc, sum(prev), n - nrow(dd) - sum(prev), nrow(dd), sum(dd$stop - dd$start)))
      if (ne < ${MIN_EVENTS} || nc < ${MIN_CONTROLS}) next
      if (P == '600' && pred == 'x' && ties == 'efron') write.csv(dd, '${d}/monotone.csv', row.names = FALSE)
      fm <- function(rhs) as.formula(paste('Surv(start, stop, event) ~', rhs))
      warned <- 0
      f <- withCallingHandlers(coxph(fm(paste('x +', covs)), data = dd, ties = ties, control = ctl),
                               warning = function(w) { warned <<- 1; invokeRestart('muffleWarning') })
      f0 <- coxph(fm(covs), data = dd, ties = ties, control = ctl)
      fs <- suppressWarnings(coxph(fm(paste('x +', covs)), data = dd, ties = ties, init = c(0, coef(f0)),
                                   control = coxph.control(iter.max = 0)))
      out(k('score'), c(fs$score, pchisq(fs$score, 1, lower.tail = FALSE)))
      if (pred != 'x') next
      out(k('warned'), warned)
      out(k('fit'), c(coef(f)[1], sqrt(vcov(f)[1, 1]), summary(f)$coefficients[1, 5]))
      z <- tryCatch(cox.zph(f)$table, error = function(e) NULL)
      if (!is.null(z)) out(k('zph'), c(z['x', 3], z['GLOBAL', 3]))
    }
  }
}
`;

function parse(text: string): Record<string, number[]> {
  const rec: Record<string, number[]> = {};
  for (const line of text.trim().split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    rec[k] = v.map(Number);
  }
  return rec;
}

writeInputs();
const ref = parse(runR(R_SCRIPT(dir), dir));

const worst: Record<string, number> = {};
afterAll(() => console.log('largest relative deviation from R:', JSON.stringify(worst)));
function within(kind: string, a: number | null, b: number, tol: number, label: string) {
  expect(a, label).not.toBeNull();
  const rel = Math.abs((a as number) - b) / Math.max(Math.abs(b), 1e-300);
  worst[kind] = Math.max(worst[kind] ?? 0, rel);
  expect(rel, `${label}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
}

describe('Cox PheWAS rows against R survival', () => {
  for (const ties of ['efron', 'breslow'] as const) {
    it(`applies the outcome rules and matches coxph (${ties})`, () => {
      const rows = fitCoxPhecodes(batch(ties));
      expect(rows.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
      let zphChecked = 0;
      let ordinary = 0;
      for (const row of rows) {
        const P = fx.phecodes[row.index].phecode;
        const k = (key: string) => `${P}.x.${ties}.${key}`;
        const [ne, nc, nprev, nexcl, nrisk, py] = ref[k('counts')];
        expect([row.n_events, row.n_censored, row.n_prevalent, row.n_excluded, row.n_at_risk], P).toEqual([
          ne,
          nc,
          nprev,
          nexcl,
          nrisk,
        ]);
        within('person_years', row.person_years, py, 1e-12, `${P} person-years`);
        if (ne < MIN_EVENTS) {
          expect(row.status).toBe('too_few_events');
          expect(row.beta).toBeNull();
          continue;
        }
        expect(row.status, `${P}: ${row.reason}`).toBe('ok');
        within('p_score', row.p_score, ref[k('score')][1], 1e-6, `${P} score p`);
        if (ref[k('warned')][0] === 1) {
          // monotone likelihood: R warns, the row is Firth's (checked below)
          expect(row.test, P).toBe('cox_firth');
          continue;
        }
        ordinary++;
        expect(row.test, P).toBe('cox');
        const [beta, se, p] = ref[k('fit')];
        within('beta', row.beta, beta, 1e-6, `${P} β`);
        within('se', row.se, se, 1e-6, `${P} SE`);
        within('p_wald', row.p, p, 1e-6, `${P} p`);
        expect(row.p_wald).toBe(row.p);
        within('hr', row.hazard_ratio, Math.exp(beta), 1e-6, `${P} HR`);
        if ((row.p as number) < 0.05) {
          const [zx, zg] = ref[k('zph')];
          within('zph', row.zph_p, zx, 1e-4, `${P} zph p`);
          within('zph', row.zph_global_p, zg, 1e-4, `${P} zph global p`);
          zphChecked++;
        } else expect(row.zph_p).toBeNull();
      }
      // the fixture exercises what it should
      expect(ordinary).toBeGreaterThanOrEqual(4);
      expect(zphChecked).toBeGreaterThanOrEqual(1);
      const byP = (P: string) => rows[fx.phecodes.findIndex((q) => q.phecode === P)];
      expect(byP('200').n_prevalent).toBeGreaterThan(50);
      expect(byP('500').status).toBe('too_few_events');
      expect(byP('600').test).toBe('cox_firth');
    });
  }

  it('counts the cases diagnosed after exit as censored', () => {
    const ph = coxSets[2];
    let after = 0;
    ph.cases.forEach((i, j) => {
      if (ph.first[j] > fx.entry[i] && ph.event[j] > fx.exit[i] && !Number.isNaN(fx.x[i])) after++;
    });
    expect(after).toBeGreaterThan(20);
  });

  it('fits the monotone phecode with Firth, as stats/cox.ts does on the rows R derived', () => {
    const row = fitCoxPhecodes(batch('efron'))[5];
    const lines = readFileSync(join(dir, 'monotone.csv'), 'utf8').trim().split('\n').slice(1);
    const cols = lines.map((l) => l.split(',').map(Number));
    const col = (j: number) => Float64Array.from(cols, (r) => r[j]);
    const m = cols.length;
    const cov = new Float64Array(3 * m);
    cov.set(col(4), 0);
    cov.set(col(5), m);
    cov.set(col(6), 2 * m);
    const direct = coxFit(
      { surv: { start: col(0), stop: col(1), event: col(2) }, x: col(3), covariates: cov, c: 3 },
      { firth: 'always' },
    );
    const ml = coxFit(
      { surv: { start: col(0), stop: col(1), event: col(2) }, x: col(3), covariates: cov, c: 3 },
      { firth: 'never' },
    );
    expect(ml.status).toBe('monotone_likelihood');
    expect(row.status).toBe('ok');
    expect(row.test).toBe('cox_firth');
    expect(row.n_at_risk).toBe(m);
    within('firth', row.beta, direct.beta[0], 1e-7, 'Firth β');
    within('firth', row.se, direct.se[0], 1e-7, 'Firth SE');
    expect(row.zph_p).toBeNull();
  });
});

describe('many predictors and threads', () => {
  const xs = [fx.x, fx.x2, fx.x3];
  const many = { ...settings('efron'), xs, scoreThreshold: 0.05, phecodes: coxSets };

  it('gives score rows that match R and full-fit rows equal to the single-predictor path', () => {
    const perPhecode = coxScorePhecodes(many);
    const single = xs.map((x) => fitCoxPhecodes(batch('efron', x)));
    let scoreRows = 0;
    let fitted = 0;
    for (const ph of perPhecode) {
      const P = fx.phecodes[ph.index].phecode;
      ph.fits.forEach((row, p) => {
        const pred = ['x', 'x2', 'x3'][p];
        if (row.test === 'cox_score') {
          scoreRows++;
          expect(p, 'x has missing values: always a full fit').toBeGreaterThan(0);
          const [chi2, pr] = ref[`${P}.${pred}.efron.score`];
          within(
            'many_score',
            ((row.beta as number) / (row.se as number)) ** 2,
            chi2,
            1e-6,
            `${P} ${pred} χ²`,
          );
          within('many_score', row.p, pr, 1e-6, `${P} ${pred} p`);
          expect(row.p as number).toBeGreaterThanOrEqual(0.05);
          const s = single[p][ph.index];
          expect([row.n_events, row.n_censored, row.n_prevalent, row.n_excluded]).toEqual([
            s.n_events,
            s.n_censored,
            s.n_prevalent,
            s.n_excluded,
          ]);
        } else {
          fitted++;
          expect(row, `${P} ${pred}`).toEqual(single[p][ph.index]);
        }
      });
    }
    expect(scoreRows).toBeGreaterThanOrEqual(4);
    expect(fitted).toBeGreaterThanOrEqual(6);
  });

  const ctx = { heartbeat: () => undefined, signal: new AbortController().signal };
  it('gives the inline rows on 2 threads', async () => {
    const { phecodes: _p, ...b } = batch('efron');
    const inline: CoxPhecodeFit[] = fitCoxPhecodes(batch('efron'));
    const threaded = await coxFitAll(b, coxSets, { threads: 2, minWork: 0 }, ctx);
    expect(threaded).toEqual(inline);
    const { phecodes: _q, ...mb } = many;
    const manyThreaded = await coxScoreAll(mb, coxSets, { threads: 2, minWork: 0 }, ctx);
    expect(manyThreaded).toEqual(coxScorePhecodes(many));
  }, 60_000);
});

describe('writing', () => {
  it('writes the phewas_cox_results rows and the record', async () => {
    const fits = fitCoxPhecodes(batch('efron'));
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const run = { runDir: join(dir, 'run') } as RunContext;
      const phenome = { phecodeVersion: '1.2' } as PhenomeRef;
      const infos = fx.phecodes.map((p) => ({
        ...p,
        description: `phecode ${p.phecode}`,
        category: null,
        cases: null,
        excluded: null,
      }));
      const predictor = { type: 'column' as const, id: 'x/dosage', path: '/dev/null', column: 'x' };
      const res = await writeCoxPhewas(conn, run, phenome, predictor, infos, fits, 'age');
      expect(res.path).toBe(join(dir, 'run', 'phewas-cox', 'x_dosage.parquet'));
      expect(res.model).toBe('cox');
      expect(res.nTested).toBe(fits.filter((f) => f.status === 'ok').length);
      const best = fits
        .filter((f) => f.status === 'ok')
        .sort((a, b) => (b.neg_log10_p ?? 0) - (a.neg_log10_p ?? 0))[0];
      expect(res.top[0]).toEqual({
        phecode: fx.phecodes[best.index].phecode,
        description: `phecode ${fx.phecodes[best.index].phecode}`,
        p: best.p,
        oddsRatio: best.hazard_ratio,
        nCases: best.n_events,
      });
      const back = await conn.runAndReadAll(`SELECT * FROM read_parquet('${res.path}') ORDER BY phecode`);
      expect(back.columnNames()).toEqual(
        columnsOf('phewas_cox_results')
          .map((c) => c.name)
          .filter((c) => c !== 'run_id'),
      );
      const rows = back.getRowObjectsJS();
      expect(rows.length).toBe(fits.length);
      expect(rows.map((r) => r.status)).toEqual(fits.map((f) => f.status));
      expect(rows.map((r) => r.beta)).toEqual(fits.map((f) => f.beta));
      expect(rows.map((r) => r.time_scale)).toEqual(fits.map(() => 'age'));
      const rec = JSON.parse(readFileSync(`${res.path}.json`, 'utf8'));
      expect(rec).toEqual(res);
    } finally {
      conn.closeSync();
    }
  });
});
