/**
 * Cox regression (stats/cox.ts) against R `survival` and an independent Firth implementation:
 *  1. a seeded left-truncated, right-censored fixture with tied event times (n = 400, predictor +
 *     2 covariates): `coxph(Surv(start, stop, event) ~ x + c1 + c2)` with Efron and Breslow ties —
 *     β, SE, log PL and the HR 95 % CI to 1e-6 relative; the score test of x given the covariates
 *     (R: the score statistic of the full model started at (0, γ̂ of the covariates-only fit)) and
 *     of the one-variable model (`summary()$sctest`) to 1e-6; `cox.zph` p per coefficient and
 *     GLOBAL to 1e-4; also a fixture with every event at one time and one without truncation;
 *  2. Firth: against a plain-R Heinze & Schemper implementation written below (Efron ℓ and I by
 *     explicit loops over each risk set, ℓ + ½ log|I| maximised by optim), β and SE to 1e-5, on a
 *     regular fixture and on one with monotone likelihood (every event a carrier), where R's
 *     coxph warns of an infinite coefficient and our ML fit reports `monotone_likelihood`;
 *  3. edge cases give statuses: no events, constant predictor, collinear covariates, monotone
 *     likelihood with and without the Firth fallback, the score test's own statuses;
 *  4. timing of one fit at n = 50,000, 1 % events, 12 covariates, against one logistic fit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoxData, coxFit, coxNullModel, coxRiskSets, coxScoreTest, coxZph } from '../../stats/cox.js';
import { riskSums } from '../../stats/cox-core.js';
import { designMatrix, logisticFit } from '../../stats/logistic-fit.js';
import { rng } from '../helpers/rng.js';
import { runR } from './fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'biobank-cox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const relClose = (a: number, b: number, tol: number) =>
  Math.abs(a - b) <= tol * Math.max(Math.abs(b), 1e-300);

/** Largest relative deviation from the reference seen per quantity (printed at the end). */
const worst: Record<string, number> = {};
afterAll(() => console.log('largest relative deviation from R:', JSON.stringify(worst)));

/** Asserts |a − b| ≤ tol·|b| and records the deviation under `kind`. */
function within(kind: string, a: number, b: number, tol: number, label: string) {
  const rel = Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
  worst[kind] = Math.max(worst[kind] ?? 0, rel);
  expect(rel, `${label}: ${a} vs ${b}`).toBeLessThanOrEqual(tol);
}

interface Fixture {
  n: number;
  start: Float64Array;
  stop: Float64Array;
  event: Uint8Array;
  x: Float64Array;
  c1: Float64Array;
  c2: Float64Array;
}

/**
 * Persons enter at a (multiples of 0.5 in [0, 2)), have a Weibull-ish event time with hazard
 * 0.25·e^{0.4x + 0.3c1 − 0.5c2} and are kept only if it falls after entry (left truncation);
 * censoring a + U(0.3, 6). Times are rounded up to 0.1, so many event times tie.
 */
function fixture(
  n: number,
  seed: number,
  opts: { truncate?: boolean; carriersOnly?: boolean } = {},
): Fixture {
  const u = rng(seed);
  const f: Fixture = {
    n,
    start: new Float64Array(n),
    stop: new Float64Array(n),
    event: new Uint8Array(n),
    x: new Float64Array(n),
    c1: new Float64Array(n),
    c2: new Float64Array(n),
  };
  const truncate = opts.truncate ?? true;
  for (let i = 0; i < n; ) {
    const x = opts.carriersOnly
      ? u.next() < 0.2
        ? 1
        : 0
      : (u.next() < 0.3 ? 1 : 0) + (u.next() < 0.3 ? 1 : 0);
    const c1 = u.normal();
    const c2 = u.next() < 0.5 ? 1 : 0;
    const a = truncate ? Math.floor(u.next() * 4) / 2 : 0;
    const rate = 0.25 * Math.exp(0.4 * x + 0.3 * c1 - 0.5 * c2);
    const t = -Math.log(Math.max(u.next(), 1e-12)) / rate;
    if (t <= a) continue;
    const cens = a + 0.3 + 5.7 * u.next();
    let event = t <= cens ? 1 : 0;
    if (opts.carriersOnly && x === 0) event = 0;
    let stop = Math.ceil(Math.min(t, cens) * 10) / 10;
    if (!(stop > a)) stop = Math.round((a + 0.1) * 10) / 10;
    f.start[i] = a;
    f.stop[i] = stop;
    f.event[i] = event;
    f.x[i] = x;
    f.c1[i] = c1;
    f.c2[i] = c2;
    i++;
  }
  return f;
}

function writeCsv(name: string, f: Fixture): string {
  const path = join(dir, `${name}.csv`);
  const rows = ['start,stop,event,x,c1,c2'];
  for (let i = 0; i < f.n; i++)
    rows.push([f.start[i], f.stop[i], f.event[i], f.x[i], f.c1[i], f.c2[i]].join(','));
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

function data(f: Fixture, truncated = true): CoxData {
  const cov = new Float64Array(2 * f.n);
  cov.set(f.c1, 0);
  cov.set(f.c2, f.n);
  return {
    surv: { start: truncated ? f.start : undefined, stop: f.stop, event: f.event },
    x: f.x,
    covariates: cov,
  };
}

/** Parses "key v1 v2 …" lines into a record of number arrays. */
function parse(out: string): Record<string, number[]> {
  const rec: Record<string, number[]> = {};
  for (const line of out.trim().split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    rec[k] = v.map(Number);
  }
  return rec;
}

/** R's coxph, score tests and cox.zph for one fixture; keys are prefixed with the fixture's name. */
const R_COXPH = `
coxref <- function(name, csv, surv) {
  d <- read.csv(csv)
  fm <- function(rhs) as.formula(paste(surv, '~', rhs))
  ctl <- coxph.control(eps = 1e-10, iter.max = 100)
  for (ties in c('efron', 'breslow')) {
    k <- function(s) paste0(name, '.', ties, '.', s)
    f <- coxph(fm('x + c1 + c2'), data = d, ties = ties, control = ctl)
    f0 <- coxph(fm('c1 + c2'), data = d, ties = ties, control = ctl)
    fs <- suppressWarnings(coxph(fm('x + c1 + c2'), data = d, ties = ties, init = c(0, coef(f0)),
                                 control = coxph.control(iter.max = 0)))
    f1 <- coxph(fm('x'), data = d, ties = ties, control = ctl)
    out(k('beta'), coef(f))
    out(k('se'), sqrt(diag(vcov(f))))
    out(k('loglik'), f$loglik)
    out(k('ci'), exp(confint(f))[1, ])
    out(k('score'), c(fs$score, pchisq(fs$score, 1, lower.tail = FALSE)))
    out(k('sctest1'), summary(f1)$sctest)
    z <- tryCatch(cox.zph(f)$table, error = function(e) matrix(NaN, 4, 3))
    out(k('zph.chisq'), z[, 1])
    out(k('zph.p'), z[, 3])
    out(k('n'), c(f$n, f$nevent))
  }
}
`;

/**
 * Heinze & Schemper's penalised partial likelihood in plain R, independent of stats/cox*.ts:
 * Efron ℓ and I(β) by explicit sums over each risk set (the sub-step weights w·(R − r/m·D)),
 * ℓ* = ℓ + ½ log|I| maximised by optim (BFGS, numerical gradient, then a second polishing run).
 */
const R_FIRTH = `
firthref <- function(name, csv) {
  d <- read.csv(csv)
  X <- as.matrix(d[, c('x', 'c1', 'c2')]); p <- ncol(X)
  efron <- function(b) {
    eta <- drop(X %*% b); w <- exp(eta); ll <- 0; I <- matrix(0, p, p)
    for (t in sort(unique(d$stop[d$event == 1]))) {
      R <- as.numeric(d$start < t & d$stop >= t); D <- as.numeric(d$stop == t & d$event == 1); m <- sum(D)
      ll <- ll + sum(eta * D)
      for (r in 0:(m - 1)) {
        wr <- w * (R - (r / m) * D); s0 <- sum(wr); xb <- colSums(X * wr) / s0
        ll <- ll - log(s0)
        Xc <- sweep(X, 2, xb); I <- I + crossprod(Xc, Xc * wr) / s0
      }
    }
    list(ll = ll, I = I)
  }
  pen <- function(b) { e <- efron(b); e$ll + 0.5 * as.numeric(determinant(e$I)$modulus) }
  o <- optim(rep(0, p), pen, method = 'BFGS',
             control = list(fnscale = -1, reltol = 1e-16, maxit = 2000, ndeps = rep(1e-5, p)))
  o <- optim(o$par, pen, method = 'BFGS',
             control = list(fnscale = -1, reltol = 1e-16, maxit = 2000, ndeps = rep(1e-6, p)))
  e <- efron(o$par)
  ml <- tryCatch(coxph(Surv(start, stop, event) ~ x + c1 + c2, data = d),
                 warning = function(w) conditionMessage(w))
  k <- function(s) paste0(name, '.', s)
  out(k('beta'), o$par)
  out(k('se'), sqrt(diag(solve(e$I))))
  out(k('pen'), o$value)
  out(k('ll'), e$ll)
  out(k('mlwarn'), as.numeric(is.character(ml)))
  # the plain-R ℓ agrees with coxph's at coxph's own estimate
  if (!is.character(ml)) out(k('llcheck'), c(efron(coef(ml))$ll, ml$loglik[2]))
}
`;

const FIXTURES = {
  main: { f: fixture(400, 20240611), truncated: true },
  right: { f: fixture(300, 77, { truncate: false }), truncated: false },
  tied: { f: tiedFixture(200, 5), truncated: true },
};
const FIRTH = {
  regular: fixture(200, 11),
  monotone: fixture(200, 12, { carriersOnly: true }),
};

/** Every event at time 2.5 (one tied group; censored persons before and after). */
function tiedFixture(n: number, seed: number): Fixture {
  const f = fixture(n, seed);
  for (let i = 0; i < f.n; i++) if (f.event[i]) f.stop[i] = 2.5;
  return f;
}

/** One R session for every reference value (R starts slowly on a busy machine). */
let ref: Record<string, number[]> = {};
beforeAll(() => {
  const calls: string[] = [];
  for (const [name, { f, truncated }] of Object.entries(FIXTURES)) {
    const surv = truncated ? 'Surv(start, stop, event)' : 'Surv(stop, event)';
    calls.push(`coxref('${name}', ${JSON.stringify(writeCsv(name, f))}, '${surv}')`);
  }
  for (const [name, f] of Object.entries(FIRTH))
    calls.push(`firthref('firth-${name}', ${JSON.stringify(writeCsv(`firth-${name}`, f))})`);
  const script = `suppressMessages(library(survival))
out <- function(k, v) cat(k, sprintf('%.17g', v), '\\n')
${R_COXPH}
${R_FIRTH}
${calls.join('\n')}
`;
  ref = parse(runR(script, dir));
});

function compareWithR(name: keyof typeof FIXTURES) {
  const { f, truncated } = FIXTURES[name];
  const dat = data(f, truncated);
  const rs = coxRiskSets(dat.surv as { start?: Float64Array; stop: Float64Array; event: Uint8Array });
  for (const ties of ['efron', 'breslow'] as const) {
    const r = (s: string) => ref[`${name}.${ties}.${s}`];
    const fit = coxFit({ ...dat, surv: rs }, { ties });
    const label = `${name} ${ties}`;
    expect(fit.status, label).toBe('ok');
    expect(fit.n).toBe(r('n')[0]);
    expect(fit.events).toBe(r('n')[1]);
    for (let j = 0; j < 3; j++) {
      within('beta', fit.beta[j], r('beta')[j], 1e-6, `${label} β${j}`);
      within('se', fit.se[j], r('se')[j], 1e-6, `${label} SE${j}`);
    }
    within('loglik', fit.logLikInit, r('loglik')[0], 1e-9, `${label} ℓ(0)`);
    within('loglik', fit.logLik, r('loglik')[1], 1e-9, `${label} ℓ(β̂)`);
    within('hr_ci', fit.hrLower95[0], r('ci')[0], 1e-6, `${label} HR L95`);
    within('hr_ci', fit.hrUpper95[0], r('ci')[1], 1e-6, `${label} HR U95`);
    // score test of x given the covariates: coxFit's own null fit, and a shared null model
    const [chi2, p] = r('score');
    const score = fit.score!;
    expect(score.status).toBe('ok');
    within('score_chi2', score.chi2, chi2, 1e-6, `${label} score χ²`);
    within('score_p', score.p, p, 1e-6, `${label} score p`);
    const nm = coxNullModel(rs, dat.covariates, 2, { ties });
    expect(coxScoreTest(nm, f.x).p).toBe(score.p);
    // the unadjusted score test: R's summary(coxph(~ x))$sctest
    const [chi1, , p1] = r('sctest1');
    const s1 = coxScoreTest(coxNullModel(rs, undefined, 0, { ties }), f.x);
    within('sctest_chi2', s1.chi2, chi1, 1e-6, `${label} sctest χ²`);
    within('sctest_p', s1.p, p1, 1e-6, `${label} sctest p`);
    // proportional hazards: x, c1, c2, GLOBAL (R cannot test it with a single event time)
    const zph = coxZph({ ...dat, surv: rs }, fit);
    const zp = r('zph.p');
    if (name === 'tied') {
      expect(zp.every(Number.isNaN)).toBe(true);
      expect(zph.status).toBe('collinear');
      continue;
    }
    expect(zph.status).toBe('ok');
    for (let j = 0; j < 3; j++) within('zph_p', zph.p[j], zp[j], 1e-4, `${label} zph p${j}`);
    within('zph_p', zph.globalP, zp[3], 1e-4, `${label} zph GLOBAL p`);
    within('zph_chi2', zph.globalChi2, r('zph.chisq')[3], 1e-4, 'zph GLOBAL χ²');
  }
}

describe('coxFit against R survival::coxph', () => {
  it('left truncation, censoring and tied event times: Efron and Breslow', () => {
    const f = FIXTURES.main.f;
    let ties = 0;
    const seen = new Set<number>();
    for (let i = 0; i < f.n; i++) {
      if (!f.event[i]) continue;
      if (seen.has(f.stop[i])) ties++;
      seen.add(f.stop[i]);
    }
    expect(ties).toBeGreaterThan(30);
    expect(f.start.some((a, i) => a > 0 && f.event[i] === 1)).toBe(true);
    compareWithR('main');
  });

  it('no truncation (Surv(time, event))', () => compareWithR('right'));
  it('every event at one time', () => compareWithR('tied'));
});

describe('Firth-penalised Cox against an independent R implementation', () => {
  for (const name of ['regular', 'monotone'] as const) {
    it(`${name} likelihood: β and SE to 1e-5`, () => {
      const r = (s: string) => ref[`firth-${name}.${s}`];
      const dat = data(FIRTH[name]);
      const ml = coxFit(dat, { scoreTest: false });
      if (name === 'monotone') {
        expect(r('mlwarn')[0], 'R coxph warns of an infinite coefficient').toBe(1);
        expect(ml.status).toBe('monotone_likelihood');
        expect(Number.isNaN(ml.beta[0])).toBe(true);
      } else {
        expect(ml.status).toBe('ok');
        within('firth_llcheck', r('llcheck')[0], r('llcheck')[1], 1e-10, 'plain-R ℓ = coxph ℓ');
      }
      const fb = coxFit(dat, { firth: name === 'monotone' ? 'fallback' : 'always', scoreTest: false });
      expect(fb.status).toBe('ok');
      expect(fb.test).toBe('firth');
      for (let j = 0; j < 3; j++) {
        const b = r('beta')[j];
        within('firth_beta', fb.beta[j], b, 1e-5, `${name} β${j}`);
        within('firth_se', fb.se[j], r('se')[j], 1e-5, `${name} SE${j}`);
      }
      within('firth_penalised_loglik', fb.penalisedLogLik, r('pen')[0], 1e-9, 'ℓ*');
      within('firth_loglik', fb.logLik, r('ll')[0], 1e-8, 'ℓ at the Firth estimate');
      if (name === 'monotone') {
        expect(fb.mlStatus).toBe('monotone_likelihood');
        expect(fb.beta[0]).toBeGreaterThan(1);
      } else {
        // the penalty moves a regular estimate by a fraction of its SE
        expect(Math.abs(fb.beta[0] - ml.beta[0])).toBeLessThan(0.2 * ml.se[0]);
        expect(fb.beta[0]).not.toBe(ml.beta[0]);
      }
    });
  }
});

describe('Cox edge cases', () => {
  const f = fixture(150, 3);
  const dat = data(f);

  it('no events, too few events, constant predictor, collinear covariates', () => {
    const none = coxFit({ ...dat, surv: { ...dat.surv, event: new Uint8Array(f.n) } });
    expect(none.status).toBe('too_few_events');
    expect(none.score?.status).toBe('too_few_events');
    expect(Number.isNaN(none.beta[0])).toBe(true);
    expect(coxFit(dat, { minEvents: 10_000 }).status).toBe('too_few_events');
    const flat = coxFit({ ...dat, x: new Float64Array(f.n).fill(2) });
    expect(flat.status).toBe('monomorphic');
    expect(flat.score?.status).toBe('monomorphic');
    const cov = new Float64Array(3 * f.n);
    cov.set(f.c1, 0);
    cov.set(f.c2, f.n);
    cov.set(
      f.c1.map((v, i) => 2 * v - f.c2[i]),
      2 * f.n,
    );
    const col = coxFit({ ...dat, covariates: cov });
    expect(col.status).toBe('collinear');
    expect(col.score?.status).toBe('collinear');
    // the predictor itself a copy of a covariate: the fit and the score test say collinear
    const copy = coxFit({ ...dat, x: Float64Array.from(f.c1, (v) => 3 * v + 1) });
    expect(copy.status).toBe('collinear');
    expect(copy.score?.status).toBe('collinear');
    expect(() => coxFit({ ...dat, x: Float64Array.from(f.x, (v, i) => (i === 7 ? Number.NaN : v)) })).toThrow(
      /not finite/,
    );
    expect(() => coxRiskSets({ start: Float64Array.of(1), stop: Float64Array.of(1), event: [1] })).toThrow(
      /not before stop/,
    );
  });

  it('monotone likelihood: status without Firth, finite Firth estimate with it, valid score test', () => {
    const g = fixture(300, 21, { carriersOnly: true });
    const d = data(g);
    const ml = coxFit(d);
    expect(ml.status).toBe('monotone_likelihood');
    expect(ml.score?.status).toBe('ok');
    expect(ml.score!.p).toBeLessThan(1e-6);
    const fb = coxFit(d, { firth: 'fallback' });
    expect(fb.status).toBe('ok');
    expect(fb.mlStatus).toBe('monotone_likelihood');
    expect(Number.isFinite(fb.beta[0]) && fb.beta[0] > 1).toBe(true);
    expect(coxZph(d, ml).status).toBe('monotone_likelihood');
    expect(ml.iterations).toBeLessThan(30);
    // iterations exhausted on a regular likelihood
    expect(coxFit(dat, { maxIter: 1, scoreTest: false }).status).toBe('not_converged');
  });

  it('the units of a column change β and SE by the factor and nothing else', () => {
    const fit = coxFit(dat);
    const firth = coxFit(dat, { firth: 'always' });
    const k = 1e-4;
    const scaled = { ...dat, x: Float64Array.from(f.x, (v) => v * k + 3) };
    const fitK = coxFit(scaled);
    const firthK = coxFit(scaled, { firth: 'always' });
    for (const [a, b] of [
      [fit, fitK],
      [firth, firthK],
    ]) {
      expect(b.status).toBe('ok');
      expect(relClose(b.beta[0] * k, a.beta[0], 1e-8)).toBe(true);
      expect(relClose(b.se[0] * k, a.se[0], 1e-8)).toBe(true);
      expect(relClose(b.beta[1], a.beta[1], 1e-8)).toBe(true);
      expect(relClose(b.logLik, a.logLik, 1e-12)).toBe(true);
    }
    expect(relClose(fitK.score!.p, fit.score!.p, 1e-10)).toBe(true);
    expect(relClose(coxZph(scaled, fitK).p[0], coxZph(dat, fit).p[0], 1e-8)).toBe(true);
  });

  it('persons never at risk at an event time are dropped; entries after the last event', () => {
    const n = f.n;
    const start = Float64Array.from(f.start);
    const stop = Float64Array.from(f.stop);
    const event = Uint8Array.from(f.event);
    const last = Math.max(...Array.from(stop).filter((_, i) => event[i] === 1));
    start[0] = last + 1;
    stop[0] = last + 2;
    event[0] = 0;
    const rs = coxRiskSets({ start, stop, event });
    expect(rs.persons.length).toBeLessThan(n);
    expect(Array.from(rs.persons)).not.toContain(0);
    const fit = coxFit({ ...dat, surv: rs });
    expect(fit.status).toBe('ok');
    expect(fit.n).toBe(n);
    expect(fit.nAtRisk).toBe(rs.persons.length);
    expect(fit.personYears).toBeCloseTo(
      Array.from(stop).reduce((s, b, i) => s + b - start[i], 0),
      9,
    );
  });
});

describe('risk-set sums under left truncation', () => {
  it('a small early risk set under a large late-entry mass is summed directly, not lost to round-off', () => {
    // slot 0 (t = 1): persons 0 and 1 at risk; persons 2… enter at t = 2 with weights 1e12
    const n = 1002;
    const start = new Float64Array(n);
    const stop = new Float64Array(n);
    const event = new Uint8Array(n);
    stop[0] = 1;
    event[0] = 1;
    stop[1] = 5;
    for (let i = 2; i < n; i++) {
      start[i] = 2;
      stop[i] = 3;
      event[i] = i % 2;
    }
    const rs = coxRiskSets({ start, stop, event });
    expect(rs.times.length).toBe(2);
    const w = Float64Array.from({ length: n }, (_, i) => (i < 2 ? 1 + i / 3 : 1e12 * (1 + i / n)));
    const x = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 0.7 : i === 1 ? -1.3 : i / n));
    const out = new Float64Array(4);
    riskSums(rs, w, x, 1, out, new Float64Array(4));
    expect(relClose(out[0], w[0] + w[1], 1e-15)).toBe(true);
    expect(relClose(out[1], w[0] * x[0] + w[1] * x[1], 1e-15)).toBe(true);
    let s0 = w[1];
    for (let i = 2; i < n; i++) s0 += w[i];
    expect(relClose(out[2], s0, 1e-12)).toBe(true);
  });
});

describe('Cox cost', () => {
  it('one fit at n = 50,000 with 1 % events and 12 covariates is close to one logistic fit', () => {
    const n = 50_000;
    const c = 12;
    const u = rng(2024);
    const x = Float64Array.from({ length: n }, () => (u.next() < 0.2 ? 1 : 0) + (u.next() < 0.2 ? 1 : 0));
    const cov = Float64Array.from({ length: n * c }, () => u.normal());
    const stop = new Float64Array(n);
    const event = new Uint8Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const t = -Math.log(Math.max(u.next(), 1e-12)) / (0.001 * Math.exp(0.3 * x[i] + 0.2 * cov[i]));
      const cens = 10;
      event[i] = t <= cens ? 1 : 0;
      stop[i] = Math.ceil(Math.min(t, cens) * 365) / 365;
      y[i] = event[i];
    }
    const events = event.reduce((s, e) => s + e, 0);
    expect(events / n).toBeGreaterThan(0.005);
    expect(events / n).toBeLessThan(0.02);
    const start = Float64Array.from({ length: n }, () => 0);
    const rs = coxRiskSets({ start, stop, event });
    const d: CoxData = { surv: rs, x, covariates: cov, c };
    const design = designMatrix(n, [
      x,
      ...Array.from({ length: c }, (_, j) => cov.subarray(j * n, (j + 1) * n)),
    ]);
    const time = (fn: () => void) => {
      const t: number[] = [];
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        fn();
        t.push(performance.now() - t0);
      }
      return t.sort((a, b) => a - b)[1];
    };
    let iters = 0;
    const cox = time(() => {
      const fit = coxFit(d, { scoreTest: false });
      expect(fit.status).toBe('ok');
      iters = fit.iterations;
    });
    const nm = coxNullModel(rs, cov, c);
    const score = time(() => coxScoreTest(nm, x));
    const logit = time(() => expect(logisticFit(y, design, c + 2).status).toBe('ok'));
    console.log(
      `cox fit ${cox.toFixed(1)} ms (${iters} iterations, ${events} events), score test ${score.toFixed(2)} ms, ` +
        `logistic fit ${logit.toFixed(1)} ms`,
    );
    expect(cox).toBeLessThan(4 * logit + 20);
  });
});
