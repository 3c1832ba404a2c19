/**
 * LOCO for BINARY traits on data with planted relatedness (issue 14's calibration check, the
 * logistic half; test/association/loco-calibration.test.ts does the quantitative half on the same
 * synthetic release: 3,000 persons, 20,000 variants, seed 4, 40 % of persons in sibships of 4).
 *
 * The binary traits are derived HERE (synth/ is unchanged), by a liability-threshold model
 * (Falconer 1965) on the polygenic HEIGHT's genetic value:
 *   g_i = Σ_j b_j z_ij over HEIGHT's causal variants (truth.json `polygenic`: the 4 large and the
 *         small effects, b = betaStd; z = the ALT count standardised by the analysis sample's
 *         allele frequency, missing calls 0): the generator's genetic value without the ancestry
 *         means (corr(g, HEIGHT) ≈ √h² is checked);
 *   L_ri = √h² · g_i / sd(g) + √(1 − h²) · e_ri,   e_ri ~ N(0, 1) seeded, h² = 0.5;
 *   y_ri = 1 when L_ri is at or above the sample's 75th percentile of L_r (25 % cases).
 * The 75th percentile rather than the 85th keeps the study defaults as they are without SPA
 * (`spa: 'auto'` applies below 20 % cases, and SPA doubles step 2's time here; it changes tail
 * p-values, not the median). Measured with the 85th percentile and SPA while building this:
 * pooled λGC plain 1.068, LOCO 1.011.
 *
 * R = 8 replicates share the genotypes, the families and g, and differ in e. One trait's λGC
 * varies by about ±0.05 between replicates at this size (single traits measured while building
 * this: plain 1.150 / LOCO 1.117 for one, 1.046 / 0.965 for another), so λGC is pooled: the
 * median of all replicates' null χ² together.
 *
 * Path: the analysis table (samples; age, sex, PC1–4) comes from a real phenotype-first run;
 * then the functions the workflow's activities call: the R traits as a step-1 trait file
 * (`Step1Traits`, as the lead-locus PheWAS uses), `planStep1` → `computeLevel0` (every task) →
 * `computeLevel1` (level-1 logistic ridge, covariate logit as offset) → `locoOffsets`; step 2 is
 * `prepareLogistic` + `logisticTestVariant` with the study's default options, as gwas/shard.ts
 * calls them (score test, full fit below p 0.05, Firth fallback, SPA auto), without offset
 * (plain) and with the LOCO logit of the variant's chromosome (LOCO).
 *
 * Null variants: MAF ≥ 1 %, call rate ≥ 95 %, autosomal, outside every block holding a HEIGHT
 * causal variant (truth.json `polygenic.causalBlocks`); every second one in genome order.
 * λGC = median χ²(1) / 0.4549364, χ²(1) from each row's p.
 *
 * Asserted: pooled LOCO λGC in [0.95, 1.05]; pooled plain λGC − LOCO λGC > 0.03. The issue's
 * "plain > 1.1" does not hold for a binary trait of this design and is not asserted: the
 * expected sibling inflation of a null test is E[χ²] − 1 ≈ share·(size − 1)·ρ/2, with ρ the
 * sibs' trait correlation, here ρ = (h²/2)·φ(t)²/(K(1 − K)) ≈ 0.135 on the observed 0/1 scale
 * (Dempster & Lerner 1950; K = 0.25, t = Φ⁻¹(0.75)), i.e. E[χ²] ≈ 1.08 — against 1.15 for
 * HEIGHT itself. Asserted instead: pooled plain λGC > 1.03 (measured 1.060; LOCO 0.994).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBBlobValue } from '@duckdb/node-api';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import { releaseSamples } from '../../gwas/ld.js';
import { computeLevel0, computeLevel1, locoOffsets, planStep1, type Step1Traits } from '../../gwas/step1.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, RunContext, StudyResult } from '../../schemas/study-io.js';
import { logisticTestVariant, prepareLogistic } from '../../stats/logistic.js';
import { PackedCalls } from '../../stats/packed.js';
import { allocAssocColumns, STATUS_CODE } from '../../stats/status.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { rng } from '../helpers/rng.js';
import { ingestManifest } from '../helpers/study-fixture.js';

const PERSONS = 3000;
const VARIANTS = 20_000;
const REPLICATES = 8;
const H2 = 0.5;
/** Cases are the persons at or above the (1 − PREVALENCE) quantile of the liability. */
const PREVALENCE = 0.25;
const tmp = mkdtempSync(join(tmpdir(), 'biobank-loco-bin-'));

let engine: TestEngine;
let worker: { stop(): Promise<void> };

interface Truth {
  polygenic: {
    causal: { id: string; betaStd: number }[];
    small: { id: string; betaStd: number }[];
    causalBlocks: { chrom: string; start: number; end: number }[];
  };
}

interface Variant {
  idx: number;
  id: string;
  chrom: string;
  pos: number;
  gt: Uint8Array;
}

/** What the beforeAll leaves for the checks. */
const fx = {
  n: 0,
  height: new Float64Array(0) as Float64Array,
  g: new Float64Array(0) as Float64Array,
  ys: [] as Float64Array[],
  statuses: [] as string[],
  /** per replicate: χ²(1) of every null variant tested ok, plain and LOCO */
  plain: [] as number[][],
  loco: [] as number[][],
  /** the same with `loco.level0: 'genome'` (the whole-genome level 0) */
  genome: [] as number[][],
  genomeStatuses: [] as string[],
  level0: { auto: '', genome: '' },
  nNull: 0,
  seconds: { step1: 0, step2: 0, genomeStep1: 0 },
};

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** χ²(1) of a two-sided p given as −log10 p (z = Φ⁻¹(1 − p/2)): score, SPA and Wald rows alike. */
function chiOf(nlp: number): number {
  const z = normalQuantile(1 - 10 ** -nlp / 2, 0, 1);
  return z * z;
}

/** λGC: the median χ²(1) over the median of χ²(1), 0.454936423119572. */
function lambdaGc(chi: number[]): number {
  const s = [...chi].sort((a, b) => a - b);
  const m = s.length;
  const med = m % 2 ? s[(m - 1) / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
  return med / 0.454936423119572;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** ALT count of analysis sample i (release position s) from a packed `gt`; 3 = missing. */
const code = (gt: Uint8Array, s: number) => (gt[s >> 2] >> ((s & 3) * 2)) & 3;

/** g = Σ b·z over the causal variants (z standardised by the analysis sample's allele frequency). */
function geneticValue(causal: Variant[], beta: Map<string, number>, sampleIdx: Int32Array): Float64Array {
  const n = sampleIdx.length;
  const g = new Float64Array(n);
  for (const v of causal) {
    let sum = 0;
    let called = 0;
    for (let i = 0; i < n; i++) {
      const c = code(v.gt, sampleIdx[i]);
      if (c !== 3) {
        sum += c;
        called++;
      }
    }
    const p = sum / (2 * called);
    const sd = Math.sqrt(2 * p * (1 - p));
    if (!(sd > 0)) continue;
    const b = beta.get(v.id) as number;
    for (let i = 0; i < n; i++) {
      const c = code(v.gt, sampleIdx[i]);
      if (c !== 3) g[i] += (b * (c - 2 * p)) / sd;
    }
  }
  return g;
}

/** R binary traits by the liability-threshold model of the module comment. */
function binaryTraits(g: Float64Array): Float64Array[] {
  const n = g.length;
  const mean = g.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(g.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
  const r = rng(20261206);
  return Array.from({ length: REPLICATES }, () => {
    const L = Float64Array.from(g, (x) => Math.sqrt(H2) * ((x - mean) / sd) + Math.sqrt(1 - H2) * r.normal());
    const threshold = Float64Array.from(L).sort()[Math.floor((1 - PREVALENCE) * n)];
    return Float64Array.from(L, (x) => (x >= threshold ? 1 : 0));
  });
}

function heightSpec(releaseId: string): StudySpec {
  return studySpecSchema.parse({
    studyId: 'height-analysis',
    kind: 'phenotype-first',
    release: releaseId,
    phenotype: { type: 'column', table: 'pheno', column: 'HEIGHT', trait: 'quantitative' },
    covariates: ['age', 'sex', 'PC1', 'PC2', 'PC3', 'PC4'],
    // the run only provides the analysis table: its own GWAS is kept to one chromosome
    gwas: { shardVariants: 5000, maxParallelShards: 2, chromosomes: ['22'] },
    phewas: { phecodeVersion: '1.2', leadLoci: { max: 0 } },
  });
}

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  const synth = await generateBiobank({
    size: 'custom',
    persons: PERSONS,
    variants: VARIANTS,
    seed: 4,
    releaseId: 'loco-families-binary',
    out: join(tmp, 'synth'),
    families: { share: 0.4, size: 4 },
  });
  const truth = JSON.parse(readFileSync(synth.truthPath, 'utf8')) as Truth;
  const release = await ingestManifest(engine.client, engine.taskQueue, synth.manifestPath);
  const spec = heightSpec(release.releaseId);
  const runId = await runIdOf(engine.config, spec);
  (await engine.client.workflow.execute('phenotypeFirstStudy', {
    workflowId: runId,
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
  const dir = runDir(engine.dataDir, runId);
  const analysis = JSON.parse(readFileSync(join(dir, 'analysis.parquet.json'), 'utf8')) as AnalysisTable;
  const releaseDir = join(engine.dataDir, 'releases', release.releaseId, release.fingerprint.slice(0, 12));
  const run: RunContext = {
    runId: 'loco-binary',
    studyId: 'loco-binary',
    releaseId: release.releaseId,
    releaseFingerprint: release.fingerprint,
    releaseDir,
    specHash: 'loco-binary',
    runDir: join(tmp, 'run'),
  };
  mkdirSync(run.runDir, { recursive: true });
  const gwas = spec.kind === 'phenotype-first' ? spec.gwas : (undefined as never);

  // Samples, covariates, HEIGHT; the causal and the null variants' packed calls.
  const causalIds = new Set([...truth.polygenic.causal, ...truth.polygenic.small].map((v) => v.id));
  const beta = new Map([...truth.polygenic.causal, ...truth.polygenic.small].map((v) => [v.id, v.betaStd]));
  const inBlock = (chrom: string, pos: number) =>
    truth.polygenic.causalBlocks.some((b) => b.chrom === chrom && pos >= b.start - 1 && pos <= b.end + 1);
  const { sampleIdx, cov, height, nGeno, variants } = await withCompute(engine.config, async (conn) => {
    const t = (
      await conn.runAndReadAll(`SELECT * FROM read_parquet(${q(analysis.path)}) ORDER BY sample_idx`)
    ).getRowObjectsJS() as Record<string, unknown>[];
    const covCols = analysis.covariates.map((c) => `cov_${c}`);
    const n = t.length;
    const cov = new Float64Array(n * covCols.length);
    for (const [j, k] of covCols.entries()) for (let i = 0; i < n; i++) cov[j * n + i] = Number(t[i][k]);
    const nGeno = await releaseSamples(conn, releaseDir);
    const rows = (
      await conn.runAndReadAll(
        `SELECT v.variant_idx::INTEGER AS idx, v.chrom::VARCHAR AS chrom, v.pos::INTEGER AS pos,
                v.chrom || ':' || v.pos || ':' || v.ref || ':' || v.alt AS id,
                least(v.af, 1 - v.af) AS maf, v.call_rate AS cr, g.gt
         FROM read_parquet(${q(join(releaseDir, 'variants.parquet'))}) v
         JOIN read_parquet(${q(join(releaseDir, 'genotypes', '*.parquet'))}) g USING (variant_idx)
         ORDER BY v.variant_idx`,
      )
    ).getRowObjectsJS() as {
      idx: number;
      chrom: string;
      pos: number;
      id: string;
      maf: number;
      cr: number;
      gt: DuckDBBlobValue | Uint8Array;
    }[];
    const variants = rows
      .filter(
        (r) =>
          causalIds.has(r.id) ||
          (r.maf >= 0.01 && r.cr >= 0.95 && /^\d+$/.test(r.chrom) && !inBlock(r.chrom, r.pos)),
      )
      .map((r) => ({
        idx: r.idx,
        id: r.id,
        chrom: r.chrom,
        pos: r.pos,
        gt: r.gt instanceof Uint8Array ? r.gt : Uint8Array.from(r.gt.bytes),
      }));
    return {
      sampleIdx: Int32Array.from(t, (r) => Number(r.sample_idx)),
      cov,
      height: Float64Array.from(t, (r) => Number(r.y)),
      nGeno,
      variants,
    };
  });
  const n = sampleIdx.length;
  const c = analysis.covariates.length;
  fx.n = n;
  fx.height = height;
  fx.g = geneticValue(
    variants.filter((v) => causalIds.has(v.id)),
    beta,
    sampleIdx,
  );
  fx.ys = binaryTraits(fx.g);

  // Step 1 over the R traits (one shared level 0), through the activities' functions.
  const traitsPath = join(run.runDir, 'traits.f64');
  const all = new Float64Array(n * REPLICATES);
  for (const [k, y] of fx.ys.entries()) all.set(y, k * n);
  writeFileSync(traitsPath, new Uint8Array(all.buffer));
  const traits: Step1Traits = { path: traitsPath, K: REPLICATES, binary: true };
  const step1 = async (g: typeof gwas) => {
    const plan = await withCompute(engine.config, (conn) =>
      planStep1(conn, engine.config, run, analysis, g, traits),
    );
    for (const task of plan.tasks)
      await computeLevel0(engine.config, { run, analysis, dir: plan.dir, traits, ...task }, () => {});
    const summary = await computeLevel1(engine.config, { run, analysis, dir: plan.dir, traits }, () => {});
    return { dir: plan.dir, summary };
  };
  let t0 = performance.now();
  const auto = await step1(gwas);
  fx.statuses = auto.summary.traits.map((t) => t.status);
  fx.level0.auto = auto.summary.level0;
  fx.seconds.step1 = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const whole = await step1({ ...gwas, loco: { level0: 'genome' } });
  fx.genomeStatuses = whole.summary.traits.map((t) => t.status);
  fx.level0.genome = whole.summary.level0;
  fx.seconds.genomeStep1 = (performance.now() - t0) / 1000;

  // Step 2 on the null variants: plain, and with the LOCO logit of the variant's chromosome.
  t0 = performance.now();
  // every second null variant (genome order): halves step 2's time, the replicates pool the noise
  const nulls = variants.filter((v) => !causalIds.has(v.id)).filter((_, t) => t % 2 === 0);
  fx.nNull = nulls.length;
  const byChrom = new Map<string, Variant[]>();
  for (const v of nulls) byChrom.set(v.chrom, [...(byChrom.get(v.chrom) ?? []), v]);
  const codes = new Uint8Array(Math.ceil(nGeno / 4) * 4);
  const opts = {
    missing: 'drop' as const,
    fullFitBelow: gwas.scoreThreshold,
    firth: gwas.firth,
    spa: gwas.spa,
    spaCaseFraction: gwas.spaCaseFraction,
  };
  const prep = (y: Float64Array, offset: Float64Array | null) =>
    prepareLogistic(y, cov, c, nGeno, sampleIdx, { ...opts, offset });
  const test = (model: ReturnType<typeof prepareLogistic>, vs: Variant[], into: number[]) => {
    const out = allocAssocColumns(vs.length);
    for (const [r, v] of vs.entries())
      logisticTestVariant(model, new PackedCalls(v.gt, nGeno, codes), out, r);
    for (let r = 0; r < vs.length; r++)
      if (out.status[r] === STATUS_CODE.ok) into.push(chiOf(out.mlog10p[r]));
  };
  fx.plain = fx.ys.map(() => []);
  for (const [k, y] of fx.ys.entries()) test(prep(y, null), nulls, fx.plain[k]);
  const withLoco = async (dir: string) => {
    const chis: number[][] = fx.ys.map(() => []);
    for (const [chrom, vs] of byChrom) {
      const offsets = await locoOffsets(dir, chrom, REPLICATES);
      for (const [k, y] of fx.ys.entries()) test(prep(y, offsets[k]), vs, chis[k]);
    }
    return chis;
  };
  fx.loco = await withLoco(auto.dir);
  fx.seconds.step2 = (performance.now() - t0) / 1000;
  fx.genome = await withLoco(whole.dir);
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('LOCO on related samples, binary traits (liability threshold on the HEIGHT genetic value)', () => {
  it('derives the traits as documented: g tracks HEIGHT, 25 % cases, level 1 fitted for every replicate', () => {
    // HEIGHT = mean + sd·(ancestry + g + √(1 − h²) e): g explains about h² of it
    const r = pearson(fx.g, fx.height);
    console.log(`corr(g, HEIGHT) = ${r.toFixed(3)} over ${fx.n} persons`);
    expect(r).toBeGreaterThan(0.6);
    for (const y of fx.ys) {
      const cases = y.reduce((s, v) => s + v, 0);
      expect(cases).toBe(fx.n - Math.floor((1 - PREVALENCE) * fx.n));
    }
    expect(fx.statuses).toEqual(Array(REPLICATES).fill('ok'));
    expect(fx.genomeStatuses).toEqual(Array(REPLICATES).fill('ok'));
    // binary traits: `auto` keeps the blocks
    expect(fx.level0).toEqual({ auto: 'blocks', genome: 'genome' });
  });

  it('LOCO is calibrated on null variants (pooled 0.95 ≤ λGC ≤ 1.05), plain logistic regression is inflated', () => {
    const lp = fx.plain.map(lambdaGc);
    const ll = fx.loco.map(lambdaGc);
    const pooledPlain = lambdaGc(fx.plain.flat());
    const pooledLoco = lambdaGc(fx.loco.flat());
    console.log(
      `binary LOCO calibration: ${fx.nNull} null variants × ${REPLICATES} traits; ` +
        `step 1 ${fx.seconds.step1.toFixed(1)} s, step 2 ${fx.seconds.step2.toFixed(1)} s\n` +
        `  λGC plain per trait ${lp.map((x) => x.toFixed(3)).join(' ')}\n` +
        `  λGC LOCO  per trait ${ll.map((x) => x.toFixed(3)).join(' ')}\n` +
        `  pooled: plain ${pooledPlain.toFixed(3)}, LOCO ${pooledLoco.toFixed(3)}`,
    );
    for (let k = 0; k < REPLICATES; k++) {
      expect(fx.plain[k].length).toBeGreaterThan(1500);
      expect(fx.loco[k].length).toBe(fx.plain[k].length);
    }
    expect(pooledLoco).toBeGreaterThanOrEqual(0.95);
    expect(pooledLoco).toBeLessThanOrEqual(1.05);
    expect(pooledPlain).toBeGreaterThan(pooledLoco);
    expect(pooledPlain - pooledLoco).toBeGreaterThan(0.03);
    // Expected ≈ 1.08 for this trait (module comment); the 1.1 is HEIGHT's figure.
    expect(pooledPlain).toBeGreaterThan(1.03);
    console.log(`plain > LOCO in ${lp.filter((x, k) => x > ll[k]).length} of ${REPLICATES} traits`);
  });

  // `auto` keeps the blocks for binary traits: the whole genome over-corrects a little here
  // (pooled 0.955 measured; docs/methods.md). It must still stay inside the band.
  it('with the whole-genome level 0 (asked for explicitly) LOCO stays inside 0.95–1.05', () => {
    const pooledPlain = lambdaGc(fx.plain.flat());
    const pooled = lambdaGc(fx.genome.flat());
    console.log(
      `binary LOCO, whole-genome level 0: step 1 ${fx.seconds.genomeStep1.toFixed(1)} s; ` +
        `λGC per trait ${fx.genome.map((c) => lambdaGc(c).toFixed(3)).join(' ')}; pooled ${pooled.toFixed(3)}`,
    );
    for (let k = 0; k < REPLICATES; k++) expect(fx.genome[k].length).toBe(fx.plain[k].length);
    expect(pooled).toBeGreaterThanOrEqual(0.95);
    expect(pooled).toBeLessThanOrEqual(1.05);
    expect(pooledPlain - pooled).toBeGreaterThan(0.03);
  });
});
