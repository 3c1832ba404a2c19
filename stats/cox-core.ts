/**
 * The risk-set engine behind the Cox fits of stats/cox.ts (which documents the model, the
 * formulas and the references): event slots built once per outcome, then per β one linear pass
 * over the persons and one over the events, with no loop over persons inside a loop over events.
 *
 * Risk sets. The distinct event times τ_0 < … < τ_{T−1} are the slots; person i (entry a_i, exit
 * b_i) is at risk at slot k iff a_i < τ_k ≤ b_i, i.e. for k in the contiguous range
 * lo_i ≤ k ≤ hi_i with lo_i = #{τ ≤ a_i} and hi_i = #{τ ≤ b_i} − 1 (two look-ups in a table of
 * the counts over a grid of the time range, corrected by a short scan; no sort of the persons). Persons with lo_i > hi_i are never at risk when an event happens and are
 * left out of every sum. The d events are the sub-steps r = 0…d−1, grouped by slot (stepStart);
 * sub-step r of slot k has the tie fraction f_r = j/m_k (Efron, j = 0…m_k−1) or 0 (Breslow).
 *
 * Sums over a risk set. Σ_{i at risk at k} v_i = A_k − B_k with A_k = Σ_{hi_i ≥ k} v_i and
 * B_k = Σ_{lo_i > k} v_i, both accumulated from the last slot backwards (without left
 * truncation B = 0, so only positive weights are ever added, as R's coxfit6). When B_k cancels
 * A_k to below 1e-9·A_k (a tiny late-entry risk set under a large early exit mass) the slot is
 * summed directly instead.
 *
 * Person-level accumulation ("Λ trick"). Every second- or higher-order sum over risk sets has
 * the form Σ_r a_{k(r)} E_r[g(x)] with E_r the weighted mean over the risk set of sub-step r
 * (weights w_i·c_ir, c_ir = 1 − f_r for a person dying at r's slot, else 1). It equals
 * Σ_i w_i g(x_i) Λ^a_i with Λ^a_i = Σ_{r ∋ i} a_{k(r)} c_ir / s0_r: a cumulative sum over slots
 * read at hi_i and lo_i − 1 (`personSums`). With a = 1, Λ_i is the Efron/Breslow cumulative
 * hazard of person i and δ_i − w_iΛ_i is R's martingale residual.
 */
import { cholesky, choleskySolve } from './linalg.js';

export type CoxTies = 'efron' | 'breslow';

/** Counting-process survival data: (start, stop] at risk, event at stop (1) or censored (0). */
export interface CoxSurvival {
  /** entry times (left truncation); omitted: every person is at risk from the time origin. */
  start?: Float64Array;
  /** exit times: the event or censoring time. */
  stop: Float64Array;
  /** 1 = event at stop, 0 = censored. */
  event: ArrayLike<number>;
}

/** Risk-set structure of one outcome (independent of the covariates and of the ties method). */
export interface CoxRiskSets {
  readonly kind: 'cox-risk-sets';
  /** persons in the input. */
  n: number;
  /** distinct event times, ascending (T slots). */
  times: Float64Array;
  /** sub-steps (events) of slot k: stepStart[k] … stepStart[k+1] − 1 (length T + 1). */
  stepStart: Int32Array;
  /** slot of each sub-step (length d). */
  stepSlot: Int32Array;
  /** contributing-person index of the person dying at each sub-step (length d). */
  deadIdx: Int32Array;
  /** contributing persons (at risk at ≥ 1 event time): their input indices. */
  persons: Int32Array;
  lo: Int32Array;
  hi: Int32Array;
  /** 1 if the contributing person has an event (necessarily at slot hi). */
  dies: Uint8Array;
  /** persons at risk at each slot. */
  nRisk: Int32Array;
  /** number of events d. */
  events: number;
  /** Σ (stop − start) over all persons (start = 0 when omitted). */
  personYears: number;
}

/** Number of entries of the ascending array `a` that are ≤ v. */
function countAtMost(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `countAtMost(a, ·)` for many values: a table of the counts at 4·T + 1 equally spaced points
 * over [a_0, a_{T−1}] gives a start that a short scan (either way, so rounding in the bucket
 * index cannot make it wrong) turns into the exact count; ~1 comparison per value instead of a
 * binary search's log₂ T unpredictable branches.
 */
function countAtMostTable(a: Float64Array): (v: number) => number {
  const T = a.length;
  if (T < 8) return (v) => countAtMost(a, v);
  const lo = a[0];
  const span = a[T - 1] - lo;
  const B = 4 * T;
  const h = span / B;
  if (!(h > 0) || !Number.isFinite(h)) return (v) => countAtMost(a, v);
  const at = new Int32Array(B + 1);
  for (let b = 0, c = 0; b <= B; b++) {
    const t = lo + b * h;
    while (c < T && a[c] <= t) c++;
    at[b] = c;
  }
  return (v) => {
    if (v < lo) return 0;
    if (v >= a[T - 1]) return T;
    let c = at[Math.min(B, Math.floor((v - lo) / h))];
    while (c < T && a[c] <= v) c++;
    while (c > 0 && a[c - 1] > v) c--;
    return c;
  };
}

function validateSurvival(surv: CoxSurvival): { d: number; personYears: number } {
  const { start, stop, event } = surv;
  const n = stop.length;
  if (event.length !== n) throw new RangeError(`coxRiskSets: ${event.length} event flags for ${n} persons`);
  if (start && start.length !== n)
    throw new RangeError(`coxRiskSets: ${start.length} starts for ${n} persons`);
  let d = 0;
  let personYears = 0;
  for (let i = 0; i < n; i++) {
    const b = stop[i];
    const e = event[i];
    if (!Number.isFinite(b)) throw new RangeError(`coxRiskSets: stop[${i}] = ${b} is not finite`);
    if (e !== 0 && e !== 1) throw new RangeError(`coxRiskSets: event[${i}] = ${e}, expected 0 or 1`);
    const a = start ? start[i] : 0;
    if (start && !(Number.isFinite(a) && a < b))
      throw new RangeError(`coxRiskSets: person ${i} has start ${a} not before stop ${b}`);
    personYears += b - a;
    d += e;
  }
  return { d, personYears };
}

/** Builds the risk-set structure (O(n log T + d log d)); reuse it for every predictor. */
export function coxRiskSets(surv: CoxSurvival): CoxRiskSets {
  const { start, stop, event } = surv;
  const n = stop.length;
  const { d, personYears } = validateSurvival(surv);
  const all = new Float64Array(d);
  for (let i = 0, t = 0; i < n; i++) if (event[i] === 1) all[t++] = stop[i];
  all.sort();
  let T = 0;
  for (let t = 0; t < d; t++) if (t === 0 || all[t] !== all[t - 1]) all[T++] = all[t];
  const times = all.slice(0, T);
  const loAll = new Int32Array(n);
  const hiAll = new Int32Array(n);
  const count = countAtMostTable(times);
  let nr = 0;
  for (let i = 0; i < n; i++) {
    hiAll[i] = count(stop[i]) - 1;
    loAll[i] = start ? count(start[i]) : 0;
    if (loAll[i] <= hiAll[i]) nr++;
  }
  const persons = new Int32Array(nr);
  const lo = new Int32Array(nr);
  const hi = new Int32Array(nr);
  const dies = new Uint8Array(nr);
  const stepStart = new Int32Array(T + 1);
  for (let i = 0, r = 0; i < n; i++) {
    if (loAll[i] > hiAll[i]) continue;
    persons[r] = i;
    lo[r] = loAll[i];
    hi[r] = hiAll[i];
    dies[r] = event[i];
    if (event[i] === 1) stepStart[hi[r] + 1]++;
    r++;
  }
  for (let k = 0; k < T; k++) stepStart[k + 1] += stepStart[k];
  const stepSlot = new Int32Array(d);
  const deadIdx = new Int32Array(d);
  const fill = stepStart.slice(0, T);
  for (let r = 0; r < nr; r++) {
    if (!dies[r]) continue;
    const s = fill[hi[r]]++;
    stepSlot[s] = hi[r];
    deadIdx[s] = r;
  }
  const nRisk = new Int32Array(T);
  const add = new Int32Array(T);
  const sub = new Int32Array(T);
  for (let r = 0; r < nr; r++) {
    add[hi[r]]++;
    if (lo[r] > 0) sub[lo[r] - 1]++;
  }
  for (let k = T - 1, a = 0, b = 0; k >= 0; k--) {
    a += add[k];
    b += sub[k];
    nRisk[k] = a - b;
  }
  return {
    kind: 'cox-risk-sets',
    n,
    times,
    stepStart,
    stepSlot,
    deadIdx,
    persons,
    lo,
    hi,
    dies,
    nRisk,
    events: d,
    personYears,
  };
}

/** A design over one risk-set structure, with the state of the last evaluation. */
export interface CoxModel {
  rs: CoxRiskSets;
  ties: CoxTies;
  p: number;
  /** nr × p row-major design over the contributing persons, each column centred. */
  x: Float64Array;
  /** column means subtracted (over contributing persons). */
  means: Float64Array;
  /** column standard deviations (over contributing persons; 1 for a constant column): the
   * design holds x_j / scale_j, so the internal β_j is scale_j times the user's. */
  scale: Float64Array;
  /** tie fraction f_r per sub-step. */
  frac: Float64Array;
  /** Σ over the events of x (constant). */
  deadX: Float64Array;
  // state at the last evaluated β
  eta: Float64Array;
  w: Float64Array;
  s0: Float64Array;
  xbar: Float64Array;
  lambda: Float64Array;
  loglik: number;
  score: Float64Array;
  info: Float64Array;
  // scratch
  slot: Float64Array;
  slotB: Float64Array;
  /** per slot: Σ 1/s0_r, Σ (1 − f_r)/s0_r over its sub-steps, and the cumulative Σ 1/s0_r. */
  hazFull: Float64Array;
  hazDead: Float64Array;
  hazCum: Float64Array;
}

/** A model over the design `x` (nr × p, centred and scaled as `coxModel` does), its state empty. */
function modelOf(
  rs: CoxRiskSets,
  ties: CoxTies,
  p: number,
  x: Float64Array,
  means: Float64Array,
  scale: Float64Array,
  frac: Float64Array,
): CoxModel {
  const nr = rs.persons.length;
  const d = rs.events;
  const T = rs.times.length;
  const deadX = new Float64Array(p);
  for (let r = 0; r < d; r++) {
    const base = rs.deadIdx[r] * p;
    for (let j = 0; j < p; j++) deadX[j] += x[base + j];
  }
  return {
    rs,
    ties,
    p,
    x,
    means,
    scale,
    frac,
    deadX,
    eta: new Float64Array(nr),
    w: new Float64Array(nr),
    s0: new Float64Array(d),
    xbar: new Float64Array(d * p),
    lambda: new Float64Array(nr),
    loglik: Number.NaN,
    score: new Float64Array(p),
    info: new Float64Array(p * p),
    slot: new Float64Array(T * (p + 1)),
    slotB: new Float64Array(T * (p + 1)),
    hazFull: new Float64Array(T),
    hazDead: new Float64Array(T),
    hazCum: new Float64Array(T),
  };
}

/**
 * The model of a subset of `m`'s design columns (`cols`, in that order) on the same risk sets,
 * e.g. the covariates-only null model of a full design: the columns are copied, not rebuilt, and
 * are identical to those `coxModel` would build from the same input columns (the centring and
 * scaling of a column do not depend on the others).
 */
export function coxSubModel(m: CoxModel, cols: readonly number[]): CoxModel {
  const q = cols.length;
  const nr = m.rs.persons.length;
  const x = new Float64Array(nr * q);
  const { p } = m;
  for (let r = 0; r < nr; r++) for (let j = 0; j < q; j++) x[r * q + j] = m.x[r * p + cols[j]];
  const pick = (v: Float64Array) => Float64Array.from(cols, (c) => v[c]);
  return modelOf(m.rs, m.ties, q, x, pick(m.means), pick(m.scale), m.frac);
}

/**
 * The design of `columns` (each length n, input order) over the contributing persons of `rs`.
 * Every column is centred at its mean over those persons and scaled to unit SD: ℓ does not
 * change (β_j is rescaled, as are U and I), while the round-off in the risk-set variances, the
 * rank tolerance of the Cholesky factorisation and the step rules become independent of the
 * units of the columns (R's coxph centres; it does not scale).
 */
export function coxModel(rs: CoxRiskSets, columns: readonly Float64Array[], ties: CoxTies): CoxModel {
  const p = columns.length;
  const nr = rs.persons.length;
  const d = rs.events;
  const T = rs.times.length;
  const x = new Float64Array(nr * p);
  const means = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const col = columns[j];
    if (col.length !== rs.n)
      throw new RangeError(`coxModel: column ${j} has ${col.length} values, expected ${rs.n}`);
    let s = 0;
    for (let r = 0; r < nr; r++) {
      const v = col[rs.persons[r]];
      if (!Number.isFinite(v))
        throw new RangeError(`coxModel: column ${j} is not finite at person ${rs.persons[r]}`);
      s += v;
    }
    means[j] = nr > 0 ? s / nr : 0;
  }
  for (let r = 0; r < nr; r++) {
    const i = rs.persons[r];
    for (let j = 0; j < p; j++) x[r * p + j] = columns[j][i] - means[j];
  }
  const scale = new Float64Array(p);
  for (let r = 0; r < nr; r++) for (let j = 0; j < p; j++) scale[j] += x[r * p + j] * x[r * p + j];
  for (let j = 0; j < p; j++) {
    const sd = Math.sqrt(scale[j] / Math.max(nr, 1));
    scale[j] = sd > 0 ? sd : 1;
  }
  for (let r = 0; r < nr; r++) for (let j = 0; j < p; j++) x[r * p + j] /= scale[j];
  const frac = new Float64Array(d);
  if (ties === 'efron') {
    for (let k = 0; k < T; k++) {
      const r0 = rs.stepStart[k];
      const m = rs.stepStart[k + 1] - r0;
      for (let j = 0; j < m; j++) frac[r0 + j] = j / m;
    }
  }
  return modelOf(rs, ties, p, x, means, scale, frac);
}

/** Relative size below which a truncated risk-set sum A − B is recomputed directly. */
const CANCEL_TOL = 1e-9;

/**
 * Risk-set sums per slot: out[k·(q+1)] = Σ w_i, out[k·(q+1) + 1 + j] = Σ w_i x_ij over the
 * persons at risk at slot k (x: nr × q row-major). `scratch` has the size of `out`.
 */
export function riskSums(
  rs: CoxRiskSets,
  w: Float64Array,
  x: Float64Array,
  q: number,
  out: Float64Array,
  scratch: Float64Array,
): void {
  const dim = q + 1;
  const T = rs.times.length;
  const nr = rs.persons.length;
  const { lo, hi } = rs;
  out.fill(0, 0, T * dim);
  scratch.fill(0, 0, T * dim);
  let truncated = false;
  for (let r = 0; r < nr; r++) {
    const wr = w[r];
    const a = hi[r] * dim;
    const base = r * q;
    out[a] += wr;
    for (let j = 0; j < q; j++) out[a + 1 + j] += wr * x[base + j];
    if (lo[r] > 0) {
      truncated = true;
      const b = (lo[r] - 1) * dim;
      scratch[b] += wr;
      for (let j = 0; j < q; j++) scratch[b + 1 + j] += wr * x[base + j];
    }
  }
  cumulateRiskSums(rs, w, x, q, out, scratch, truncated);
}

/**
 * The second half of `riskSums`: `out` and `scratch` hold the per-slot sums of the persons whose
 * hi (out) and lo − 1 (scratch) is the slot; turns them into the risk-set sums A − B.
 */
function cumulateRiskSums(
  rs: CoxRiskSets,
  w: Float64Array,
  x: Float64Array,
  q: number,
  out: Float64Array,
  scratch: Float64Array,
  truncated: boolean,
): void {
  const dim = q + 1;
  const T = rs.times.length;
  // backwards cumulative sums: out ← A, scratch ← B, then out ← A − B
  for (let k = T - 2; k >= 0; k--) {
    const o = k * dim;
    for (let j = 0; j < dim; j++) {
      out[o + j] += out[o + dim + j];
      scratch[o + j] += scratch[o + dim + j];
    }
  }
  if (!truncated) return;
  let redo: number[] | null = null;
  for (let k = 0; k < T; k++) {
    const o = k * dim;
    const a0 = out[o];
    for (let j = 0; j < dim; j++) out[o + j] -= scratch[o + j];
    if (scratch[o] > 0 && out[o] < CANCEL_TOL * a0) (redo ??= []).push(k);
  }
  if (redo) directSums(rs, w, x, q, out, redo);
}

/**
 * Recomputes the risk-set sums of the listed slots (ascending) by a direct pass over the
 * persons: each person adds to the listed slots within its [lo, hi] (found by binary search).
 */
function directSums(
  rs: CoxRiskSets,
  w: Float64Array,
  x: Float64Array,
  q: number,
  out: Float64Array,
  slots: number[],
): void {
  const dim = q + 1;
  for (const k of slots) out.fill(0, k * dim, (k + 1) * dim);
  for (let r = 0; r < rs.persons.length; r++) {
    let a = 0;
    let b = slots.length;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (slots[mid] < rs.lo[r]) a = mid + 1;
      else b = mid;
    }
    for (let s = a; s < slots.length && slots[s] <= rs.hi[r]; s++) {
      const o = slots[s] * dim;
      out[o] += w[r];
      for (let j = 0; j < q; j++) out[o + 1 + j] += w[r] * x[r * q + j];
    }
  }
}

/**
 * Per-person sums over the sub-steps at which the person is at risk:
 *   out[i·dim + j] = Σ_{r ∋ i} coef_{k(r)} · c_ir · vals[r·dim + j] / s0_r,
 * c_ir = 1 − f_r if i dies at r's slot, else 1; vals null means 1 (dim 1); coef null means 1.
 */
export function personSums(
  m: CoxModel,
  vals: Float64Array | null,
  coef: Float64Array | null,
  dim: number,
  out: Float64Array,
): void {
  const { rs, s0, frac } = m;
  const T = rs.times.length;
  const full = new Float64Array(T * dim);
  const dead = new Float64Array(T * dim);
  for (let k = 0; k < T; k++) {
    const a = coef ? coef[k] : 1;
    for (let r = rs.stepStart[k]; r < rs.stepStart[k + 1]; r++) {
      const inv = a / s0[r];
      const keep = 1 - frac[r];
      for (let j = 0; j < dim; j++) {
        const v = vals ? vals[r * dim + j] * inv : inv;
        full[k * dim + j] += v;
        dead[k * dim + j] += keep * v;
      }
    }
  }
  // cumulative sums of `full` over the slots
  const cum = new Float64Array(T * dim);
  for (let k = 0; k < T; k++)
    for (let j = 0; j < dim; j++) cum[k * dim + j] = full[k * dim + j] + (k > 0 ? cum[(k - 1) * dim + j] : 0);
  const { lo, hi, dies } = rs;
  for (let r = 0; r < rs.persons.length; r++) {
    const h = hi[r] * dim;
    const l = (lo[r] - 1) * dim;
    for (let j = 0; j < dim; j++) {
      let v = cum[h + j] - (lo[r] > 0 ? cum[l + j] : 0);
      if (dies[r]) v -= full[h + j] - dead[h + j];
      out[r * dim + j] = v;
    }
  }
}

/**
 * Σ_k coef_k Σ_{r ∈ k} Cov_r(x) (the information for coef = 1) as
 *   Σ_i w_i lam_i x_i x_iᵀ − Σ_r coef_{k(r)} x̄_r x̄_rᵀ,
 * with lam = personSums(coef) (full p×p symmetric into out).
 */
export function momentSum(
  m: CoxModel,
  lam: Float64Array,
  coef: Float64Array | null,
  out: Float64Array,
): void {
  const { p, x, w, xbar, rs } = m;
  out.fill(0);
  const nr = rs.persons.length;
  for (let r = 0; r < nr; r++) {
    const c = w[r] * lam[r];
    if (c === 0) continue;
    const base = r * p;
    for (let a = 0; a < p; a++) {
      const ca = c * x[base + a];
      const row = a * p;
      for (let b = 0; b <= a; b++) out[row + b] += ca * x[base + b];
    }
  }
  for (let r = 0; r < rs.events; r++) {
    const k = coef ? coef[rs.stepSlot[r]] : 1;
    const base = r * p;
    for (let a = 0; a < p; a++) {
      const xa = k * xbar[base + a];
      const row = a * p;
      for (let b = 0; b <= a; b++) out[row + b] -= xa * xbar[base + b];
    }
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) out[b * p + a] = out[a * p + b];
}

/**
 * Evaluates the log partial likelihood at β, and with `withInfo` its score U and information I,
 * leaving η, w, s0_r, x̄_r and Λ in the model. Returns −Infinity when a risk-set sum underflows
 * (β far out on a monotone likelihood).
 */
export function evaluate(m: CoxModel, beta: Float64Array, withInfo = true): number {
  const { rs, p, x, eta, w, s0, xbar, frac, score } = m;
  const nr = rs.persons.length;
  let maxEta = Number.NEGATIVE_INFINITY;
  for (let r = 0; r < nr; r++) {
    let e = 0;
    const base = r * p;
    for (let j = 0; j < p; j++) e += x[base + j] * beta[j];
    eta[r] = e;
    if (e > maxEta) maxEta = e;
  }
  if (!Number.isFinite(maxEta)) maxEta = 0;
  const S = m.slot;
  const dim = p + 1;
  const T = rs.times.length;
  // the weights and riskSums' scatter in one pass (the same sums in the same order)
  {
    const B = m.slotB;
    const { lo, hi } = rs;
    S.fill(0, 0, T * dim);
    B.fill(0, 0, T * dim);
    let truncated = false;
    for (let r = 0; r < nr; r++) {
      const wr = Math.exp(eta[r] - maxEta);
      w[r] = wr;
      const a = hi[r] * dim;
      const base = r * p;
      S[a] += wr;
      for (let j = 0; j < p; j++) S[a + 1 + j] += wr * x[base + j];
      if (lo[r] > 0) {
        truncated = true;
        const b = (lo[r] - 1) * dim;
        B[b] += wr;
        for (let j = 0; j < p; j++) B[b + 1 + j] += wr * x[base + j];
      }
    }
    cumulateRiskSums(rs, w, x, p, S, B, truncated);
  }
  const D1 = m.slotB.subarray(0, p); // scratch (riskSums is done with it)
  let ll = 0;
  score.set(m.deadX);
  for (let k = 0; k < T; k++) {
    const r0 = rs.stepStart[k];
    const r1 = rs.stepStart[k + 1];
    let D0 = 0;
    D1.fill(0);
    if (r1 - r0 > 1 && m.ties === 'efron') {
      for (let r = r0; r < r1; r++) {
        const i = rs.deadIdx[r];
        D0 += w[i];
        for (let j = 0; j < p; j++) D1[j] += w[i] * x[i * p + j];
      }
    }
    const o = k * dim;
    for (let r = r0; r < r1; r++) {
      ll += eta[rs.deadIdx[r]] - maxEta;
      const f = frac[r];
      const s = S[o] - f * D0;
      if (!(s > 0) || !Number.isFinite(s)) return (m.loglik = Number.NEGATIVE_INFINITY);
      s0[r] = s;
      ll -= Math.log(s);
      const inv = 1 / s;
      for (let j = 0; j < p; j++) {
        const xb = (S[o + 1 + j] - f * D1[j]) * inv;
        xbar[r * p + j] = xb;
        score[j] -= xb;
      }
    }
  }
  m.loglik = ll;
  if (withInfo) information(m);
  return ll;
}

/**
 * Λ (`personSums` with coef 1) and the information (`momentSum` with coef 1) at the model's
 * state, in one pass over the persons (the same sums in the same order as those two).
 */
function information(m: CoxModel): void {
  const { rs, p, x, w, xbar, s0, frac, lambda, hazFull: full, hazDead: dead, hazCum: cum } = m;
  const out = m.info;
  const T = rs.times.length;
  for (let k = 0; k < T; k++) {
    let f = 0;
    let g = 0;
    for (let r = rs.stepStart[k]; r < rs.stepStart[k + 1]; r++) {
      const inv = 1 / s0[r];
      f += inv;
      g += (1 - frac[r]) * inv;
    }
    full[k] = f;
    dead[k] = g;
    cum[k] = f + (k > 0 ? cum[k - 1] : 0);
  }
  out.fill(0);
  const { lo, hi, dies } = rs;
  const nr = rs.persons.length;
  for (let r = 0; r < nr; r++) {
    const h = hi[r];
    let lam = cum[h] - (lo[r] > 0 ? cum[lo[r] - 1] : 0);
    if (dies[r]) lam -= full[h] - dead[h];
    lambda[r] = lam;
    const c = w[r] * lam;
    if (c === 0) continue;
    const base = r * p;
    for (let a = 0; a < p; a++) {
      const ca = c * x[base + a];
      const row = a * p;
      for (let b = 0; b <= a; b++) out[row + b] += ca * x[base + b];
    }
  }
  for (let r = 0; r < rs.events; r++) {
    const base = r * p;
    for (let a = 0; a < p; a++) {
      const xa = xbar[base + a];
      const row = a * p;
      for (let b = 0; b <= a; b++) out[row + b] -= xa * xbar[base + b];
    }
  }
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) out[b * p + a] = out[a * p + b];
}

/** Cholesky factor of the current information (a copy), or null if it is not positive definite. */
export function infoCholesky(m: CoxModel): Float64Array | null {
  if (m.p === 0) return new Float64Array(0);
  const l = Float64Array.from(m.info);
  return cholesky(l, m.p) ? l : null;
}

/** δ = I⁻¹U at the current state, or null if I is singular. */
export function newtonStep(m: CoxModel): Float64Array | null {
  const l = infoCholesky(m);
  if (!l) return null;
  const delta = Float64Array.from(m.score);
  choleskySolve(l, m.p, delta);
  return delta;
}
