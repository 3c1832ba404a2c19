/**
 * The small-cell rule for biobank outputs that leave the machine (exports, the HTML report, the
 * viewer).
 *
 * Policy: the All of Us Research Program *Data and Statistics Dissemination Policy* forbids
 * showing participant counts of **1 to 20**, and any count from which such a count can be
 * derived. Zero is shown. The engine therefore shows a count n with 1 ≤ n ≤ max as `≤max`
 * (`≤20` by default) and, where the counts of a group add up to a total known elsewhere (cases
 * + controls + excluded, carriers + non-carriers), coarsens the group's other counts above max
 * to a multiple of max below them, shown as `>=N`, so the small count cannot be recovered by
 * subtraction (complementary suppression).
 *
 * The threshold is the setting `privacy.smallCellMax` (environment `BIOBANK_SMALL_CELL_MAX`,
 * default {@link DEFAULT_SMALL_CELL_MAX}); `--no-suppress` on a command turns suppression off
 * explicitly. Functions take `suppress`: `false` (off), `true` (on, the default threshold) or a
 * number (on, that threshold).
 */

/** The All of Us policy's threshold: counts 1–20 are not shown. */
import { DEFAULT_SMALL_CELL_MAX } from '../schemas/config.js';
import { kmConfidenceInterval } from '../stats/km.js';

export { DEFAULT_SMALL_CELL_MAX };

/** Off, on with the default threshold, or on with a given threshold (largest hidden count). */
export type Suppression = boolean | number;

/** The largest count hidden under `suppress`, or 0 when suppression is off. */
export function smallCellMax(suppress: Suppression): number {
  if (suppress === false) return 0;
  return suppress === true ? DEFAULT_SMALL_CELL_MAX : suppress;
}

/** The label of a hidden count, e.g. `≤20`. */
export function suppressedLabel(suppress: Suppression = true): string {
  return `≤${smallCellMax(suppress) || DEFAULT_SMALL_CELL_MAX}`;
}

function isSmall(n: number | null | undefined, max: number): boolean {
  return n !== null && n !== undefined && n >= 1 && n <= max;
}

/** A person count shown on its own: the number, or `≤20` for 1–20 when suppressing. */
export function suppressCount(n: number | null | undefined, suppress: Suppression): number | string | null {
  if (n === null || n === undefined) return null;
  const max = smallCellMax(suppress);
  return isSmall(n, max) ? suppressedLabel(suppress) : n;
}

/**
 * Person counts that belong together (cases, controls, excluded; or cases, controls, total).
 * A count of 1–max is shown as `≤max`. When any count of the group is hidden, the group's other
 * counts above max are coarsened to their multiple of max below, shown as `>=N`, so the hidden
 * count cannot be derived from the total. Zero is always shown.
 */
export function suppressCountGroup<K extends string>(
  counts: Record<K, number | null | undefined>,
  suppress: Suppression,
): Record<K, number | string | null> {
  const max = smallCellMax(suppress);
  const values = Object.values(counts) as (number | null | undefined)[];
  const anySmall = max > 0 && values.some((n) => isSmall(n, max));
  const out = {} as Record<K, number | string | null>;
  for (const key of Object.keys(counts) as K[]) {
    const n = counts[key];
    out[key] =
      n === null || n === undefined
        ? null
        : !anySmall || n === 0
          ? n
          : isSmall(n, max)
            ? suppressedLabel(suppress)
            : `>=${Math.floor(n / max) * max}`;
  }
  return out;
}

/** SQL for each count column of a group as text, by the rule of `suppressCountGroup`. */
export function suppressedCountGroupSql(columns: string[], suppress: Suppression): string[] {
  const max = smallCellMax(suppress);
  if (max === 0) return columns.map((c) => `CAST(${c} AS VARCHAR)`);
  const small = (c: string) => `(${c} BETWEEN 1 AND ${max})`;
  const anySmall = columns.map(small).join(' OR ');
  return columns.map(
    (c) => `CASE WHEN ${small(c)} THEN '${suppressedLabel(suppress)}'
      WHEN (${anySmall}) AND ${c} > ${max} THEN '>=' || CAST(${c} // ${max} * ${max} AS VARCHAR)
      ELSE CAST(${c} AS VARCHAR) END`,
  );
}

/** One line for READMEs, metadata and page banners saying what was suppressed, and why. */
export function privacyNote(suppress: Suppression): string {
  const max = smallCellMax(suppress);
  return max > 0
    ? `Privacy: person counts from 1 to ${max} are suppressed and shown as ${suppressedLabel(suppress)} (All of Us Data and Statistics Dissemination Policy: no participant counts of 1 to 20, nor counts from which they can be derived); 0 and counts above ${max} are shown, except that next to a suppressed count, the counts it could be derived from are shown rounded down to a multiple of ${max} as >=N.`
    : 'Privacy: counts are NOT suppressed (--no-suppress was given); check the dissemination rules before sharing these files.';
}

/** The sentence pages with Kaplan–Meier curves add to their privacy note (`coarsenKmCurve`). */
export function kmPrivacyNote(suppress: Suppression): string {
  const max = smallCellMax(suppress);
  if (max === 0) return 'Kaplan–Meier curves are drawn step by step (not coarsened).';
  return `Kaplan–Meier curves are coarsened: a point is drawn only where at least ${max + 1} events have accumulated since the previous one, a curve stops where fewer than ${max + 1} persons remain at risk (and starts, under delayed entry, where ${max + 1} are first at risk), and a group with fewer than ${max + 1} persons or ${max + 1} events is not drawn.`;
}

/** A PheWAS skip reason that quotes a person count: `8 cases < minCases 20`, `3 controls < …`. */
const REASON_COUNT = /^(\d+) (cases|controls)\b/;

/**
 * A PheWAS row's `reason` with the count it quotes (`8 cases < minCases 20`) replaced by that
 * count as shown (`≤20 cases < minCases 20`), so the text gives away no more than the count
 * columns. `shown` holds the row's counts after `suppressCountGroup`.
 */
export function suppressReason(
  reason: string | null | undefined,
  shown: { n_cases: number | string | null; n_controls: number | string | null },
  suppress: Suppression,
): string | null {
  if (reason === null || reason === undefined) return null;
  if (smallCellMax(suppress) === 0) return reason;
  const m = REASON_COUNT.exec(reason);
  if (!m) return reason;
  const value = m[2] === 'cases' ? shown.n_cases : shown.n_controls;
  return `${value ?? ''}${reason.slice(m[1].length)}`;
}

/** SQL for `suppressReason`: `casesShown` / `controlsShown` are the columns' shown-value SQL. */
export function suppressedReasonSql(
  reason: string,
  casesShown: string,
  controlsShown: string,
  suppress: Suppression,
  /** The words after the two counts (a Cox row: `events`, `censored`). */
  words: readonly [string, string] = ['cases', 'controls'],
): string {
  if (smallCellMax(suppress) === 0) return reason;
  return `CASE WHEN regexp_matches(${reason}, '^[0-9]+ ${words[0]}\\b') THEN (${casesShown}) || regexp_replace(${reason}, '^[0-9]+', '')
    WHEN regexp_matches(${reason}, '^[0-9]+ ${words[1]}\\b') THEN (${controlsShown}) || regexp_replace(${reason}, '^[0-9]+', '')
    ELSE ${reason} END`;
}

// --- Kaplan–Meier curves ---

/** One exact step of a Kaplan–Meier curve (a `phewas_cox_km` row of one group). */
export interface KmCurveStep {
  time: number;
  n_at_risk: number;
  n_events: number;
  n_censored: number;
}

/** A point of a coarsened curve: survival and its log-log 95% CI (null where undefined). */
export interface KmShownPoint {
  time: number;
  survival: number;
  ci_low: number | null;
  ci_high: number | null;
}

export type CoarseKmCurve =
  | { shown: true; points: KmShownPoint[]; conditional: boolean }
  | { shown: false; reason: string };

/**
 * A Kaplan–Meier curve as it may leave the machine. Each drop of a KM step reveals the number of
 * events at that time (and the risk set), so a curve is shown only as a coarsened staircase, with
 * min = smallCellMax + 1 (21):
 * - a group with fewer than min persons (Σ events + censored) or fewer than min events is not
 *   drawn (`shown: false` and the reason);
 * - the curve starts at S = 1 at the first time at least min persons are at risk (with left
 *   truncation on the age scale the risk set grows from a handful; earlier steps are left out and
 *   the curve is the survival conditional on being event-free then, as R survfit's `start.time`;
 *   `conditional` says so), and stops for good at the first later time fewer than min remain;
 * - inside that window a point is emitted only where the events accumulated since the last shown
 *   point reach min, so no shown drop corresponds to 1–max events.
 * Survival and its CI at a shown point are recomputed from the window's steps (Kaplan–Meier
 * product and Greenwood sum from the window start; log-log CI, stats/km.ts), so they are exact
 * for the (conditional) curve at that time. With suppression off, every event step is shown.
 */
export function coarsenKmCurve(steps: KmCurveStep[], suppress: Suppression): CoarseKmCurve {
  const min = smallCellMax(suppress) + 1;
  const persons = steps.reduce((s, r) => s + r.n_events + r.n_censored, 0);
  const events = steps.reduce((s, r) => s + r.n_events, 0);
  if (persons < min) return { shown: false, reason: `not shown: fewer than ${min} persons in this group` };
  if (events < min) return { shown: false, reason: `not shown: fewer than ${min} events in this group` };
  const first = steps.findIndex((r) => r.n_at_risk >= min);
  if (first < 0) return { shown: false, reason: `not shown: never ${min} or more persons at risk at once` };
  const origin = first > 0 ? steps[first - 1].time : Math.min(0, steps[0].time);
  const points: KmShownPoint[] = [{ time: origin, survival: 1, ci_low: null, ci_high: null }];
  let survival = 1;
  let greenwood = 0;
  let pending = 0;
  for (let j = first; j < steps.length; j++) {
    const r = steps[j];
    if (r.n_at_risk < min) break;
    if (r.n_events === 0) continue;
    survival *= 1 - r.n_events / r.n_at_risk;
    greenwood +=
      r.n_events < r.n_at_risk ? r.n_events / (r.n_at_risk * (r.n_at_risk - r.n_events)) : Infinity;
    pending += r.n_events;
    if (pending < min) continue;
    const ci = kmConfidenceInterval(survival, Math.sqrt(greenwood), 'log-log');
    points.push({ time: r.time, survival, ci_low: ci.lower, ci_high: ci.upper });
    pending = 0;
  }
  if (points.length === 1)
    return {
      shown: false,
      reason: `not shown: fewer than ${min} events while ${min} or more persons were at risk`,
    };
  return { shown: true, points, conditional: steps.slice(0, first).some((r) => r.n_events > 0) };
}
