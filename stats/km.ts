/**
 * Kaplan–Meier estimator of the survival function for counting-process data (start, stop, event)
 * with left truncation (delayed entry), Greenwood's variance and a pointwise 95 % confidence
 * interval.
 *
 * Data: person i is at risk on the interval (startᵢ, stopᵢ] and has an event at stopᵢ when
 * eventᵢ = 1 (else is censored there). The risk set at time t is R(t) = {i : startᵢ < t ≤ stopᵢ},
 * so a person who enters at age 40 (left truncation) counts only from 40 onwards.
 *
 * Formulas (Kaplan & Meier 1958, J Am Stat Assoc 53:457; Greenwood 1926, Reports on Public
 * Health and Medical Subjects 33; left truncation: Klein & Moeschberger 2003, §4.6), at each
 * distinct stop time t_j (event or censoring, ties pooled):
 *   n_j = |R(t_j)| = #{stop ≥ t_j} − #{start ≥ t_j},  d_j = events at t_j,  c_j = censored at t_j
 *   Ŝ(t) = Π_{t_j ≤ t} (1 − d_j / n_j)
 *   se_j = √( Σ_{t_k ≤ t_j} d_k / (n_k (n_k − d_k)) )   (Greenwood; the SE of −log Ŝ, which is
 *          what R's survfit reports as `std.err`)
 *   95 % CI, z = Φ⁻¹(0.975):
 *     'log-log' (the default here): exp(−exp(log(−log Ŝ) ± z·se / log Ŝ)), which stays inside
 *               (0, 1) and suits cumulative incidence 1 − Ŝ near 0;
 *     'log'     (R survfit's default): Ŝ·exp(∓z·se), the upper bound capped at 1.
 * These match R `survival::survfit(Surv(start, stop, event) ~ 1, conf.type = …)` (test/stats/km.test.ts).
 * n_j and the counts come from two sorted arrays (stop times and entry times): O(n log n).
 *
 * Edge cases (as R's survfit):
 * - No events: Ŝ = 1 and se = 0 throughout; the CI is undefined (null; R: NA) wherever Ŝ = 1.
 * - Ŝ reaches 0 (d_j = n_j, e.g. the last person at risk has the event): se = +∞ from there on
 *   and the CI is null (R: Inf and NA). Under left truncation persons entering later do not lift
 *   Ŝ again: the product stays 0.
 * - Empty risk set: cannot occur at a stop time (a person is at risk at its own stop time); gaps
 *   between persons under truncation (no one at risk between one's exit and another's entry) are
 *   simply not time points, as in R.
 * - Empty input: no rows. Invalid input (lengths differ, non-finite times, stop ≤ start, event
 *   not 0/1) throws a RangeError (R: "Stop time must be > start time").
 */
import { Z_975 } from './distributions.js';

export type KmConfType = 'log-log' | 'log';

/** One distinct stop time of the Kaplan–Meier curve. */
export interface KmStep {
  time: number;
  /** Persons at risk just before `time`: start < time ≤ stop. */
  nRisk: number;
  nEvent: number;
  nCensor: number;
  survival: number;
  /** Greenwood SE of −log Ŝ (R's std.err); +∞ once Ŝ = 0. */
  stdErr: number;
  /** 95 % CI of Ŝ; null where undefined (Ŝ = 1 under 'log-log', Ŝ = 0). */
  lower: number | null;
  upper: number | null;
}

export interface KmOptions {
  /** Confidence interval type (default 'log-log'). */
  confType?: KmConfType;
}

/** Validate and return the event vector as 0/1 values. */
function checkInput(start: ArrayLike<number>, stop: ArrayLike<number>, event: ArrayLike<number>): void {
  const n = stop.length;
  if (start.length !== n || event.length !== n)
    throw new RangeError(
      `kaplanMeier: start, stop and event lengths differ (${start.length}, ${n}, ${event.length})`,
    );
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(start[i]) || !Number.isFinite(stop[i]))
      throw new RangeError(`kaplanMeier: non-finite start/stop at index ${i}`);
    if (!(stop[i] > start[i]))
      throw new RangeError(
        `kaplanMeier: stop time must be > start time (index ${i}: ${start[i]}, ${stop[i]})`,
      );
    if (event[i] !== 0 && event[i] !== 1)
      throw new RangeError(`kaplanMeier: event must be 0 or 1 (index ${i})`);
  }
}

/** The pointwise CI of Ŝ from its Greenwood SE of −log Ŝ. */
export function kmConfidenceInterval(
  survival: number,
  stdErr: number,
  confType: KmConfType,
  z = Z_975,
): { lower: number | null; upper: number | null } {
  if (survival <= 0 || !Number.isFinite(stdErr)) return { lower: null, upper: null };
  if (confType === 'log')
    return { lower: survival * Math.exp(-z * stdErr), upper: Math.min(1, survival * Math.exp(z * stdErr)) };
  if (survival >= 1) return { lower: null, upper: null };
  const logS = Math.log(survival);
  const centre = Math.log(-logS);
  const half = (z * stdErr) / logS;
  return { lower: Math.exp(-Math.exp(centre - half)), upper: Math.exp(-Math.exp(centre + half)) };
}

/** Kaplan–Meier steps, one per distinct stop time, in time order. */
export function kaplanMeier(
  start: ArrayLike<number>,
  stop: ArrayLike<number>,
  event: ArrayLike<number>,
  options: KmOptions = {},
): KmStep[] {
  checkInput(start, stop, event);
  const confType = options.confType ?? 'log-log';
  const n = stop.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => stop[a] - stop[b]);
  const entries = Float64Array.from(start).sort();
  const steps: KmStep[] = [];
  let survival = 1;
  let greenwood = 0;
  let entered = 0; // entries with start < t (entries[0..entered) )
  let i = 0;
  while (i < n) {
    const t = stop[order[i]];
    let nEvent = 0;
    let nCensor = 0;
    const first = i;
    while (i < n && stop[order[i]] === t) {
      if (event[order[i]] === 1) nEvent++;
      else nCensor++;
      i++;
    }
    while (entered < n && entries[entered] < t) entered++;
    // #{stop ≥ t} − #{start ≥ t}
    const nRisk = n - first - (n - entered);
    if (nEvent > 0) {
      survival *= 1 - nEvent / nRisk;
      greenwood += nEvent < nRisk ? nEvent / (nRisk * (nRisk - nEvent)) : Number.POSITIVE_INFINITY;
    }
    const stdErr = Math.sqrt(greenwood);
    steps.push({
      time: t,
      nRisk,
      nEvent,
      nCensor,
      survival,
      stdErr,
      ...kmConfidenceInterval(survival, stdErr, confType),
    });
  }
  return steps;
}
