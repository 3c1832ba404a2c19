/**
 * The coarsened Kaplan–Meier staircase (engine/privacy.ts `coarsenKmCurve`): planted curves whose
 * exact steps have 1–5 events each. Checked: no shown drop corresponds to 1–20 events (the exact
 * events between consecutive shown points are ≥ 21), every shown point has ≥ 21 persons at risk,
 * the curve stops for good where fewer than 21 remain, the shown survival equals the exact KM
 * (stats/km.ts) at that time (or the conditional KM under delayed entry), and small groups are
 * not drawn. Suppression off shows every event step.
 */
import { describe, expect, it } from 'vitest';
import { coarsenKmCurve, type KmCurveStep } from '../../engine/privacy.js';
import { kaplanMeier } from '../../stats/km.js';
import { rng } from '../helpers/rng.js';

/** n persons, follow-up 0–10 years, event times on a 0.05 grid (ties), ~45 % events. */
function cohort(n: number, seed: number, delayed = false) {
  const r = rng(seed);
  const start = new Float64Array(n);
  const stop = new Float64Array(n);
  const event = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    start[i] = delayed ? Math.floor(r.next() * 300) / 10 : 0;
    stop[i] = start[i] + 0.05 + Math.round(r.next() * 200) / 20;
    event[i] = r.next() < 0.45 ? 1 : 0;
  }
  return { start, stop, event };
}

type Step = KmCurveStep & { survival: number };

function steps(c: ReturnType<typeof cohort>): Step[] {
  return kaplanMeier(c.start, c.stop, c.event).map((s) => ({
    time: s.time,
    n_at_risk: s.nRisk,
    n_events: s.nEvent,
    n_censored: s.nCensor,
    survival: s.survival,
  }));
}

describe('coarsenKmCurve', () => {
  const exact = steps(cohort(400, 5));

  it('the planted curve has small steps (1–5 events) to hide', () => {
    const withEvents = exact.filter((s) => s.n_events > 0);
    expect(withEvents.length).toBeGreaterThan(50);
    expect(Math.max(...withEvents.map((s) => s.n_events))).toBeLessThan(21);
  });

  it('shows no drop of 1–20 events and no point with fewer than 21 at risk', () => {
    const c = coarsenKmCurve(exact, true);
    if (!c.shown) throw new Error(c.reason);
    expect(c.points[0]).toMatchObject({ survival: 1 });
    expect(c.points.length).toBeGreaterThan(3);
    for (let k = 1; k < c.points.length; k++) {
      const between = exact.filter((s) => s.time > c.points[k - 1].time && s.time <= c.points[k].time);
      const events = between.reduce((a, s) => a + s.n_events, 0);
      expect(events).toBeGreaterThanOrEqual(21);
      expect(between.every((s) => s.n_at_risk >= 21)).toBe(true);
      // The shown survival is the exact KM at that time (no conditioning without delayed entry).
      const at = exact.find((s) => s.time === c.points[k].time) as Step;
      expect(c.points[k].survival).toBeCloseTo(at.survival, 12);
      expect(c.points[k].survival).toBeLessThan(c.points[k - 1].survival);
    }
    // Stops where fewer than 21 remain: nothing shown at or after that time.
    const end = exact.find((s) => s.n_at_risk < 21) as KmCurveStep;
    expect(c.points.at(-1)?.time).toBeLessThan(end.time);
    // CI (log-log) brackets each shown point after the start.
    for (const p of c.points.slice(1)) {
      expect(p.ci_low).toBeLessThan(p.survival);
      expect(p.ci_high).toBeGreaterThan(p.survival);
    }
  });

  it('under delayed entry starts where 21 are at risk, conditional on being event-free then', () => {
    const ex = steps(cohort(800, 9, true));
    const firstBig = ex.findIndex((s) => s.n_at_risk >= 21);
    expect(firstBig).toBeGreaterThan(0);
    const c = coarsenKmCurve(ex, true);
    if (!c.shown) throw new Error(c.reason);
    const sBefore = ex[firstBig - 1].survival;
    expect(c.conditional).toBe(sBefore < 1);
    for (const p of c.points.slice(1)) {
      const at = ex.find((s) => s.time === p.time) as Step;
      expect(p.survival).toBeCloseTo(at.survival / sBefore, 12);
    }
  });

  it('does not draw groups with fewer than 21 persons or 21 events, and shows all steps when off', () => {
    const small = steps(cohort(20, 1));
    expect(coarsenKmCurve(small, true)).toEqual({
      shown: false,
      reason: 'not shown: fewer than 21 persons in this group',
    });
    const few = steps({
      ...cohort(300, 2),
      event: Uint8Array.from({ length: 300 }, (_, i) => (i < 20 ? 1 : 0)),
    });
    expect(coarsenKmCurve(few, true)).toMatchObject({
      shown: false,
      reason: expect.stringMatching(/fewer than 21 events/),
    });
    const off = coarsenKmCurve(exact, false);
    if (!off.shown) throw new Error(off.reason);
    expect(off.points.length).toBe(1 + exact.filter((s) => s.n_events > 0).length);
  });
});
