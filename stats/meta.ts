/**
 * Meta-analysis of per-variant summary statistics (β, SE, N) from k inputs (sites, strata,
 * ancestries), vectorised over m variants, and the allele alignment that must precede it.
 *
 * Layout: every per-entry array is k × m, input-major: entry (input i, variant j) lies at i·m + j
 * (the column-major m × k matrix of stats/linalg.ts), so one input's column is contiguous.
 * An entry whose β and SE are both NaN is absent (the input does not have the variant).
 *
 * Methods, for the inputs i = 1…k that contribute to a variant:
 *  - Fixed-effect inverse-variance (Willer, Li & Abecasis 2010, METAL SCHEME STDERR):
 *      wᵢ = 1/SEᵢ², β = Σwᵢβᵢ / Σwᵢ, SE = 1/√Σwᵢ, z = β/SE, p = 2Φ̄(|z|).
 *  - Sample-size-weighted z (METAL SCHEME SAMPLESIZE): zᵢ = βᵢ/SEᵢ, wᵢ = √Nᵢ,
 *      Z = Σ wᵢzᵢ / √Σwᵢ² = Σ √Nᵢ zᵢ / √ΣNᵢ, p = 2Φ̄(|Z|).
 *  - Cochran's Q = Σ wᵢ(βᵢ − β)² (computed in two passes, not as Σwβ² − (Σwβ)²/Σw, which
 *    cancels), p = P(χ²_{k−1} ≥ Q); I² = max(0, (Q − (k−1))/Q), reported as a percentage (0–100)
 *    as METAL and metafor print it (Higgins & Thompson 2002).
 *  - Random effects, DerSimonian & Laird (1986): τ² = max(0, (Q − (k−1)) / (Σw − Σw²/Σw)),
 *    w*ᵢ = 1/(SEᵢ² + τ²), β_RE = Σw*ᵢβᵢ / Σw*ᵢ, SE_RE = 1/√Σw*ᵢ, z and p as above.
 *  - Leave-one-out (`metaLeaveOneOut`): the fixed-effect β, SE, z, p, Q, Q p and I² without each
 *    input in turn (as metafor's `leave1out(rma(…, method = "FE"))`).
 *  - Direction: one character per input in input order, as METAL prints it: `+` β > 0, `-` β < 0,
 *    `0` β = 0, `?` absent, dropped by alignment, or unusable.
 * p-values come with −log10 p that stays finite below 1e-308 (stats/distributions.ts).
 *
 * Allele alignment (`alignAlleles`), per variant, against a reference: the caller's (e.g. the
 * genome's REF/ALT) where given, else the first input that has the variant and is not dropped.
 * Alleles are integer codes (`alleleCoder`): A 0, C 1, G 2, T 3 (so the complement is 3 − code),
 * any other allele string ≥ 4, −1 absent. For each other input:
 *  - same effect/other alleles → kept; swapped → β negated and EAF → 1 − EAF;
 *  - single-base alleles equal to the reference's complements (strand flip) → kept, or negated if
 *    also swapped; multi-base alleles are never strand-flipped (their anchor base differs by strand);
 *  - strand-ambiguous SNPs (A/T, C/G): letters cannot tell a swap from a strand flip. Where the
 *    entry's EAF is missing or within (0.4, 0.6) it is dropped (`strand_ambiguous`), the reference
 *    input included (the next input then becomes the reference). Otherwise, by default
 *    (`inferStrand` false), letters decide: both inputs are taken to be on the forward strand, as
 *    summary statistics of one reference build are (allele frequencies differ between ancestries,
 *    so they cannot tell a strand flip). With `inferStrand`, the EAFs decide: the entry's effect
 *    allele is the reference's effect allele when both EAFs lie on the same side of 0.5 (after
 *    matching letters: same letters → kept or, on opposite sides, strand flip + swap; swapped
 *    letters → swap or, on the same side, strand flip only); against a given reference without a
 *    usable EAF, letters decide;
 *  - anything else (other alleles, effect = other, one allele absent) → dropped
 *    (`allele_mismatch`).
 * Dropped entries become absent for the meta-analysis; `Alignment` records every action and the
 * per-input counts of drops.
 *
 * Edge cases (each has a status, never a bare NaN):
 *  - no contributing input: every statistic NaN, status `no_inputs`;
 *  - one input (k = 1): β, SE, z, p are that input's; Q = 0 with 0 df, its p and I² are NaN (no
 *    heterogeneity can be measured: metafor prints Q p = 1 and I² = 0 here, we do not, so a
 *    one-input variant is never read as homogeneous); τ² = 0 so random effects equal fixed;
 *    status `single_input`;
 *  - Q ≤ k − 1 (including Q = 0 with identical βs): τ² = 0, random effects equal fixed, I² = 0;
 *  - an entry with a non-finite β, or an SE that is 0, negative or non-finite, is left out of that
 *    variant (its weight would be infinite or undefined) and counted in `nInvalid`; direction `?`;
 *  - sample-size z needs N for every contributing input: an N that is missing, non-finite or ≤ 0
 *    leaves Z and its p NaN with `nStatus` `n_missing`;
 *  - leave-one-out: `absent` where the left-out input did not contribute, `none_left` where it was
 *    the only one, `single_left` where one input remains (Q p and I² NaN as above).
 *
 * References: Willer CJ, Li Y, Abecasis GR (2010) METAL: fast and efficient meta-analysis of
 * genomewide association scans. Bioinformatics 26:2190–2191. DerSimonian R, Laird N (1986)
 * Meta-analysis in clinical trials. Control Clin Trials 7:177–188. Higgins JPT, Thompson SG
 * (2002) Quantifying heterogeneity in a meta-analysis. Stat Med 21:1539–1558. Cochran WG (1954)
 * The combination of estimates from different experiments. Biometrics 10:101–129.
 */
import { mlog10PChiSq, mlog10PTwoSidedNormal, pChiSq, pTwoSidedNormal } from './distributions.js';

// ---------------------------------------------------------------------------------------------
// Allele codes

/** Code of an absent allele. */
export const ALLELE_ABSENT = -1;
const BASE_CODE: Readonly<Record<string, number>> = { A: 0, C: 1, G: 2, T: 3 };

/** Whether a code is a single base (A, C, G, T). */
export function isBaseCode(code: number): boolean {
  return code >= 0 && code <= 3;
}

/** Complement of a single-base code (A↔T, C↔G); −1 for anything else. */
export function complementCode(code: number): number {
  return isBaseCode(code) ? 3 - code : ALLELE_ABSENT;
}

/** A dictionary of allele strings: A, C, G, T are 0–3, other strings get 4, 5, … in order of first use. */
export interface AlleleCoder {
  /** Code of an allele (upper-cased); −1 for null or ''. */
  code(allele: string | null | undefined): number;
  /** `alleles[code]` is the allele string. */
  readonly alleles: string[];
}

export function alleleCoder(): AlleleCoder {
  const alleles = ['A', 'C', 'G', 'T'];
  const codes = new Map<string, number>(alleles.map((a, i) => [a, i]));
  return {
    alleles,
    code(allele) {
      if (allele === null || allele === undefined || allele === '') return ALLELE_ABSENT;
      const a = allele.toUpperCase();
      const base = BASE_CODE[a];
      if (base !== undefined) return base;
      let c = codes.get(a);
      if (c === undefined) {
        c = alleles.length;
        alleles.push(a);
        codes.set(a, c);
      }
      return c;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Alignment

/**
 * What alignment did with one entry. `swapped` and `strand_swapped` negate β (EAF → 1 − EAF);
 * `strand_ambiguous` and `allele_mismatch` drop the entry. New names go at the end (stored codes).
 */
export const ALIGN = [
  'absent',
  'reference',
  'same',
  'swapped',
  'strand',
  'strand_swapped',
  'strand_ambiguous',
  'allele_mismatch',
] as const;
export type AlignAction = (typeof ALIGN)[number];
const A_REFERENCE = 1;
const A_SAME = 2;
const A_SWAPPED = 3;
const A_STRAND = 4;
const A_STRAND_SWAPPED = 5;
const A_AMBIGUOUS = 6;
const A_MISMATCH = 7;

/** Effect/other allele codes (and optionally EAF, NaN = unknown) of k inputs × m variants, input-major. */
export interface AlleleMatrix {
  k: number;
  m: number;
  effect: Int32Array;
  other: Int32Array;
  eaf?: Float64Array;
}

/** A reference orientation per variant (length m); effect −1 where there is none. */
export interface AlleleReference {
  effect: Int32Array;
  other: Int32Array;
  eaf?: Float64Array;
}

export interface AlignOptions {
  reference?: AlleleReference;
  /** EAF interval (exclusive) within which an A/T or C/G SNP's strand cannot be inferred. Default [0.4, 0.6]. */
  ambiguousEaf?: readonly [number, number];
  /**
   * Infer an A/T or C/G SNP's strand from which side of 0.5 its EAF lies on (default false). Off,
   * the inputs are taken to be on the same (forward) strand, as GWAS-SSF, PLINK2 and REGENIE
   * outputs of one reference build are: such a SNP is aligned by its allele letters, and dropped
   * only when its EAF is within `ambiguousEaf` (or unknown). On, a SNP whose frequency lies on
   * the other side of 0.5 is taken as strand-flipped — wrong across ancestries whose allele
   * frequencies really differ (an allele at 0.24 in one and 0.61 in another), so use it only for
   * inputs of one population whose strand is in doubt.
   */
  inferStrand?: boolean;
}

export interface Alignment {
  k: number;
  m: number;
  /** `ALIGN` code per entry (k × m, input-major). */
  action: Uint8Array;
  /** Reference effect / other allele codes per variant (−1 where no input is left). */
  refEffect: Int32Array;
  refOther: Int32Array;
  /** The reference's EAF per variant (NaN where unknown). */
  refEaf: Float64Array;
  /** Input that served as reference, or −1 (the caller's reference, or none). */
  refInput: Int32Array;
  /** Entries dropped per input, by reason. */
  dropped: { strand_ambiguous: Int32Array; allele_mismatch: Int32Array };
}

function isPalindromic(e: number, o: number): boolean {
  return isBaseCode(e) && o === 3 - e;
}

/**
 * The action that aligns (e, o, eaf) to the reference (re, ro, rEaf). `ambiguous(x)` tells
 * whether an EAF cannot resolve a palindromic SNP's strand.
 */
function alignEntry(
  e: number,
  o: number,
  eaf: number,
  re: number,
  ro: number,
  rEaf: number,
  ambiguous: (x: number) => boolean,
  inferStrand: boolean,
): number {
  if (e < 0 || o < 0 || e === o) return A_MISMATCH;
  if (isPalindromic(e, o)) {
    if (!isPalindromic(re, ro) || (e !== re && e !== ro)) return A_MISMATCH;
    if (ambiguous(eaf)) return A_AMBIGUOUS;
    const sameLetters = e === re;
    if (!inferStrand) return sameLetters ? A_SAME : A_SWAPPED;
    if (ambiguous(rEaf)) return sameLetters ? A_SAME : A_SWAPPED;
    const sameSide = (eaf - 0.5) * (rEaf - 0.5) > 0;
    if (sameLetters) return sameSide ? A_SAME : A_STRAND_SWAPPED;
    return sameSide ? A_STRAND : A_SWAPPED;
  }
  if (e === re && o === ro) return A_SAME;
  if (e === ro && o === re) return A_SWAPPED;
  if (isBaseCode(e) && isBaseCode(o)) {
    const ce = 3 - e;
    const co = 3 - o;
    if (ce === re && co === ro) return A_STRAND;
    if (ce === ro && co === re) return A_STRAND_SWAPPED;
  }
  return A_MISMATCH;
}

/** Align every input's alleles to a reference per variant (see the module comment for the rules). */
export function alignAlleles(x: AlleleMatrix, options: AlignOptions = {}): Alignment {
  const { k, m, effect, other, eaf } = x;
  if (effect.length !== k * m || other.length !== k * m || (eaf && eaf.length !== k * m))
    throw new RangeError(`alignAlleles: allele arrays must have k·m = ${k * m} entries`);
  const ref = options.reference;
  if (ref && (ref.effect.length !== m || ref.other.length !== m || (ref.eaf && ref.eaf.length !== m)))
    throw new RangeError(`alignAlleles: the reference must have m = ${m} entries`);
  const [lo, hi] = options.ambiguousEaf ?? [0.4, 0.6];
  const ambiguous = (f: number) => !(f >= 0 && f <= 1) || (f > lo && f < hi);
  const action = new Uint8Array(k * m);
  const refEffect = new Int32Array(m).fill(ALLELE_ABSENT);
  const refOther = new Int32Array(m).fill(ALLELE_ABSENT);
  const refEaf = new Float64Array(m).fill(Number.NaN);
  const refInput = new Int32Array(m).fill(-1);
  const dropAmbiguous = new Int32Array(k);
  const dropMismatch = new Int32Array(k);
  for (let j = 0; j < m; j++) {
    let re = ALLELE_ABSENT;
    let ro = ALLELE_ABSENT;
    let rf = Number.NaN;
    if (ref && ref.effect[j] >= 0) {
      re = ref.effect[j];
      ro = ref.other[j];
      rf = ref.eaf ? ref.eaf[j] : Number.NaN;
    }
    for (let i = 0; i < k; i++) {
      const at = i * m + j;
      const e = effect[at];
      const o = other[at];
      if (e < 0 && o < 0) continue; // absent: action stays 0 ('absent')
      const f = eaf ? eaf[at] : Number.NaN;
      let a: number;
      if (re >= 0) a = alignEntry(e, o, f, re, ro, rf, ambiguous, options.inferStrand ?? false);
      else if (e < 0 || o < 0 || e === o) a = A_MISMATCH;
      else if (isPalindromic(e, o) && ambiguous(f)) a = A_AMBIGUOUS;
      else {
        a = A_REFERENCE;
        re = e;
        ro = o;
        rf = f;
        refInput[j] = i;
      }
      action[at] = a;
      if (a === A_AMBIGUOUS) dropAmbiguous[i]++;
      else if (a === A_MISMATCH) dropMismatch[i]++;
    }
    refEffect[j] = re;
    refOther[j] = ro;
    refEaf[j] = rf;
  }
  return {
    k,
    m,
    action,
    refEffect,
    refOther,
    refEaf,
    refInput,
    dropped: { strand_ambiguous: dropAmbiguous, allele_mismatch: dropMismatch },
  };
}

/** Whether an alignment action negates β. */
export function alignFlips(action: number): boolean {
  return action === A_SWAPPED || action === A_STRAND_SWAPPED;
}

/** Whether an alignment action drops the entry. */
export function alignDrops(action: number): boolean {
  return action === A_AMBIGUOUS || action === A_MISMATCH;
}

/** The dropped entries: input, variant and `ALIGN` code of each, in input then variant order. */
export function droppedEntries(al: Alignment): {
  input: Int32Array;
  variant: Int32Array;
  reason: Uint8Array;
} {
  let count = 0;
  for (let t = 0; t < al.action.length; t++) if (alignDrops(al.action[t])) count++;
  const input = new Int32Array(count);
  const variant = new Int32Array(count);
  const reason = new Uint8Array(count);
  let r = 0;
  for (let t = 0; t < al.action.length; t++) {
    if (!alignDrops(al.action[t])) continue;
    input[r] = Math.floor(t / al.m);
    variant[r] = t % al.m;
    reason[r++] = al.action[t];
  }
  return { input, variant, reason };
}

/** Summary statistics of k inputs × m variants, input-major; β and SE NaN where absent. */
export interface MetaInput {
  k: number;
  m: number;
  beta: Float64Array;
  se: Float64Array;
  /** Sample size per entry (NaN where unknown); needed for the sample-size-weighted z only. */
  n?: Float64Array;
}

/**
 * Apply an alignment: β negated where the action swaps, dropped entries made absent (β, SE NaN),
 * EAF → 1 − EAF where swapped. Returns new arrays; the inputs are not modified.
 */
export function applyAlignment(
  x: MetaInput & { eaf?: Float64Array },
  al: Alignment,
): MetaInput & { eaf?: Float64Array } {
  if (x.k !== al.k || x.m !== al.m) throw new RangeError('applyAlignment: k and m differ from the alignment');
  const beta = Float64Array.from(x.beta);
  const se = Float64Array.from(x.se);
  const eaf = x.eaf ? Float64Array.from(x.eaf) : undefined;
  for (let t = 0; t < al.action.length; t++) {
    const a = al.action[t];
    if (a === A_SWAPPED || a === A_STRAND_SWAPPED) {
      beta[t] = -beta[t];
      if (eaf) eaf[t] = 1 - eaf[t];
    } else if (a === A_AMBIGUOUS || a === A_MISMATCH) {
      beta[t] = Number.NaN;
      se[t] = Number.NaN;
      if (eaf) eaf[t] = Number.NaN;
    }
  }
  return { k: x.k, m: x.m, beta, se, n: x.n, eaf };
}

// ---------------------------------------------------------------------------------------------
// Meta-analysis

/** Per-variant status of the meta-analysis. New names go at the end (stored codes). */
export const META_STATUS = ['ok', 'single_input', 'no_inputs'] as const;
export type MetaStatus = (typeof META_STATUS)[number];
/** Status of the sample-size-weighted z. */
export const META_N_STATUS = ['ok', 'n_missing', 'no_inputs'] as const;
/** Status of one leave-one-out entry. */
export const LOO_STATUS = ['ok', 'absent', 'none_left', 'single_left'] as const;

export interface MetaResult {
  k: number;
  m: number;
  /** contributing inputs per variant. */
  nInputs: Int32Array;
  /** entries present but unusable (non-finite β, SE ≤ 0 or non-finite), left out. */
  nInvalid: Int32Array;
  /** `META_STATUS` code. */
  status: Uint8Array;
  /** METAL's direction string, one character per input. */
  direction: string[];
  /** fixed effect (inverse variance). */
  beta: Float64Array;
  se: Float64Array;
  z: Float64Array;
  p: Float64Array;
  mlog10p: Float64Array;
  /** Cochran's Q, its p (χ², k − 1 df), I² in percent, DerSimonian–Laird τ². */
  q: Float64Array;
  qP: Float64Array;
  qMlog10p: Float64Array;
  i2: Float64Array;
  tau2: Float64Array;
  /** random effects (DerSimonian–Laird). */
  betaRe: Float64Array;
  seRe: Float64Array;
  zRe: Float64Array;
  pRe: Float64Array;
  mlog10pRe: Float64Array;
  /** sample-size-weighted z, its p, and ΣN over the contributing inputs. */
  zN: Float64Array;
  pN: Float64Array;
  mlog10pN: Float64Array;
  nTotal: Float64Array;
  /** `META_N_STATUS` code. */
  nStatus: Uint8Array;
}

const C_PLUS = 43; // '+'
const C_MINUS = 45; // '-'
const C_ZERO = 48; // '0'
const C_UNKNOWN = 63; // '?'

function checkInput(x: MetaInput, fn: string): void {
  const size = x.k * x.m;
  if (!(x.k >= 1) || !(x.m >= 0)) throw new RangeError(`${fn}: k must be ≥ 1 and m ≥ 0`);
  if (x.beta.length !== size || x.se.length !== size || (x.n && x.n.length !== size))
    throw new RangeError(`${fn}: β, SE and N must have k·m = ${size} entries`);
}

function usable(b: number, s: number): boolean {
  return Number.isFinite(b) && Number.isFinite(s) && s > 0;
}

function allocResult(k: number, m: number): MetaResult {
  const f = () => new Float64Array(m);
  return {
    k,
    m,
    nInputs: new Int32Array(m),
    nInvalid: new Int32Array(m),
    status: new Uint8Array(m),
    direction: new Array<string>(m),
    beta: f(),
    se: f(),
    z: f(),
    p: f(),
    mlog10p: f(),
    q: f(),
    qP: f(),
    qMlog10p: f(),
    i2: f(),
    tau2: f(),
    betaRe: f(),
    seRe: f(),
    zRe: f(),
    pRe: f(),
    mlog10pRe: f(),
    zN: f(),
    pN: f(),
    mlog10pN: f(),
    nTotal: f(),
    nStatus: new Uint8Array(m),
  };
}

/** I² in percent from Q and its degrees of freedom (NaN for 0 df). */
function i2Percent(q: number, df: number): number {
  if (df < 1) return Number.NaN;
  return q > df ? (100 * (q - df)) / q : 0;
}

/** Fixed, random and sample-size-weighted meta-analysis of every variant. */
export function metaAnalyse(x: MetaInput): MetaResult {
  checkInput(x, 'metaAnalyse');
  const { k, m, beta, se, n } = x;
  const out = allocResult(k, m);
  const dir = new Array<number>(k);
  for (let j = 0; j < m; j++) {
    // pass 1: fixed effect, direction, sample-size z
    let sw = 0;
    let swb = 0;
    let sw2 = 0;
    let kk = 0;
    let invalid = 0;
    let szN = 0;
    let sN = 0;
    let nMissing = false;
    for (let i = 0; i < k; i++) {
      const at = i * m + j;
      const b = beta[at];
      const s = se[at];
      if (!usable(b, s)) {
        if (!(Number.isNaN(b) && Number.isNaN(s))) invalid++;
        dir[i] = C_UNKNOWN;
        continue;
      }
      dir[i] = b > 0 ? C_PLUS : b < 0 ? C_MINUS : C_ZERO;
      const w = 1 / (s * s);
      sw += w;
      swb += w * b;
      sw2 += w * w;
      kk++;
      const ni = n ? n[at] : Number.NaN;
      if (Number.isFinite(ni) && ni > 0) {
        szN += Math.sqrt(ni) * (b / s);
        sN += ni;
      } else nMissing = true;
    }
    out.direction[j] = String.fromCharCode(...dir);
    out.nInputs[j] = kk;
    out.nInvalid[j] = invalid;
    if (kk === 0) {
      setNoInputs(out, j);
      continue;
    }
    const b = swb / sw;
    const s = 1 / Math.sqrt(sw);
    const z = b / s;
    out.beta[j] = b;
    out.se[j] = s;
    out.z[j] = z;
    out.p[j] = pTwoSidedNormal(z);
    out.mlog10p[j] = mlog10PTwoSidedNormal(z);
    out.nTotal[j] = nMissing ? Number.NaN : sN;
    if (nMissing) {
      out.zN[j] = Number.NaN;
      out.pN[j] = Number.NaN;
      out.mlog10pN[j] = Number.NaN;
      out.nStatus[j] = 1;
    } else {
      const zn = szN / Math.sqrt(sN);
      out.zN[j] = zn;
      out.pN[j] = pTwoSidedNormal(zn);
      out.mlog10pN[j] = mlog10PTwoSidedNormal(zn);
    }
    // pass 2: Q around the fixed effect
    let q = 0;
    for (let i = 0; i < k; i++) {
      const at = i * m + j;
      const bi = beta[at];
      const si = se[at];
      if (!usable(bi, si)) continue;
      const d = bi - b;
      q += (d * d) / (si * si);
    }
    const df = kk - 1;
    out.q[j] = q;
    out.status[j] = df === 0 ? 1 : 0;
    out.qP[j] = df === 0 ? Number.NaN : pChiSq(q, df);
    out.qMlog10p[j] = df === 0 ? Number.NaN : mlog10PChiSq(q, df);
    out.i2[j] = i2Percent(q, df);
    // pass 3: DerSimonian–Laird random effects
    const c = sw - sw2 / sw;
    const tau2 = df > 0 && q > df && c > 0 ? (q - df) / c : 0;
    out.tau2[j] = tau2;
    if (tau2 === 0) {
      out.betaRe[j] = b;
      out.seRe[j] = s;
      out.zRe[j] = z;
      out.pRe[j] = out.p[j];
      out.mlog10pRe[j] = out.mlog10p[j];
      continue;
    }
    let swr = 0;
    let swrb = 0;
    for (let i = 0; i < k; i++) {
      const at = i * m + j;
      const bi = beta[at];
      const si = se[at];
      if (!usable(bi, si)) continue;
      const w = 1 / (si * si + tau2);
      swr += w;
      swrb += w * bi;
    }
    const br = swrb / swr;
    const sr = 1 / Math.sqrt(swr);
    const zr = br / sr;
    out.betaRe[j] = br;
    out.seRe[j] = sr;
    out.zRe[j] = zr;
    out.pRe[j] = pTwoSidedNormal(zr);
    out.mlog10pRe[j] = mlog10PTwoSidedNormal(zr);
  }
  return out;
}

function setNoInputs(out: MetaResult, j: number): void {
  out.status[j] = 2;
  out.nStatus[j] = 2;
  for (const a of [
    out.beta,
    out.se,
    out.z,
    out.p,
    out.mlog10p,
    out.q,
    out.qP,
    out.qMlog10p,
    out.i2,
    out.tau2,
    out.betaRe,
    out.seRe,
    out.zRe,
    out.pRe,
    out.mlog10pRe,
    out.zN,
    out.pN,
    out.mlog10pN,
    out.nTotal,
  ])
    a[j] = Number.NaN;
}

/** Leave-one-out fixed-effect results for selected variants: k × variants.length, input-major. */
export interface LeaveOneOut {
  k: number;
  /** the variants (indices into the input's m), in the order of the columns. */
  variants: Int32Array;
  beta: Float64Array;
  se: Float64Array;
  z: Float64Array;
  p: Float64Array;
  q: Float64Array;
  qP: Float64Array;
  i2: Float64Array;
  /** `LOO_STATUS` code; every statistic is NaN unless it is `ok` or `single_left`. */
  status: Uint8Array;
}

/**
 * The fixed-effect meta-analysis without each input in turn, for the given variants (default
 * all). Costs k² per variant, so it is meant for lead loci, not a whole genome.
 */
export function metaLeaveOneOut(x: MetaInput, variants?: Int32Array): LeaveOneOut {
  checkInput(x, 'metaLeaveOneOut');
  const { k, m, beta, se } = x;
  const vs = variants ?? Int32Array.from({ length: m }, (_, j) => j);
  const v = vs.length;
  const f = () => new Float64Array(k * v).fill(Number.NaN);
  const out: LeaveOneOut = {
    k,
    variants: vs,
    beta: f(),
    se: f(),
    z: f(),
    p: f(),
    q: f(),
    qP: f(),
    i2: f(),
    status: new Uint8Array(k * v),
  };
  for (let c = 0; c < v; c++) {
    const j = vs[c];
    if (!(j >= 0 && j < m)) throw new RangeError(`metaLeaveOneOut: variant ${j} is outside 0…${m - 1}`);
    for (let left = 0; left < k; left++) {
      const o = left * v + c;
      if (!usable(beta[left * m + j], se[left * m + j])) {
        out.status[o] = 1;
        continue;
      }
      let sw = 0;
      let swb = 0;
      let kk = 0;
      for (let i = 0; i < k; i++) {
        if (i === left) continue;
        const bi = beta[i * m + j];
        const si = se[i * m + j];
        if (!usable(bi, si)) continue;
        const w = 1 / (si * si);
        sw += w;
        swb += w * bi;
        kk++;
      }
      if (kk === 0) {
        out.status[o] = 2;
        continue;
      }
      const b = swb / sw;
      let q = 0;
      for (let i = 0; i < k; i++) {
        if (i === left) continue;
        const bi = beta[i * m + j];
        const si = se[i * m + j];
        if (!usable(bi, si)) continue;
        const d = bi - b;
        q += (d * d) / (si * si);
      }
      const s = 1 / Math.sqrt(sw);
      const df = kk - 1;
      out.beta[o] = b;
      out.se[o] = s;
      out.z[o] = b / s;
      out.p[o] = pTwoSidedNormal(b / s);
      out.q[o] = q;
      out.qP[o] = df === 0 ? Number.NaN : pChiSq(q, df);
      out.i2[o] = i2Percent(q, df);
      out.status[o] = df === 0 ? 3 : 0;
    }
  }
  return out;
}
