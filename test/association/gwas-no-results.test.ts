/**
 * Every GWAS summary counts result rows by status, and a GWAS in which no variant produced a
 * result (every row collinear, or every variant removed by QC) fails with those counts as bad
 * input (non-retryable), instead of "completing" with an empty gwas_results.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toFailure } from '../../activities/failures.js';
import { createGwasActivities } from '../../activities/gwas.js';
import { InputError } from '../../engine/errors.js';
import { gwasSpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, RunContext } from '../../schemas/study-io.js';
import { loadConfig } from '../../temporal.config.js';
import { runActivity } from '../helpers/activity.js';
import {
  type FixtureVariant,
  writeAnalysisFixture,
  writeReleaseFixture,
} from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';

const N = 300;
const M = 120;
let dir = '';
let run: RunContext;
let good: AnalysisTable;
let collinear: AnalysisTable;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'biobank-gwas-none-'));
  const r = rng(7);
  const ids = Array.from({ length: N }, (_, i) => `S${i + 1}`);
  const variants: FixtureVariant[] = [];
  for (let j = 0; j < M; j++) {
    // every 10th variant monomorphic (no ALT), the rest common
    const af = j % 10 === 3 ? 0 : 0.1 + 0.3 * r.next();
    const gt = Uint8Array.from({ length: N }, () => (r.next() < af ? 1 : 0) + (r.next() < af ? 1 : 0));
    variants.push({
      chrom: '1',
      pos: 1000 + j * 100,
      ref: 'A',
      alt: 'C',
      gt,
      shard: `s${Math.floor(j / 60)}`,
    });
  }
  const c1 = Float64Array.from({ length: N }, () => r.normal());
  const y = Float64Array.from({ length: N }, (_, i) => 0.3 * c1[i] + r.normal());
  await writeReleaseFixture(join(dir, 'release'), ids, variants);
  await writeAnalysisFixture(join(dir, 'good.parquet'), ids, y, { c1 });
  // c1 twice: the design is singular for every variant
  await writeAnalysisFixture(join(dir, 'collinear.parquet'), ids, y, { c1, c1b: c1 });
  run = {
    runId: 'none',
    studyId: 'none',
    releaseId: 'fixture',
    releaseFingerprint: 'f'.repeat(64),
    releaseDir: join(dir, 'release'),
    specHash: 'e'.repeat(64),
    runDir: join(dir, 'run'),
  };
  const base = { trait: 'quantitative' as const, nSamples: N, droppedCovariates: [] };
  good = { ...base, path: join(dir, 'good.parquet'), covariates: ['c1'] };
  collinear = { ...base, path: join(dir, 'collinear.parquet'), covariates: ['c1', 'c1b'] };
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function gwasOf(sub: string, analysis: AnalysisTable, spec: object) {
  const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
  const acts = createGwasActivities(config);
  const runFor = { ...run, runDir: join(dir, sub) };
  const gwas = gwasSpecSchema.parse(spec);
  const shards = await runActivity(acts.planGwasShards, {
    run: runFor,
    chromosomes: null,
    shardVariants: 60,
  });
  for (const shard of shards) await runActivity(acts.runGwasShard, { run: runFor, shard, analysis, gwas });
  return runActivity(acts.mergeGwas, {
    run: runFor,
    nShards: shards.length,
    leadLoci: { p: 5e-8, windowKb: 500, max: 20 },
  });
}

describe('GWAS status counts and no-result failure', () => {
  it('a summary counts the result rows by status; they add up to the tested variants', async () => {
    const s = await gwasOf('good', good, { minMac: 1, minMaf: 0, hweP: 0 });
    expect(s.qc.nInput).toBe(M);
    expect(s.statusCounts).toBeDefined();
    const counts = s.statusCounts as Record<string, number>;
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(s.nTested);
    expect(counts.ok).toBeGreaterThan(90);
  });

  it('every variant collinear: fails as bad input naming the status counts', async () => {
    const err = (await gwasOf('collinear', collinear, { minMac: 1, minMaf: 0, hweP: 0 }).catch(
      (e) => e,
    )) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/no variant produced a GWAS result/);
    expect(err.message).toMatch(/by status: [\d,]+ collinear/);
    expect(err.hint).toMatch(/covariates/);
    const failure = toFailure(err) as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.type).toBe('InputError');
  });

  it('every variant removed by QC: fails naming the QC counts', async () => {
    const err = (await gwasOf('qc', good, { minMac: 100_000 }).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(new RegExp(`${M} variants in the shards, QC removed ${M} by MAC; 0 tested`));
    expect(err.hint).toMatch(/minMac/);
  });
});
