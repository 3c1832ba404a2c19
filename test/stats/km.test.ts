/**
 * Kaplan–Meier with left truncation (stats/km.ts) against R `survival::survfit(Surv(start, stop,
 * event) ~ 1)`, run at test time on the same data: time points, n.risk, n.event, n.censor,
 * survival, std.err (Greenwood) and the 95 % CI, for conf.type "log-log" and "log", to 1e-10.
 * Fixtures: a seeded cohort with delayed entry (age scale), tied times (rounded to whole years)
 * and censoring; a curve that reaches 0 while later persons enter; a set with no events.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type KmConfType, type KmStep, kaplanMeier } from '../../stats/km.js';
import { rng } from '../helpers/rng.js';
import { runR } from './fixture.js';

interface Data {
  start: Float64Array;
  stop: Float64Array;
  event: Uint8Array;
}

/** n persons entering between age 30 and 60, events and censoring on whole years (ties). */
function truncatedCohort(n: number, seed: number): Data {
  const r = rng(seed);
  const start = new Float64Array(n);
  const stop = new Float64Array(n);
  const event = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    start[i] = 30 + Math.floor(r.next() * 30);
    const tEvent = 40 + Math.floor(-Math.log(Math.max(r.next(), 1e-12)) * 25);
    const tCens = start[i] + 1 + Math.floor(r.next() * 30);
    stop[i] = Math.max(start[i] + 1, Math.min(tEvent, tCens));
    event[i] = tEvent <= tCens && tEvent > start[i] ? 1 : 0;
  }
  return { start, stop, event };
}

interface RRow {
  time: number;
  nRisk: number;
  nEvent: number;
  nCensor: number;
  surv: number;
  se: number;
  lower: number | null;
  upper: number | null;
}

function survfit(data: Data, confType: KmConfType): RRow[] {
  const dir = mkdtempSync(join(tmpdir(), 'biobank-km-'));
  try {
    const lines = ['start,stop,event'];
    for (let i = 0; i < data.stop.length; i++)
      lines.push(`${data.start[i]},${data.stop[i]},${data.event[i]}`);
    writeFileSync(join(dir, 'd.csv'), `${lines.join('\n')}\n`);
    const out = runR(
      `suppressMessages(library(survival))
d <- read.csv(${JSON.stringify(join(dir, 'd.csv'))})
f <- survfit(Surv(start, stop, event) ~ 1, data = d, conf.type = ${JSON.stringify(confType)})
r <- data.frame(time = f$time, n.risk = f$n.risk, n.event = f$n.event, n.censor = f$n.censor,
  surv = f$surv, se = f$std.err, lower = f$lower, upper = f$upper)
write.csv(format(r, digits = 17), ${JSON.stringify(join(dir, 'out.csv'))}, row.names = FALSE)
cat("ok")`,
      dir,
    );
    expect(out).toContain('ok');
    const text = readFileSync(join(dir, 'out.csv'), 'utf8');
    const num = (s: string) => {
      const v = s.replaceAll('"', '').trim();
      return v === 'NA' ? null : v === 'Inf' ? Number.POSITIVE_INFINITY : Number(v);
    };
    return text
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const [time, nRisk, nEvent, nCensor, surv, se, lower, upper] = line.split(',').map(num);
        return {
          time: time as number,
          nRisk: nRisk as number,
          nEvent: nEvent as number,
          nCensor: nCensor as number,
          surv: surv as number,
          se: se as number,
          lower,
          upper,
        };
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function close(a: number | null, b: number | null, tol = 1e-10): boolean {
  if (a === null || b === null) return a === b;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return a === b;
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

function expectMatches(ours: KmStep[], ref: RRow[]): void {
  expect(ours.length).toBe(ref.length);
  const bad = ours.filter((s, j) => {
    const r = ref[j];
    return !(
      s.time === r.time &&
      s.nRisk === r.nRisk &&
      s.nEvent === r.nEvent &&
      s.nCensor === r.nCensor &&
      close(s.survival, r.surv) &&
      close(s.stdErr, r.se) &&
      close(s.lower, r.lower) &&
      close(s.upper, r.upper)
    );
  });
  expect(bad).toEqual([]);
}

describe('kaplanMeier vs R survfit(Surv(start, stop, event) ~ 1)', () => {
  const cohort = truncatedCohort(600, 16);

  it('fixture has left truncation, ties and censoring', () => {
    const steps = kaplanMeier(cohort.start, cohort.stop, cohort.event);
    expect(steps.some((s) => s.nEvent > 1)).toBe(true);
    expect(steps.some((s) => s.nEvent > 0 && s.nCensor > 0)).toBe(true);
    // The risk set grows at some times (delayed entry), which a right-censored KM never does.
    expect(steps.some((s, j) => j > 0 && s.nRisk > steps[j - 1].nRisk)).toBe(true);
  });

  for (const confType of ['log-log', 'log'] as const) {
    it(`matches survival, std.err, n.risk and the ${confType} CI to 1e-10`, () => {
      expectMatches(
        kaplanMeier(cohort.start, cohort.stop, cohort.event, { confType }),
        survfit(cohort, confType),
      );
    });
  }

  it('a curve that reaches 0 while later persons enter, and a set with no events, as R', () => {
    const zero: Data = {
      start: Float64Array.from([0, 0, 5, 5, 0, 6]),
      stop: Float64Array.from([1, 2, 6, 7, 1, 9]),
      event: Uint8Array.from([1, 1, 0, 1, 0, 1]),
    };
    const steps = kaplanMeier(zero.start, zero.stop, zero.event);
    expect(steps.at(-1)?.survival).toBe(0);
    expect(steps.at(-1)?.stdErr).toBe(Number.POSITIVE_INFINITY);
    expectMatches(steps, survfit(zero, 'log-log'));
    const none: Data = {
      start: Float64Array.from([0, 0, 1]),
      stop: Float64Array.from([1, 2, 3]),
      event: Uint8Array.from([0, 0, 0]),
    };
    expectMatches(kaplanMeier(none.start, none.stop, none.event), survfit(none, 'log-log'));
    expectMatches(kaplanMeier(none.start, none.stop, none.event, { confType: 'log' }), survfit(none, 'log'));
  });

  it('rejects stop ≤ start, bad events and length mismatches; empty input gives no steps', () => {
    expect(() => kaplanMeier([1], [1], [1])).toThrow(/stop time must be > start/);
    expect(() => kaplanMeier([0], [1], [2])).toThrow(/event must be 0 or 1/);
    expect(() => kaplanMeier([0, 0], [1], [1])).toThrow(/lengths differ/);
    expect(kaplanMeier([], [], [])).toEqual([]);
  });

  it('is fast: 200,000 persons in well under a second', () => {
    const big = truncatedCohort(200_000, 3);
    const t0 = performance.now();
    const steps = kaplanMeier(big.start, big.stop, big.event);
    const ms = performance.now() - t0;
    expect(steps.length).toBeGreaterThan(10);
    expect(ms).toBeLessThan(1500);
  });
});
