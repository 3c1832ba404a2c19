/**
 * Result status and test codes shared by every association test. Results are stored
 * struct-of-arrays with a Uint8Array of codes; `STATUS[code]` / `TEST[code]` give the names that
 * go into result tables. A row whose status is not `ok` has NaN β/SE/statistic/p: the status,
 * never a bare NaN, tells the reader why.
 */

export const STATUS = [
  'ok',
  /** every called sample has the same genotype (or predictor value). */
  'monomorphic',
  /** no sample in the analysis has a call for this variant. */
  'all_missing',
  /** covariates are linearly dependent, or the predictor is (numerically) a combination of them
   * (variance inflation factor above the limit). */
  'collinear',
  /** fewer samples than parameters + 1: no residual degrees of freedom. */
  'too_few_samples',
  /** residual sum of squares is zero: the model fits the trait exactly. */
  'perfect_fit',
  /** logistic: (quasi-)complete separation and no Firth fallback allowed, or Firth also failed. */
  'separation',
  /** logistic: iterations exhausted without convergence. */
  'not_converged',
  /** logistic: fewer cases (or controls) than the configured minimum. */
  'too_few_cases',
] as const;
export type Status = (typeof STATUS)[number];
export const STATUS_CODE: Readonly<Record<Status, number>> = Object.fromEntries(
  STATUS.map((s, i) => [s, i]),
) as Record<Status, number>;

/**
 * Which test produced a row. `none` for rows that were not tested (status explains). The `spa*`
 * names (logistic, binary traits where the saddlepoint approximation applies) all have p = the SPA
 * p of the score test and `stat` = the signed z of that p; they say where β and SE come from:
 * `spa_wald` from the (offset-aware) ML logistic fit, `spa_firth` from the Firth fit, `spa` from
 * the score-based approximation β̂ = S/V, SE = |β̂|/z_p (no fit ran, or it separated or did not
 * converge), so β/SE = stat (stats/logistic.ts).
 * New names go at the end: part files store the code.
 */
export const TEST = ['none', 'linear', 'score', 'wald', 'firth', 'spa', 'spa_wald', 'spa_firth'] as const;
export type TestName = (typeof TEST)[number];
export const TEST_CODE: Readonly<Record<TestName, number>> = Object.fromEntries(
  TEST.map((s, i) => [s, i]),
) as Record<TestName, number>;

/**
 * Per-row association results, struct-of-arrays. Row r = variant·K + trait.
 * `stat` is the t statistic (linear), the signed √χ² score statistic (score), the Wald z, or the
 * signed normal quantile of the SPA p (spa, spa_wald, spa_firth).
 */
export interface AssocColumns {
  beta: Float64Array;
  se: Float64Array;
  stat: Float64Array;
  p: Float64Array;
  mlog10p: Float64Array;
  /** number of samples used (called, in the analysis). */
  nObs: Int32Array;
  status: Uint8Array;
  test: Uint8Array;
}

export function allocAssocColumns(rows: number): AssocColumns {
  return {
    beta: new Float64Array(rows),
    se: new Float64Array(rows),
    stat: new Float64Array(rows),
    p: new Float64Array(rows),
    mlog10p: new Float64Array(rows),
    nObs: new Int32Array(rows),
    status: new Uint8Array(rows),
    test: new Uint8Array(rows),
  };
}

/** Marks row r as untested with the given status (all numbers NaN). */
export function setStatusRow(out: AssocColumns, r: number, status: Status, nObs: number): void {
  out.beta[r] = Number.NaN;
  out.se[r] = Number.NaN;
  out.stat[r] = Number.NaN;
  out.p[r] = Number.NaN;
  out.mlog10p[r] = Number.NaN;
  out.nObs[r] = nObs;
  out.status[r] = STATUS_CODE[status];
  out.test[r] = TEST_CODE.none;
}
