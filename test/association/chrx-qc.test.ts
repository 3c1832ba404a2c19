/**
 * GWAS QC on chrX (issue 17): a male's haploid call is one allele, not a heterozygote. Through
 * real ingest (a VCF whose males carry haploid calls on X) and a real GWAS shard:
 * - the allele frequency counts males once: AF = ALT alleles / (2·females + males called),
 *   computed here independently from the generated calls, also for an analysis subset;
 * - Hardy–Weinberg is tested on the diploid (female) calls only, as PLINK 2 does on chrX: a
 *   common X variant in HWE among females is kept (counting male ALT calls as heterozygotes
 *   made it fail), and one whose females are all heterozygous is removed;
 * - autosomes are unchanged.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { findRelease } from '../../engine/release.js';
import { planShards } from '../../gwas/plan.js';
import { computeGwasShard } from '../../gwas/shard.js';
import { gwasSpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, GwasShardResult, RunContext } from '../../schemas/study-io.js';
import type { EngineConfig } from '../../temporal.config.js';
import { writeAnalysisFixture } from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';
import { ingestInProcess, makeReleaseFolder, tempDir, testConfig } from '../ingest/helpers.js';

const N = 1000;
const MALES = 500; // samples 0…499 are male (haploid on X), 500…999 female
const ids = Array.from({ length: N }, (_, i) => `S${i + 1}`);
/** ALT copies per sample (255 missing) of each variant, as written into the VCF. */
const calls = new Map<string, Uint8Array>();
let config: EngineConfig;
let run: RunContext;
let dir = '';

function draw(r: ReturnType<typeof rng>, af: number, diploid: (i: number) => boolean, allHet = false) {
  return Uint8Array.from({ length: N }, (_, i) => {
    if (r.next() < 0.01) return 255;
    if (!diploid(i)) return r.next() < af ? 1 : 0;
    if (allHet) return 1;
    return (r.next() < af ? 1 : 0) + (r.next() < af ? 1 : 0);
  });
}

function vcfCall(g: number, diploid: boolean): string {
  if (g === 255) return diploid ? './.' : '.';
  if (!diploid) return String(g);
  return g === 0 ? '0/0' : g === 1 ? '0/1' : '1/1';
}

beforeAll(async () => {
  dir = tempDir('chrx');
  const r = rng(23);
  const isFemale = (i: number) => i >= MALES;
  calls.set(
    '1:1000',
    draw(r, 0.3, () => true),
  );
  calls.set('X:1000', draw(r, 0.3, isFemale));
  calls.set('X:1500', draw(r, 0.9, isFemale));
  calls.set('X:2000', draw(r, 0.4, isFemale, true));
  const lines = [
    '##fileformat=VCFv4.2',
    '##contig=<ID=1,length=1000000>',
    '##contig=<ID=X,length=1000000>',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...ids].join('\t'),
  ];
  for (const [id, gt] of calls) {
    const [chrom, pos] = id.split(':');
    const auto = chrom !== 'X';
    const samples = Array.from(gt, (g, i) => vcfCall(g, auto || isFemale(i)));
    lines.push([chrom, pos, id, 'C', 'T', '.', 'PASS', '.', 'GT', ...samples].join('\t'));
  }
  const persons = [
    'person_id\tsex\tbirth_year',
    ...ids.map((id, i) => `${id}\t${isFemale(i) ? 'F' : 'M'}\t1960`),
  ];
  const folder = makeReleaseFolder({
    releaseId: 'chrx',
    vcfText: `${lines.join('\n')}\n`,
    personsText: persons.join('\n'),
    conditionsText: 'person_id,code,vocabulary,date\nS1,E119,ICD10CM,2010-03-04',
    manifestPatch: { measurements: undefined, tables: [] },
  });
  config = testConfig(join(dir, 'data'));
  await ingestInProcess(config, { manifestPath: folder.manifestPath });
  const release = await findRelease(config, 'chrx');
  run = {
    runId: 'chrx-0123456789abcdef',
    studyId: 'chrx',
    releaseId: 'chrx',
    releaseFingerprint: release!.fingerprint,
    releaseDir: release!.data_path,
    specHash: 'x',
    runDir: join(dir, 'run'),
  };
}, 120_000);

afterAll(() => {});

/** Run one GWAS over every variant on the given analysis samples; the rows by variant id. */
async function gwasOn(samples: number[], tag: string) {
  const path = join(dir, `analysis-${tag}.parquet`);
  const r = rng(5);
  const subset = samples.map((i) => ids[i]);
  await writeAnalysisFixture(
    path,
    subset,
    samples.map(() => r.normal()),
    {},
  );
  // writeAnalysisFixture numbers rows 0…k−1; set sample_idx to each person's release index.
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run(
    `COPY (SELECT CAST(substr(person_id, 2) AS INTEGER) - 1 AS sample_idx, * EXCLUDE (sample_idx)
           FROM read_parquet('${path}')) TO '${path}.fixed' (FORMAT parquet)`,
  );
  writeFileSync(path, '');
  const analysis: AnalysisTable = {
    path: `${path}.fixed`,
    trait: 'quantitative',
    nSamples: samples.length,
    covariates: [],
    droppedCovariates: [],
  };
  const shards = await withCompute(config, (c) =>
    planShards(c, { ...run, runDir: join(dir, tag) }, null, 1000),
  );
  const gwas = gwasSpecSchema.parse({ minMac: 1, minMaf: 0.001, maxMissing: 0.2, hweP: 1e-6 });
  const results: GwasShardResult[] = [];
  for (const shard of shards) {
    results.push(
      await computeGwasShard(
        config,
        { run: { ...run, runDir: join(dir, tag) }, shard, analysis, gwas },
        null,
        () => {},
      ),
    );
  }
  const rows = new Map<string, { af: number; status: string }>();
  for (const res of results) {
    const read = await conn.runAndReadAll(`SELECT rsid, af, status FROM read_parquet('${res.path}')`);
    for (const [rsid, af, status] of read.getRows())
      rows.set(String(rsid), { af: Number(af), status: String(status) });
  }
  conn.closeSync();
  db.closeSync();
  const removedHwe = results.reduce((a, x) => a + x.qc.removedHwe, 0);
  return { rows, removedHwe };
}

/** AF counting a male's X call as one allele. */
function expectedAf(id: string, samples: number[]): number {
  const gt = calls.get(id)!;
  let alt = 0;
  let alleles = 0;
  for (const i of samples) {
    if (gt[i] === 255) continue;
    const ploidy = id.startsWith('X') && i < MALES ? 1 : 2;
    alt += gt[i];
    alleles += ploidy;
  }
  return alt / alleles;
}

describe('chrX QC with haploid male calls', () => {
  it('counts male calls as one allele and tests HWE on females only', async () => {
    const all = Array.from({ length: N }, (_, i) => i);
    const { rows, removedHwe } = await gwasOn(all, 'all');
    expect(rows.get('X:1000')?.af).toBeCloseTo(expectedAf('X:1000', all), 12);
    expect(rows.get('X:1500')?.af).toBeCloseTo(expectedAf('X:1500', all), 12); // kept: females in HWE
    expect(rows.get('1:1000')?.af).toBeCloseTo(expectedAf('1:1000', all), 12);
    expect(rows.has('X:2000')).toBe(false); // all-heterozygous females: out of HWE
    expect(removedHwe).toBe(1);
  }, 120_000);

  it('does the same on an analysis subset (the haploid mask meets the analysis mask)', async () => {
    const subset = Array.from({ length: N }, (_, i) => i).filter((i) => i % 3 !== 0);
    const { rows } = await gwasOn(subset, 'subset');
    for (const id of ['X:1000', 'X:1500', '1:1000'])
      expect(rows.get(id)?.af).toBeCloseTo(expectedAf(id, subset), 12);
  }, 120_000);
});
