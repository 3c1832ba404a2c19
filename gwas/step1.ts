/**
 * Step 1 of `gwas.relatedness: 'loco'`: a REGENIE-style whole-genome ridge regression of the
 * analysis table's traits (Mbatchou et al. 2021, Nat Genet 53:1097), giving per person and per
 * chromosome c the trait's polygenic prediction from every chromosome but c (leave one
 * chromosome out, LOCO). Step 2 (gwas/shard.ts) tests each variant of chromosome c with that
 * prediction as an offset, so the polygenic signal and relatedness that the covariates do not
 * capture stop inflating the test.
 *
 *   plan     select the step-1 variants, cut them into blocks, key the cache (`planStep1`)
 *   level 0  per block, out-of-fold ridge predictions at R shrinkages (stats/ridge-level0.ts),
 *            one file per block; blocks are grouped into tasks, each a durable activity
 *            (`computeLevel0`), resumable block by block
 *   level 1  per trait, cross-validated ridge (quantitative) or logistic ridge (binary) over the
 *            level-0 predictions, and the LOCO predictions (stats/ridge-level1.ts; `computeLevel1`)
 *
 * Step-1 variants: autosomes and X (not Y, MT), minor allele frequency ≥ `minMaf` and missing
 * fraction ≤ `maxMissing` in the release (its `variants` table: all release samples), evenly
 * thinned in genome order to at most `maxVariants`. Blocks are `blockSize` consecutive step-1
 * variants of one chromosome (the last block of a chromosome may be smaller). Folds: a seeded
 * shuffle of the samples (`shuffledFolds`).
 *
 * Trait groups (FinnGen's practice; stats/trait-groups.ts): the traits are grouped by
 * missingness pattern — a group's traits are all observed on at least `minJaccard` (0.95) of the
 * persons observed in any of them, at most `maxGroupSize` (100) traits a group — and each group
 * has its own step 1 over its persons (the union of its traits' persons): their genotypes'
 * covariate residuals, the level-0 Gram matrices and the level-1 fits use those persons only, so
 * e.g. the men do not enter the step 1 of female-only phecodes. Within a group a trait's missing
 * values become 0 after residualising (REGENIE's rule, FinnGen's "mean-imputed"). The step-1
 * variants and blocks are shared, and a level-0 task reads each block's genotypes once for every
 * group. Traits fully observed (an analysis table's own traits) form one group of every person,
 * which is the single shared step 1 of before. A trait observed nowhere has no group: its LOCO is
 * 0 and its status `too_few_samples`. The groups are a deterministic function of the traits, so
 * they are recomputed where needed; `plan.json` records them (traits and person counts) and
 * `loco.json` reports them.
 *
 * The result is cached under `<dataDir>/step1/<key>/` with key = hash of (release, the analysis
 * table's samples, traits and covariates as loaded, the step-1 settings and grouping rule, the
 * format version): a re-run, or another study with the same cohort, trait and covariates, reuses
 * it. Files: `plan.json`, `variants.i32` (step-1 variant_idx, block by block),
 * `level0/g<group>-b<k>.f32` (n_group × K_group·R, trait-major), `loco-<trait>.f64` (nChrom × n,
 * every analysis-table row; 0 outside the trait's group) and `loco.json`, written last, which
 * marks a finished step 1. Every file is written to a temporary name and renamed.
 *
 * Units of the LOCO offsets: quantitative traits in the trait's units (step 2 subtracts it from
 * y); binary traits on the logit scale, without the covariates' part (step 2's null fit
 * re-estimates the covariates with the offset).
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBBlobVector, DuckDBConnection, DuckDBIntegerVector } from '@duckdb/node-api';
import { blobItems, sqlString, withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicWriteFile, exists } from '../engine/fsutil.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import { GENOME_LEVEL0_AUTO_MAX, LOCO_DEFAULTS, type PhenotypeFirstSpec } from '../schemas/study.js';
import type { AnalysisTable, RunContext } from '../schemas/study-io.js';
import { orthonormalBasis } from '../stats/linalg.js';
import { firthFit, logisticFit } from '../stats/logistic-fit.js';
import { mulberry32 } from '../stats/random.js';
import { genomeMatrix, genomeRidge } from '../stats/ridge-genome.js';
import {
  type Level0Setup,
  level0Block,
  level0Lambdas,
  prepareLevel0Traits,
  standardizedBlock,
} from '../stats/ridge-level0.js';
import { type Level1Result, level1Logistic, level1Ridge } from '../stats/ridge-level1.js';
import { groupTraitsByMissingness, TRAIT_GROUP_DEFAULTS, type TraitGrouping } from '../stats/trait-groups.js';
import type { EngineConfig } from '../temporal.config.js';
import { releaseSamples } from './ld.js';

/** Bump when the step-1 method or its files change: old caches are then not reused. */
export const STEP1_VERSION = 6;

export type LocoSettings = Required<NonNullable<PhenotypeFirstSpec['gwas']['loco']>>;

export function locoSettings(gwas: PhenotypeFirstSpec['gwas']): LocoSettings {
  return {
    ...LOCO_DEFAULTS,
    ...Object.fromEntries(Object.entries(gwas.loco ?? {}).filter(([, v]) => v !== undefined)),
  };
}

/**
 * The trait groups of a step 1: by missingness pattern when `groupMinJaccard` > 0, else one group
 * of every trait over every person (missing values enter as 0 after residualising).
 */
function traitGrouping(ys: Float64Array[], s: LocoSettings): TraitGrouping {
  if (s.groupMinJaccard > 0)
    return groupTraitsByMissingness(ys, {
      minJaccard: s.groupMinJaccard,
      maxGroupSize: TRAIT_GROUP_DEFAULTS.maxGroupSize,
    });
  // (a trait observed in no row has no group: its LOCO is 0, status too_few_samples)
  const observed = ys.map((y) => y.some(Number.isFinite));
  const traits = ys.flatMap((_, k) => (observed[k] ? [k] : []));
  const unobserved = ys.flatMap((_, k) => (observed[k] ? [] : [k]));
  if (traits.length === 0) return { groups: [], unobserved };
  const n = ys[0].length;
  let nComplete = 0;
  for (let i = 0; i < n; i++) if (traits.every((k) => Number.isFinite(ys[k][i]))) nComplete++;
  const persons = Int32Array.from({ length: n }, (_, i) => i);
  return { groups: [{ traits, persons, nComplete, jaccard: n > 0 ? nComplete / n : 1 }], unobserved };
}

/**
 * Traits of a step 1 that are not the analysis table's own: a file of n × K float64 values
 * (column-major, analysis-table row order, NaN = missing), e.g. the phecodes of a lead-locus
 * PheWAS (cases 1, controls 0, excluded NaN). The analysis table still gives the samples and
 * covariates.
 */
export interface Step1Traits {
  path: string;
  /** Number of traits (columns) in the file. */
  K: number;
  binary: boolean;
}

/** The traits of a step 1 as n × K columns (NaN = missing): the analysis table's, or a file's. */
async function traitColumns(
  a: Awaited<ReturnType<typeof loadAnalysis>>,
  traits: Step1Traits | null | undefined,
): Promise<Float64Array[]> {
  if (!traits) return a.ys;
  const buf = await readFile(traits.path);
  const all = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (all.length !== a.n * traits.K)
    throw new Error(
      `step 1 traits ${traits.path}: ${all.length} values, expected ${a.n} samples × ${traits.K} traits`,
    );
  return Array.from({ length: traits.K }, (_, k) => all.subarray(k * a.n, (k + 1) * a.n));
}

/** What a study keeps of step 1: where it is and what it did (a few hundred bytes). */
export interface Step1Plan {
  key: string;
  dir: string;
  /** Already finished (a cached step 1): nothing to compute. */
  done: boolean;
  nVariants: number;
  nBlocks: number;
  /** Level-0 tasks (activities): block ranges [from, to). */
  tasks: { from: number; to: number }[];
  chroms: string[];
}

interface PlanFile {
  key: string;
  version: number;
  n: number;
  K: number;
  binary: boolean;
  settings: LocoSettings;
  nVariants: number;
  /**
   * `blocks`: REGENIE's per-block level 0; `genome`: one whole-genome ridge (stats/ridge-genome.ts)
   * whose blocks are the chromosomes' runs of step-1 variants.
   */
  level0: 'blocks' | 'genome';
  /** blocks[k] = [chromosome index, first offset into variants.i32, variant count]. */
  blocks: [number, number, number][];
  chroms: string[];
  lambdas: number[];
  /** Trait groups (stats/trait-groups.ts): traits and person count of each. */
  groups: { traits: number[]; nSamples: number }[];
}

/** Summary of a finished step 1 (`loco.json`), for the GWAS summary and the report. */
export interface Step1Summary {
  key: string;
  /** Level 0 as run: per block (REGENIE) or whole genome (see PlanFile). */
  level0: 'blocks' | 'genome';
  nSamples: number;
  nVariants: number;
  nBlocks: number;
  chroms: string[];
  /**
   * Per trait: the level-1 λ, its status and the CV loss per λ; with the whole-genome level 0
   * also the level-0 λ whose column level 1 kept.
   */
  traits: { lambda: number; status: string; cvLoss: number[]; level0Lambda?: number }[];
  level1Lambdas: number[];
  /** Trait groups, each fitted on its own persons: traits, persons, J = |∩|/|∪| of their person sets. */
  groups: { traits: number[]; nSamples: number; jaccard: number }[];
  /** Traits observed in no row: no step 1 (LOCO 0). */
  unobserved: number[];
}

const step1Root = (config: EngineConfig) => join(config.dataDir, 'step1');

/** The analysis table as loaded, hashed: samples, traits and covariates, in order. */
function analysisDigest(a: Awaited<ReturnType<typeof loadAnalysis>>, ys: Float64Array[]): string {
  const h = createHash('sha256');
  h.update(new Uint8Array(a.sampleIdx.buffer, a.sampleIdx.byteOffset, a.sampleIdx.byteLength));
  for (const y of ys) h.update(new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
  h.update(new Uint8Array(a.cov.buffer, a.cov.byteOffset, a.cov.byteLength));
  return h.digest('hex');
}

/**
 * Plan (or find cached) step 1 for an analysis table: select and block the step-1 variants,
 * write `plan.json` and `variants.i32`, and split the blocks into level-0 tasks of about
 * `nBlocks / (4 · parallel)` blocks each.
 */
export async function planStep1(
  conn: DuckDBConnection,
  config: EngineConfig,
  run: RunContext,
  analysis: AnalysisTable,
  gwas: PhenotypeFirstSpec['gwas'],
  traits: Step1Traits | null = null,
): Promise<Step1Plan> {
  const settings = locoSettings(gwas);
  const a = await loadAnalysis(conn, analysis);
  const ys = await traitColumns(a, traits);
  const binary = traits ? traits.binary : analysis.trait === 'binary';
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        version: STEP1_VERSION,
        release: run.releaseDir,
        analysis: analysisDigest(a, ys),
        binary,
        settings,
      }),
    )
    .digest('hex')
    .slice(0, 24);
  const dir = join(step1Root(config), key);
  const planPath = join(dir, 'plan.json');
  let plan: PlanFile;
  if (await exists(planPath)) plan = JSON.parse(await readFile(planPath, 'utf8')) as PlanFile;
  else {
    const { chroms, variants, blocks } = await selectStep1Variants(conn, run, settings);
    const grouping = traitGrouping(ys, settings);
    if (variants.length === 0)
      throw new Error(
        `relatedness 'loco': no step-1 variant in the release (minor allele frequency ≥ ${settings.minMaf}, ` +
          `missing ≤ ${settings.maxMissing}, autosomes and X)`,
      );
    const level0 = level0Mode(settings, a.n, variants.length, ys.length, binary);
    plan = {
      key,
      version: STEP1_VERSION,
      n: a.n,
      K: ys.length,
      binary,
      settings,
      nVariants: variants.length,
      level0,
      blocks: level0 === 'genome' ? chromosomeRuns(blocks) : blocks,
      chroms,
      lambdas: [...level0Lambdas(variants.length)],
      groups: grouping.groups.map((g) => ({ traits: g.traits, nSamples: g.persons.length })),
    };
    await mkdir(join(dir, 'level0'), { recursive: true });
    await atomicWriteFile(join(dir, 'variants.i32'), new Uint8Array(variants.buffer));
    await atomicWriteFile(planPath, JSON.stringify(plan));
  }
  const done = await exists(join(dir, 'loco.json'));
  const nBlocks = plan.blocks.length;
  // the whole-genome level 0 is one solve: one task
  const per =
    plan.level0 === 'genome' ? nBlocks : Math.max(1, Math.ceil(nBlocks / (4 * gwas.maxParallelShards)));
  const tasks: Step1Plan['tasks'] = [];
  for (let b = 0; b < nBlocks; b += per) tasks.push({ from: b, to: Math.min(nBlocks, b + per) });
  return { key, dir, done, nVariants: plan.nVariants, nBlocks, tasks, chroms: plan.chroms };
}

/**
 * Level 0 as the settings ask; `auto`: the whole genome for quantitative traits when persons ×
 * step-1 variants × traits ≤ GENOME_LEVEL0_AUTO_MAX (its cost grows with that product; the
 * blocks' hardly with the traits), else blocks. Binary traits keep the blocks: with relatives the
 * whole genome's out-of-fold predictions over-correct them (pooled null λGC 0.955 against 0.994
 * for the blocks in test/association/loco-binary-calibration.test.ts; docs/methods.md).
 */
export function level0Mode(
  s: LocoSettings,
  n: number,
  M: number,
  K: number,
  binary: boolean,
): 'blocks' | 'genome' {
  if (s.level0 === 'genome' && n * M > GENOME_LEVEL0_MAX_VALUES)
    throw new InputError(
      `level0 'genome' holds persons × step-1 variants = ${n} × ${M} genotypes as doubles ` +
        `(${((n * M * 8) / 2 ** 30).toFixed(1)} GiB), more than its ${GENOME_LEVEL0_MAX_VALUES / 2 ** 27} GiB; ` +
        `use 'blocks' (or 'auto'), or fewer step-1 variants (loco.maxVariants)`,
      { field: 'gwas.loco.level0' },
    );
  if (s.level0 !== 'auto') return s.level0;
  return !binary && n * M * K <= GENOME_LEVEL0_AUTO_MAX ? 'genome' : 'blocks';
}

/** The whole-genome level 0 keeps Z (n × M doubles) in memory: at most this many values (2 GiB). */
export const GENOME_LEVEL0_MAX_VALUES = 2 ** 28;

/** Blocks merged into runs of one chromosome (the whole-genome level 0's parts). */
function chromosomeRuns(blocks: [number, number, number][]): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const [c, first, count] of blocks) {
    const last = out[out.length - 1];
    if (last && last[0] === c && last[1] + last[2] === first) last[2] += count;
    else out.push([c, first, count]);
  }
  return out;
}

/** The step-1 variants (see the module comment) and their blocks. */
async function selectStep1Variants(conn: DuckDBConnection, run: RunContext, s: LocoSettings) {
  const rows = (
    await conn.runAndReadAll(
      `SELECT variant_idx::INTEGER AS i, chrom::VARCHAR AS chrom
       FROM read_parquet(${sqlString(join(run.releaseDir, 'variants.parquet'))})
       WHERE least(af, 1 - af) >= $1 AND an > 0
         AND upper(regexp_replace(chrom, '^chr', '', 'i')) NOT IN ('Y', 'MT', 'M')
         AND 1 - call_rate <= $2
       ORDER BY variant_idx`,
      [s.minMaf, s.maxMissing],
    )
  ).getRowObjectsJS() as { i: number; chrom: string }[];
  // Even thinning in genome order beyond maxVariants.
  const keep =
    rows.length > s.maxVariants
      ? Array.from({ length: s.maxVariants }, (_, k) => rows[Math.floor((k * rows.length) / s.maxVariants)])
      : rows;
  const chroms: string[] = [];
  const blocks: [number, number, number][] = [];
  const variants = new Int32Array(keep.length);
  let start = 0;
  for (let t = 0; t <= keep.length; t++) {
    const boundary =
      t === keep.length || (t > start && (keep[t].chrom !== keep[start].chrom || t - start === s.blockSize));
    if (boundary && t > start) {
      if (chroms[chroms.length - 1] !== keep[start].chrom) chroms.push(keep[start].chrom);
      blocks.push([chroms.length - 1, start, t - start]);
      start = t;
    }
    if (t < keep.length) variants[t] = keep[t].i;
  }
  return { chroms, variants, blocks };
}

async function readPlan(dir: string) {
  const plan = JSON.parse(await readFile(join(dir, 'plan.json'), 'utf8')) as PlanFile;
  const buf = await readFile(join(dir, 'variants.i32'));
  const variants = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return { plan, variants };
}

/** One trait group's level-0 inputs: its rows of the analysis table, folds, covariate basis, prepared traits. */
interface GroupSetup {
  /** Trait indices (columns of the trait set). */
  traits: number[];
  /** Analysis-table rows of the group's persons, ascending. */
  rows: Int32Array;
  setup: Level0Setup;
  prepared: ReturnType<typeof prepareLevel0Traits>;
  design: Float64Array;
  q: number;
}

/**
 * The level-0 inputs of every trait group: the groups (recomputed from the traits, checked
 * against the plan), and per group its persons' samples, folds (each person keeps the fold of
 * `shuffledFolds` over the whole table), covariate basis and prepared traits.
 */
async function level0Setup(
  conn: DuckDBConnection,
  run: RunContext,
  analysis: AnalysisTable,
  plan: PlanFile,
  traits: Step1Traits | null | undefined,
) {
  const a = await loadAnalysis(conn, analysis);
  const ys = await traitColumns(a, traits);
  if (ys.length !== plan.K)
    throw new Error(`step 1 ${plan.key}: ${ys.length} traits given, its plan has ${plan.K}`);
  if (a.n !== plan.n)
    throw new Error(`step 1 ${plan.key}: the analysis table has ${a.n} samples, its plan ${plan.n}`);
  const grouping: TraitGrouping = traitGrouping(ys, plan.settings);
  const planned = JSON.stringify(plan.groups);
  const found = JSON.stringify(
    grouping.groups.map((g) => ({ traits: g.traits, nSamples: g.persons.length })),
  );
  if (planned !== found) throw new Error(`step 1 ${plan.key}: the traits' groups differ from its plan's`);
  const nGeno = await releaseSamples(conn, run.releaseDir);
  const foldAll = shuffledFolds(a.n, plan.settings.folds);
  const groups = grouping.groups.map((g): GroupSetup => {
    const rows = g.persons;
    const n = rows.length;
    const cov = new Float64Array(n * a.c);
    for (let j = 0; j < a.c; j++) for (let t = 0; t < n; t++) cov[j * n + t] = a.cov[j * a.n + rows[t]];
    const { basis, q, design } = covariateBasis(n, cov, a.c);
    const K = g.traits.length;
    const yRaw = new Float64Array(n * K);
    for (const [kk, k] of g.traits.entries()) for (let t = 0; t < n; t++) yRaw[kk * n + t] = ys[k][rows[t]];
    const prepared = prepareLevel0Traits(yRaw, K, basis, q);
    const setup: Level0Setup = {
      n,
      nGeno,
      sampleIdx: Int32Array.from(rows, (i) => a.sampleIdx[i]),
      fold: Uint8Array.from(rows, (i) => foldAll[i]),
      nFolds: plan.settings.folds,
      basis,
      q,
      y: prepared.y,
      K,
      lambdas: Float64Array.from(plan.lambdas),
    };
    return { traits: g.traits, rows, setup, prepared, design, q };
  });
  return { groups, unobserved: grouping.unobserved, ys, n: a.n };
}

type Level0SetupResult = Awaited<ReturnType<typeof level0Setup>>;

/**
 * The last level-0 setup this thread built, by step 1 and inputs: the next task of the same step 1
 * on this thread reuses it (and with it the per-setup preparation cached by stats/ridge-level0.ts)
 * instead of reading the analysis table and factoring the covariates again.
 */
let lastSetup: { key: string; value: Level0SetupResult } | null = null;

async function cachedLevel0Setup(
  conn: DuckDBConnection,
  input: Step1Input,
  plan: PlanFile,
): Promise<Level0SetupResult> {
  const key = JSON.stringify([
    input.dir,
    plan.key,
    input.analysis,
    input.traits ?? null,
    input.run.releaseDir,
  ]);
  if (lastSetup?.key !== key) {
    lastSetup = null;
    lastSetup = { key, value: await level0Setup(conn, input.run, input.analysis, plan, input.traits) };
  }
  return lastSetup.value;
}

/**
 * Cross-validation folds: a seeded random permutation of the samples cut into `F` folds of equal
 * size (±1). Not contiguous chunks of the sample order (REGENIE's rule): relatives are often
 * adjacent in a biobank's sample file, and a fold holding a whole family cannot use the
 * relatives' phenotypes for its out-of-fold predictions, which is what corrects the inflation
 * relatedness causes. Deterministic (fixed seed), so the cache stays valid.
 */
export function shuffledFolds(n: number, F: number): Uint8Array {
  const u = mulberry32(0x5eed_f01d);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const fold = new Uint8Array(n);
  for (let t = 0; t < n; t++) fold[order[t]] = Math.floor((t * F) / n);
  return fold;
}

/** Orthonormal basis of [1, covariates] over the analysis samples (collinear columns dropped). */
function covariateBasis(n: number, cov: Float64Array, c: number) {
  const z = new Float64Array(n * (c + 1));
  z.fill(1, 0, n);
  z.set(cov, n);
  const b = orthonormalBasis(z, n, c + 1);
  const design = new Float64Array(n * b.rank);
  for (const [t, j] of b.kept.entries()) design.set(z.subarray(j * n, (j + 1) * n), t * n);
  return { basis: b.q.subarray(0, n * b.rank), q: b.rank, design };
}

/** What the level-0 and level-1 activities get: the run, its analysis table, the step-1 folder, other traits. */
export interface Step1Input {
  run: RunContext;
  analysis: AnalysisTable;
  dir: string;
  traits?: Step1Traits | null;
}

const blockFile = (dir: string, g: number, b: number) =>
  join(dir, 'level0', `g${String(g).padStart(4, '0')}-b${String(b).padStart(5, '0')}.f32`);

export interface Level0Cursor {
  /** Blocks of the task finished (their files written). */
  next: number;
}

/**
 * Level 0 for blocks [from, to) of a planned step 1: one file per block and trait group (each
 * block's genotypes read once for all groups), skipped when it exists with the right size (a
 * retry resumes there). Heartbeats the next block; `signal` aborts
 * between blocks.
 */
export async function computeLevel0(
  config: EngineConfig,
  input: Step1Input & { from: number; to: number },
  heartbeat: (c: Level0Cursor) => void,
  signal?: AbortSignal,
): Promise<{ blocks: number; constant: number }> {
  const { plan, variants } = await readPlan(input.dir);
  const R = plan.lambdas.length;
  /** Block b's file of group g, when it exists with the right size. */
  const done = async (g: number, b: number) => {
    const f = blockFile(input.dir, g, b);
    return (
      (await exists(f)) &&
      (await stat(f)).size === plan.groups[g].nSamples * plan.groups[g].traits.length * R * 4
    );
  };
  if (plan.level0 === 'genome') return genomeLevel0(config, input, plan, variants, done, heartbeat, signal);
  return withCompute(config, async (conn) => {
    let setupCache: Level0SetupResult | null = null;
    let constant = 0;
    for (let b = input.from; b < input.to; b++) {
      const todo: number[] = [];
      for (let g = 0; g < plan.groups.length; g++) if (!(await done(g, b))) todo.push(g);
      if (todo.length > 0) {
        setupCache ??= await cachedLevel0Setup(conn, input, plan);
        const [, first, count] = plan.blocks[b];
        const gts = await readBlockGenotypes(conn, input.run, variants.subarray(first, first + count));
        for (const g of todo) {
          const gs = setupCache.groups[g];
          const { predictions, nConstant } = level0Block(gs.setup, gts);
          constant += nConstant;
          await atomicWriteFile(
            blockFile(input.dir, g, b),
            new Uint8Array(predictions.buffer, predictions.byteOffset, predictions.byteLength),
          );
        }
      }
      heartbeat({ next: b + 1 });
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    }
    return { blocks: input.to - input.from, constant };
  });
}

/**
 * The whole-genome level 0 (`plan.level0 === 'genome'`, stats/ridge-genome.ts): per trait group,
 * Z over every step-1 variant (standardised as a block is), one multi-shift CG solve for all
 * folds, traits and shrinkages, and the prediction split into the plan's blocks (the chromosomes),
 * written as the block files level 1 reads. A group whose files all exist is skipped (a retry
 * resumes at the first group not written). Heartbeats every CG iteration; `signal` aborts
 * between groups.
 */
async function genomeLevel0(
  config: EngineConfig,
  input: Step1Input & { from: number; to: number },
  plan: PlanFile,
  variants: Int32Array,
  done: (g: number, b: number) => Promise<boolean>,
  heartbeat: (c: Level0Cursor) => void,
  signal?: AbortSignal,
): Promise<{ blocks: number; constant: number }> {
  const nb = plan.blocks.length;
  const R = plan.lambdas.length;
  const M = variants.length;
  return withCompute(config, async (conn) => {
    const todo: number[] = [];
    for (let g = 0; g < plan.groups.length; g++)
      for (let b = 0; b < nb; b++)
        if (!(await done(g, b))) {
          todo.push(g);
          break;
        }
    let constant = 0;
    if (todo.length > 0) {
      const setups = await cachedLevel0Setup(conn, input, plan);
      const gts = await readBlockGenotypes(conn, input.run, variants);
      const partOf = new Int32Array(M);
      for (const [b, [, first, count]] of plan.blocks.entries()) partOf.fill(b, first, first + count);
      for (const g of todo) {
        const { setup } = setups.groups[g];
        const { n } = setup;
        const m = setup.nFolds * setup.K;
        const z = genomeMatrix(n, M, Math.max(m, Math.min(R * m, 256)));
        for (let j0 = 0; j0 < M; j0 += plan.settings.blockSize) {
          const std = standardizedBlock(setup, gts.slice(j0, Math.min(M, j0 + plan.settings.blockSize)));
          constant += std.nConstant;
          for (let j = 0; j < std.g.length / n; j++)
            z.z.set(std.g.subarray(j * n, (j + 1) * n), (j0 + j) * z.ld);
        }
        const { parts } = genomeRidge({
          z,
          partOf,
          nParts: nb,
          fold: setup.fold,
          nFolds: setup.nFolds,
          y: setup.y,
          K: setup.K,
          lambdas: setup.lambdas,
          onIteration: () => heartbeat({ next: input.from }),
        });
        for (let b = 0; b < nb; b++) {
          const f32 = Float32Array.from(parts[b]);
          await atomicWriteFile(blockFile(input.dir, g, b), new Uint8Array(f32.buffer));
        }
        if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
      }
    }
    heartbeat({ next: input.to });
    return { blocks: input.to - input.from, constant };
  });
}

/** The packed `gt` vectors of the given variants (sorted variant_idx), in their order. */
async function readBlockGenotypes(
  conn: DuckDBConnection,
  run: RunContext,
  idx: Int32Array,
): Promise<Uint8Array[]> {
  const out = new Array<Uint8Array | null>(idx.length).fill(null);
  const at = new Map<number, number>();
  for (const [k, i] of idx.entries()) at.set(i, k);
  const result = await conn.stream(
    `SELECT variant_idx::INTEGER AS i, gt
     FROM read_parquet(${sqlString(join(run.releaseDir, 'genotypes', '*.parquet'))})
     WHERE variant_idx BETWEEN $1 AND $2`,
    [idx[0], idx[idx.length - 1]],
  );
  const items = new Array<Uint8Array | null>(2048);
  for (
    let chunk = await result.fetchChunk();
    chunk && chunk.rowCount > 0;
    chunk = await result.fetchChunk()
  ) {
    const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
    blobItems(chunk.getColumnVector(1) as DuckDBBlobVector, chunk.rowCount, items);
    for (let r = 0; r < chunk.rowCount; r++) {
      const k = at.get(iv.getItem(r) as number);
      if (k !== undefined) out[k] = items[r];
    }
  }
  const missing = out.indexOf(null);
  if (missing >= 0) throw new Error(`step 1: variant ${idx[missing]} has no genotype row in the release`);
  return out as Uint8Array[];
}

/**
 * Level 1 for every trait of a planned step 1 whose level-0 blocks are all written, group by
 * group on the group's persons: the LOCO predictions per trait (`loco-<k>.f64`, nChrom × n over
 * every analysis-table row, 0 outside the trait's group; trait units or logit), then `loco.json`.
 */
export async function computeLevel1(
  config: EngineConfig,
  input: Step1Input,
  heartbeat: (traitsDone: number) => void,
  signal?: AbortSignal,
): Promise<Step1Summary> {
  const summaryPath = join(input.dir, 'loco.json');
  if (await exists(summaryPath)) return JSON.parse(await readFile(summaryPath, 'utf8')) as Step1Summary;
  const { plan } = await readPlan(input.dir);
  return withCompute(config, async (conn) => {
    const { groups, unobserved, ys, n } = await level0Setup(
      conn,
      input.run,
      input.analysis,
      plan,
      input.traits,
    );
    const { K } = plan;
    const R = plan.lambdas.length;
    const nb = plan.blocks.length;
    const P = nb * R;
    const chromOf = new Int32Array(P);
    for (let b = 0; b < nb; b++) chromOf.fill(plan.blocks[b][0], b * R, (b + 1) * R);
    const traits: Step1Summary['traits'] = Array.from({ length: K }, () => ({
      lambda: Number.NaN,
      status: 'too_few_samples',
      cvLoss: [],
    }));
    let level1Lambdas: number[] = [];
    // One row per chromosome, plus one for a chromosome without step-1 variants (Y, MT, …):
    // leaving out no column, i.e. the prediction from every step-1 variant.
    const nChrom = plan.chroms.length + 1;
    const writeLoco = (k: number, loco: Float64Array) =>
      atomicWriteFile(
        join(input.dir, `loco-${k}.f64`),
        new Uint8Array(loco.buffer, loco.byteOffset, loco.byteLength),
      );
    let finished = 0;
    // A trait observed nowhere: no step 1, LOCO 0 (step 2 is then ordinary regression).
    for (const k of unobserved) {
      await writeLoco(k, new Float64Array(nChrom * n));
      heartbeat(++finished);
    }
    for (const [g, gs] of groups.entries()) {
      const { rows, setup, prepared, design, q } = gs;
      const ng = rows.length;
      const Kg = gs.traits.length;
      // Every block file of the group holds ng × Kg·R float32, trait-major: one trait's R columns
      // are one contiguous slice, read per trait, so memory does not grow with the traits.
      const sliceBytes = R * ng * 4;
      const handles = await Promise.all(
        Array.from({ length: nb }, async (_, b) => {
          const h = await open(blockFile(input.dir, g, b), 'r');
          const size = (await h.stat()).size;
          if (size !== ng * Kg * R * 4) {
            await h.close();
            throw new Error(
              `step 1 ${plan.key}: level-0 block ${b} of group ${g} has ${size} bytes, expected ${ng * Kg * R * 4}`,
            );
          }
          return h;
        }),
      );
      const slice = new Float32Array(R * ng);
      const sliceView = new Uint8Array(slice.buffer);
      try {
        for (const [kk, k] of gs.traits.entries()) {
          // W: this trait's R columns of every block, over the group's persons.
          const W = new Float64Array(ng * P);
          for (let b = 0; b < nb; b++) {
            await handles[b].read(sliceView, 0, sliceBytes, kk * sliceBytes);
            for (let t = 0; t < R * ng; t++) W[b * R * ng + t] = slice[t];
          }
          const yk = Float64Array.from(rows, (i) => ys[k][i]);
          const observed = Uint8Array.from(yk, (v) => (Number.isNaN(v) ? 0 : 1));
          const yFit = plan.binary
            ? Float64Array.from(yk, (v) => (Number.isNaN(v) ? 0 : v))
            : prepared.y.subarray(kk * ng, (kk + 1) * ng);
          const offset = plan.binary ? covariateLogit(yFit, observed, design, q) : null;
          const level1 = (fit: { W: Float64Array; P: number; chromOf: Int32Array; nChrom: number }) => {
            const base = { n: ng, fold: setup.fold, nFolds: setup.nFolds, ...fit, observed, y: yFit };
            return offset ? level1Logistic({ ...base, offset }) : level1Ridge(base);
          };
          let result: Level1Result;
          let level0Index: number | undefined;
          if (plan.level0 === 'genome') {
            // Whole-genome level 0: level 1 on ONE whole-genome column at a time (Σ of the blocks
            // at λ_r), under a chromosome index no LOCO row leaves out (nChrom); the column with
            // the lowest cross-validated loss is kept, and its LOCO rows subtract chromosome c's
            // blocks with its weights (genomeLoco). One column, not all R: the R columns are
            // nearly collinear, and weights fitted on their sums need not carry over to the
            // sums without a chromosome (docs/methods.md).
            const sums = sumBlocks(W, nb, R * ng);
            let best: { result: Level1Result; r: number; loss: number } | null = null;
            for (let r = 0; r < R; r++) {
              const res = level1({
                W: sums.subarray(r * ng, (r + 1) * ng),
                P: 1,
                chromOf: Int32Array.of(nChrom),
                nChrom: nChrom + 1,
              });
              const at = res.lambdas.indexOf(res.lambda);
              const loss = at >= 0 ? res.cvLoss[at] : Number.POSITIVE_INFINITY;
              const better =
                best === null || (res.status === 'ok' && (best.result.status !== 'ok' || loss < best.loss));
              if (better) best = { result: res, r, loss };
            }
            const chosen = best as { result: Level1Result; r: number };
            result = chosen.result;
            level0Index = chosen.r;
            result.loco = genomeLoco(result, W, plan.blocks, setup.fold, nChrom, R, chosen.r, ng);
          } else result = level1({ W, P, chromOf, nChrom });
          // quantitative: back to trait units
          if (!plan.binary) {
            const sk = prepared.scale[kk];
            for (let t = 0; t < result.loco.length; t++) result.loco[t] *= sk;
          }
          // every analysis-table row; 0 for persons outside the group (missing in all its traits)
          const loco = new Float64Array(nChrom * n);
          for (let c = 0; c < nChrom; c++)
            for (let t = 0; t < ng; t++) loco[c * n + rows[t]] = result.loco[c * ng + t];
          await writeLoco(k, loco);
          traits[k] = {
            lambda: result.lambda,
            status: result.status,
            cvLoss: [...result.cvLoss],
            ...(level0Index !== undefined ? { level0Lambda: plan.lambdas[level0Index] } : {}),
          };
          level1Lambdas = [...result.lambdas];
          heartbeat(++finished);
          if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
        }
      } finally {
        await Promise.all(handles.map((h) => h.close()));
      }
    }
    const summary: Step1Summary = {
      key: plan.key,
      level0: plan.level0,
      nSamples: n,
      nVariants: plan.nVariants,
      nBlocks: nb,
      chroms: plan.chroms,
      traits,
      level1Lambdas,
      groups: groups.map((g) => {
        let complete = 0;
        for (const i of g.rows) if (g.traits.every((k) => !Number.isNaN(ys[k][i]))) complete++;
        return { traits: g.traits, nSamples: g.rows.length, jaccard: complete / g.rows.length };
      }),
      unobserved,
    };
    await atomicWriteFile(summaryPath, JSON.stringify(summary));
    return summary;
  });
}

/** Σ over nb consecutive slices of `len` values (the blocks' columns of one trait). */
function sumBlocks(W: Float64Array, nb: number, len: number): Float64Array {
  const out = new Float64Array(len);
  for (let b = 0; b < nb; b++) for (let t = 0; t < len; t++) out[t] += W[b * len + t];
  return out;
}

/**
 * LOCO rows of a whole-genome level 0 whose level 1 kept column r: row c = the level-1 prediction
 * minus chromosome c's blocks at λ_r weighted by the level-1 coefficient of each person's fold,
 * β_{f(i)} W_{b,r}(i); the last row (no chromosome) keeps the whole prediction.
 */
function genomeLoco(
  result: Level1Result,
  W: Float64Array,
  blocks: [number, number, number][],
  fold: Uint8Array,
  nChrom: number,
  R: number,
  r: number,
  n: number,
): Float64Array {
  const loco = result.loco.slice(0, nChrom * n);
  for (const [b, [c]] of blocks.entries()) {
    const col = (b * R + r) * n;
    for (let i = 0; i < n; i++) loco[c * n + i] -= result.beta[fold[i]] * W[col + i];
  }
  return loco;
}

/**
 * The covariate-only null logit η = Zγ̂ of a binary trait (fitted on the observed samples, Firth
 * if the ML fit fails; the case fraction's logit if both fail), for everyone: level 1's offset.
 */
function covariateLogit(
  y: Float64Array,
  observed: Uint8Array,
  design: Float64Array,
  q: number,
): Float64Array {
  const n = y.length;
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (observed[i]) rows.push(i);
  const m = rows.length;
  const ys = new Float64Array(m);
  const zAll = new Float64Array(m * q);
  for (const [s, i] of rows.entries()) {
    ys[s] = y[i];
    for (let j = 0; j < q; j++) zAll[j * m + s] = design[j * n + i];
  }
  // Columns constant or collinear on the observed rows (e.g. sex for a sex-restricted phecode,
  // whose other-sex persons are excluded) are dropped, as the PheWAS fit drops them.
  const kept = orthonormalBasis(zAll, m, q).kept;
  const p = kept.length;
  const zs = new Float64Array(m * p);
  for (const [t, j] of kept.entries()) zs.set(zAll.subarray(j * m, (j + 1) * m), t * m);
  let fit = logisticFit(ys, zs, p);
  if (fit.status !== 'ok') fit = firthFit(ys, zs, p);
  const eta = new Float64Array(n);
  if (fit.status !== 'ok') {
    // no covariate model (e.g. separation that Firth cannot fit either): the case fraction alone
    let cases = 0;
    for (let s = 0; s < m; s++) cases += ys[s];
    const f = Math.min(Math.max(cases / Math.max(m, 1), 1e-6), 1 - 1e-6);
    return eta.fill(Math.log(f / (1 - f)));
  }
  for (const [t, j] of kept.entries()) {
    const b = fit.beta[t];
    for (let i = 0; i < n; i++) eta[i] += b * design[j * n + i];
  }
  return eta;
}

/**
 * The LOCO offsets of one chromosome for every trait of a finished step 1 (per trait, n values in
 * analysis-table order). A chromosome without step-1 variants (Y, MT) gets the prediction from
 * all step-1 variants: there is nothing of its own to leave out.
 */
export async function locoOffsets(dir: string, chrom: string, K: number): Promise<Float64Array[]> {
  const summary = JSON.parse(await readFile(join(dir, 'loco.json'), 'utf8')) as Step1Summary;
  const n = summary.nSamples;
  const c = summary.chroms.indexOf(chrom);
  const rows = summary.chroms.length + 1;
  const row = c >= 0 ? c : summary.chroms.length;
  const out: Float64Array[] = [];
  for (let k = 0; k < K; k++) {
    const buf = await readFile(join(dir, `loco-${k}.f64`));
    const all = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    if (all.length !== rows * n)
      throw new Error(`step 1 ${summary.key}: loco-${k}.f64 has ${all.length} values, expected ${rows * n}`);
    out.push(all.slice(row * n, (row + 1) * n));
  }
  return out;
}
