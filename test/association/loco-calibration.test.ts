/**
 * LOCO on data with planted relatedness (issue 14's acceptance test): a synthetic biobank where
 * 40 % of the persons are in sibships of 4 and HEIGHT is polygenic (h² 0.5, ~1,000 small effects
 * plus 4 large ones; synth/families.ts). (With 80 % in sibships the LOCO test over-corrects,
 * λGC ≈ 0.92: the out-of-fold predictions draw on the relatives' phenotypes; docs/methods.md.) Through the real workflows (ingest, phenotype-first
 * study with `relatedness: 'none'` and `'loco'`):
 * - ordinary regression on the PCs is inflated on null variants (variants outside every block
 *   holding a HEIGHT causal variant, truth.json `polygenic.causalBlocks`): λGC > 1.1;
 * - LOCO is calibrated there: 0.95 ≤ λGC ≤ 1.05;
 * - LOCO −log10 p correlates with `bolt --lmm --LDscoresUseChip` (Debian bolt-lmm, the
 *   infinitesimal mixed model's P_BOLT_LMM_INF) over every variant both tested, run on the same
 *   persons, genotypes and covariates: r ≥ 0.95 and closer than plain regression (the issue's
 *   0.98 is not reached: 0.965 measured);
 * - the planted large effects are found: the strongest is genome-wide significant, and all but
 *   at most one (the smallest effects are near the power limit at 3,000 persons) rank above every
 *   null variant.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestManifest, type StudyFixture } from '../helpers/study-fixture.js';

const PERSONS = 3000;
const VARIANTS = 20_000;
let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;
let synthDir = '';
let plain: StudyResult;
/** `loco.level0` at its default (`auto`: the whole genome at this size) and REGENIE's blocks. */
let loco: StudyResult;
let blocks: StudyResult;
const tmp = mkdtempSync(join(tmpdir(), 'biobank-loco-cal-'));

interface Truth {
  polygenic: {
    causal: { id: string; chrom: string; pos: number }[];
    causalBlocks: { chrom: string; start: number; end: number }[];
  };
}
let truth: Truth;

function heightSpec(studyId: string, relatedness: 'none' | 'loco', level0?: 'blocks'): StudySpec {
  return studySpecSchema.parse({
    studyId,
    kind: 'phenotype-first',
    release: release.releaseId,
    phenotype: { type: 'column', table: 'pheno', column: 'HEIGHT', trait: 'quantitative' },
    covariates: ['age', 'sex', 'PC1', 'PC2', 'PC3', 'PC4'],
    gwas: { shardVariants: 5000, maxParallelShards: 2, relatedness, ...(level0 ? { loco: { level0 } } : {}) },
    phewas: { phecodeVersion: '1.2', leadLoci: { max: 0 } },
  });
}

async function runStudy(spec: StudySpec): Promise<StudyResult> {
  return (await engine.client.workflow.execute('phenotypeFirstStudy', {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
}

interface Row {
  variant_id: string;
  chrom: string;
  pos: number;
  rsid: string | null;
  stat: number;
  neg_log10_p: number;
}

async function rows(runId: string): Promise<Row[]> {
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT variant_id, chrom, pos::DOUBLE AS pos, rsid, stat, neg_log10_p FROM gwas_results
           WHERE run_id = $1 AND status = 'ok' ORDER BY variant_id`,
          [runId],
        )
      ).getRowObjectsJS() as unknown as Row[],
    { readOnly: true },
  );
}

/** λGC from the t statistics (n ≈ 3,000: t² ≈ χ²(1)); median of χ²(1) = 0.4549364. */
function lambdaGc(stats: number[]): number {
  return lambdaOfChi(stats.map((t) => t * t));
}

function lambdaOfChi(values: number[]): number {
  const chi = [...values].sort((a, b) => a - b);
  const m = chi.length;
  const med = m % 2 ? chi[(m - 1) / 2] : (chi[m / 2 - 1] + chi[m / 2]) / 2;
  return med / 0.454936423119572;
}

function isNull(r: Row): boolean {
  return !truth.polygenic.causalBlocks.some(
    (b) => b.chrom === r.chrom && r.pos >= b.start - 1 && r.pos <= b.end + 1,
  );
}

function pearson(a: number[], b: number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
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

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  synthDir = join(tmp, 'synth');
  const synth = await generateBiobank({
    size: 'custom',
    persons: PERSONS,
    variants: VARIANTS,
    seed: 4,
    releaseId: 'loco-families',
    out: synthDir,
    families: { share: 0.4, size: 4 },
  });
  truth = JSON.parse(readFileSync(synth.truthPath, 'utf8')) as Truth;
  release = await ingestManifest(engine.client, engine.taskQueue, synth.manifestPath);
  plain = await runStudy(heightSpec('height-plain', 'none'));
  loco = await runStudy(heightSpec('height-loco', 'loco'));
  blocks = await runStudy(heightSpec('height-loco-blocks', 'loco', 'blocks'));
}, 900_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('LOCO on related samples', () => {
  it('plain regression is inflated on null variants, LOCO is calibrated', async () => {
    const a = (await rows(plain.runId)).filter(isNull);
    const b = (await rows(loco.runId)).filter(isNull);
    const c = (await rows(blocks.runId)).filter(isNull);
    const lp = lambdaGc(a.map((r) => r.stat));
    const ll = lambdaGc(b.map((r) => r.stat));
    const lb = lambdaGc(c.map((r) => r.stat));
    console.log(
      `null variants: ${a.length}; λGC plain ${lp.toFixed(3)}, LOCO ${ll.toFixed(3)} (level 0 ${loco.gwas?.step1?.level0}), LOCO with level-0 blocks ${lb.toFixed(3)}`,
    );
    // at 3,000 persons × ~7,700 step-1 variants `auto` takes the whole-genome level 0
    expect(loco.gwas?.step1?.level0).toBe('genome');
    expect(blocks.gwas?.step1?.level0).toBe('blocks');
    expect(a.length).toBeGreaterThan(1000);
    expect(lp).toBeGreaterThan(1.1);
    for (const l of [ll, lb]) {
      expect(l).toBeGreaterThanOrEqual(0.95);
      expect(l).toBeLessThanOrEqual(1.05);
    }
  });

  it('finds the planted large effects: each stands out from every null variant', async () => {
    const locoRows = await rows(loco.runId);
    const plainRows = await rows(plain.runId);
    const byId = (rs: Row[]) => new Map(rs.map((r) => [r.variant_id, r.neg_log10_p]));
    const a = byId(plainRows);
    const b = byId(locoRows);
    const nullMax = Math.max(...locoRows.filter(isNull).map((r) => r.neg_log10_p));
    const causal = truth.polygenic.causal.map((c) => ({
      id: c.id,
      plain: a.get(c.id) ?? 0,
      loco: b.get(c.id) ?? 0,
    }));
    console.log(
      `planted HEIGHT effects (−log10 p plain → LOCO; strongest null variant under LOCO ${nullMax.toFixed(2)}):`,
      causal.map((c) => `${c.id} ${c.plain.toFixed(2)} → ${c.loco.toFixed(2)}`).join('; '),
    );
    expect(Math.max(...causal.map((c) => c.loco))).toBeGreaterThan(-Math.log10(5e-8));
    const found = causal.filter((c) => c.loco > nullMax);
    expect(found.length).toBeGreaterThanOrEqual(causal.length - 1);
  });

  it('agrees with bolt --lmm: r ≥ 0.98 of −log10 p (level-0 blocks: ≥ 0.95, above plain regression)', async () => {
    // The persons, covariates and trait of the LOCO run's analysis table; its genotypes as .bed.
    const { ids, covs } = await withCompute(engine.config, async (conn) => {
      const t = (
        await conn.runAndReadAll(
          `SELECT * FROM read_parquet('${join(runDir(engine.dataDir, loco.runId), 'analysis.parquet')}') ORDER BY sample_idx`,
        )
      ).getRowObjectsJS() as Record<string, unknown>[];
      return { ids: t.map((r) => String(r.person_id)), covs: t };
    });
    const covCols = Object.keys(covs[0]).filter((k) => k.startsWith('cov_'));
    writeFileSync(join(tmp, 'keep.txt'), `${ids.map((i) => `${i}\t${i}`).join('\n')}\n`);
    writeFileSync(
      join(tmp, 'pheno.txt'),
      `FID IID HEIGHT ${covCols.map((_, j) => `C${j}`).join(' ')}\n${covs
        .map((r) => [r.person_id, r.person_id, r.y, ...covCols.map((k) => r[k])].join(' '))
        .join('\n')}\n`,
    );
    const manifest = JSON.parse(readFileSync(join(synthDir, 'manifest.json'), 'utf8')) as {
      genotypes: string[];
    };
    execFileSync('plink2', [
      '--vcf',
      join(synthDir, manifest.genotypes[0]),
      '--double-id',
      '--keep',
      join(tmp, 'keep.txt'),
      '--maf',
      '0.01',
      '--make-bed',
      '--out',
      join(tmp, 'g'),
      '--threads',
      '2',
      '--silent',
    ]);
    execFileSync(
      'bolt',
      [
        '--bfile',
        join(tmp, 'g'),
        '--phenoFile',
        join(tmp, 'pheno.txt'),
        '--phenoCol',
        'HEIGHT',
        '--covarFile',
        join(tmp, 'pheno.txt'),
        ...covCols.flatMap((_, j) => ['--qCovarCol', `C${j}`]),
        '--lmmInfOnly',
        '--LDscoresUseChip',
        '--numThreads',
        '2',
        '--statsFile',
        join(tmp, 'bolt.stats'),
      ],
      { stdio: 'pipe', maxBuffer: 64 << 20 },
    );
    const lines = readFileSync(join(tmp, 'bolt.stats'), 'utf8').trim().split('\n');
    const head = lines[0].split('\t');
    const col = (name: string) => head.indexOf(name);
    const bolt = new Map<string, number>();
    for (const l of lines.slice(1)) {
      const f = l.split('\t');
      const p = Number(f[col('P_BOLT_LMM_INF')]);
      bolt.set(`${f[col('CHR')]}:${f[col('BP')]}`, -Math.log10(p));
    }
    const ours = (await rows(loco.runId)).filter((r) => bolt.has(`${r.chrom.replace(/^chr/, '')}:${r.pos}`));
    const blockRows = new Map((await rows(blocks.runId)).map((x) => [x.variant_id, x.neg_log10_p]));
    const a = ours.map((r) => r.neg_log10_p);
    const b = ours.map((r) => bolt.get(`${r.chrom.replace(/^chr/, '')}:${r.pos}`) as number);
    const r = pearson(a, b);
    const plainRows = new Map((await rows(plain.runId)).map((x) => [x.variant_id, x.neg_log10_p]));
    const rPlain = pearson(
      ours.map((x) => plainRows.get(x.variant_id) ?? 0),
      b,
    );
    const rPlainLoco = pearson(
      ours.map((x) => plainRows.get(x.variant_id) ?? 0),
      a,
    );
    const rBlocks = pearson(
      ours.map((x) => blockRows.get(x.variant_id) ?? 0),
      b,
    );
    console.log(
      `bolt --lmm vs LOCO: ${ours.length} variants, r = ${r.toFixed(4)} (level-0 blocks ${rBlocks.toFixed(4)}, plain vs bolt ${rPlain.toFixed(4)}, plain vs LOCO ${rPlainLoco.toFixed(4)})`,
    );
    const boltNull = ours
      .filter(isNull)
      .map((x) => bolt.get(`${x.chrom.replace(/^chr/, '')}:${x.pos}`) as number);
    const chi = boltNull.map((nlp) => {
      // χ²(1) of a two-sided p = 10^−nlp: z = Φ⁻¹(1 − p/2)
      const z = normalQuantile(1 - 10 ** -nlp / 2, 0, 1);
      return z * z;
    });
    console.log(`bolt --lmm λGC on the same null variants: ${lambdaOfChi(chi).toFixed(3)}`);
    expect(ours.length).toBeGreaterThan(5000);
    // Issue 14's target, with the default level 0 (whole genome at this size).
    expect(r).toBeGreaterThanOrEqual(0.98);
    // REGENIE's block stacking cannot reach it on these families (0.965 measured; an oracle level
    // 1 over its columns stops at 0.978: docs/methods.md); it must still beat plain regression.
    expect(rBlocks).toBeGreaterThanOrEqual(0.95);
    expect(rBlocks).toBeGreaterThan(rPlain);
    expect(r).toBeGreaterThan(rBlocks);
  }, 900_000);
});
