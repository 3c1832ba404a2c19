/**
 * A results database filled through the engine's own writers with fixture rows: one completed
 * phenotype-first run with GWAS of three phenotypes, lead loci, a PheWAS of two lead variants
 * across 40 phecodes, burden rows and a QC summary. Deterministic (seeded), with the edge cases
 * the exports must handle: p underflowed to 0, a monomorphic variant, a non-ACGT allele, an
 * unplaced contig, small person counts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, sha256Text } from '../../engine/fsutil.js';
import { recordRun, recordStudy, runIdFor, softwareVersion, writeRunResults } from '../../engine/results.js';
import type {
  BurdenResultRow,
  GwasPhenotypeRow,
  GwasResultRow,
  LeadLocusRow,
  PhewasResultRow,
  QcSummaryRow,
} from '../../schemas/results.js';
import { mulberry32 } from '../../stats/random.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';

type NoRun<T> = Omit<T, 'run_id'>;

/**
 * "Which phecodes are associated with the top GWAS hit, with n cases >= 100?" as one statement,
 * for the latest completed run of study ldl-gwas. The same text is in docs/results.md.
 */
export const TOP_HIT_PHECODES_SQL = `SELECT ph.phecode, ph.description, ph.n_cases, round(ph.odds_ratio, 2) AS odds_ratio, ph.p
FROM phewas_results ph
JOIN (SELECT run_id, variant_id FROM gwas_results
      WHERE run_id = (SELECT run_id FROM runs WHERE study_id = 'ldl-gwas' AND status = 'completed'
                      ORDER BY finished_at DESC LIMIT 1)
      ORDER BY neg_log10_p DESC NULLS LAST LIMIT 1) top
  ON ph.run_id = top.run_id AND ph.predictor = top.variant_id
WHERE ph.n_cases >= 100 AND ph.status = 'ok'
  AND ph.p < 0.05 / (SELECT count(*) FROM phewas_results t
                     WHERE t.run_id = ph.run_id AND t.predictor = ph.predictor AND t.status = 'ok')
ORDER BY ph.p;`;

/** mulberry32: a small seeded generator, so fixtures are the same on every run. */
export const seeded = mulberry32;

const BASES = ['A', 'C', 'G', 'T'];

export interface Fixture {
  config: EngineConfig;
  dataDir: string;
  runId: string;
  studyId: string;
  gwas: NoRun<GwasResultRow>[];
  phenotypes: NoRun<GwasPhenotypeRow>[];
  phewas: NoRun<PhewasResultRow>[];
  lead: NoRun<LeadLocusRow>[];
  burden: NoRun<BurdenResultRow>[];
  qc: NoRun<QcSummaryRow>[];
  /** The variant with the smallest p (p underflowed to 0, −log10 p = 350). */
  topVariant: string;
  cleanup(): Promise<void>;
}

export const SPEC = {
  studyId: 'ldl-gwas',
  kind: 'phenotype-first',
  release: 'demo-2026-11',
  cohort: { ageRange: [40, 80], ancestry: ['EUR'] },
  phenotype: { type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' },
  covariates: ['age', 'sex', 'PC1', 'PC2'],
};

function gwasRows(rand: () => number): NoRun<GwasResultRow>[] {
  const rows: NoRun<GwasResultRow>[] = [];
  const chroms = ['1', '2', 'X'];
  for (const phenotype of ['LDL', '250.2', 'rare']) {
    const test = phenotype === 'LDL' ? 'linear' : 'wald';
    for (const chrom of chroms) {
      for (let i = 0; i < 150; i++) {
        const pos = 10_000 + i * 7_919 + (chrom === 'X' ? 3 : 0);
        const ref = BASES[Math.floor(rand() * 4)];
        const alt = BASES[(BASES.indexOf(ref) + 1 + Math.floor(rand() * 3)) % 4];
        const af = 0.02 + rand() * 0.9;
        const se = 0.01 + rand() * 0.05;
        const beta = (rand() - 0.5) * 0.1;
        const p = Math.max(1e-300, rand());
        rows.push({
          phenotype,
          chrom,
          pos,
          ref,
          alt,
          variant_id: `${chrom}:${pos}:${ref}:${alt}`,
          rsid: rand() < 0.7 ? `rs${1000 + rows.length}` : null,
          n: 4900 + Math.floor(rand() * 100),
          af,
          beta,
          se,
          stat: beta / se,
          p,
          neg_log10_p: -Math.log10(p),
          test: test === 'wald' && rand() < 0.1 ? 'firth' : test,
          status: 'ok',
        });
      }
    }
  }
  const ldl = rows.filter((r) => r.phenotype === 'LDL');
  // The top hit: p underflowed to 0, −log10 p known.
  Object.assign(ldl[40], { p: 0, neg_log10_p: 350, beta: 0.9, se: 0.02, stat: 45 });
  // A second genome-wide hit on chromosome 2.
  Object.assign(ldl[200], { p: 1e-30, neg_log10_p: 30, beta: -0.3, se: 0.025, stat: -12 });
  // A small per-variant n (suppressed on export).
  Object.assign(ldl[5], { n: 12 });
  // A monomorphic variant: no estimate.
  Object.assign(ldl[6], {
    beta: null,
    se: null,
    stat: null,
    p: null,
    neg_log10_p: null,
    af: 0,
    status: 'monomorphic',
  });
  // A deletion written with a symbolic allele, and an unplaced contig: not representable in GWAS-SSF.
  Object.assign(ldl[7], { alt: '*', variant_id: `${ldl[7].chrom}:${ldl[7].pos}:${ldl[7].ref}:*` });
  rows.push({
    ...ldl[8],
    chrom: 'chrUn_gl000220',
    pos: 5_000,
    variant_id: 'chrUn_gl000220:5000:A:G',
    ref: 'A',
    alt: 'G',
  });
  // An indel.
  Object.assign(ldl[9], { ref: 'TC', alt: 'T', variant_id: `${ldl[9].chrom}:${ldl[9].pos}:TC:T` });
  return rows;
}

const CATEGORIES = ['circulatory system', 'endocrine/metabolic', 'digestive', 'neoplasms'];
/** n cases per phecode; the small ones exercise suppression (1–20) and the boundaries 0, 19, 20, 21. */
const CASES = [0, 3, 19, 20, 55, 99, 100, 21, 150, 420, 1200, 2500];

function phewasRows(rand: () => number, predictors: string[]): NoRun<PhewasResultRow>[] {
  const rows: NoRun<PhewasResultRow>[] = [];
  for (const predictor of predictors) {
    for (let k = 0; k < 40; k++) {
      const phecode = `${250 + k}.${k % 3}`;
      const n_cases = CASES[k % CASES.length];
      const tested = n_cases >= 20;
      // Every 5th phecode is strongly associated; every 7th is nominal only.
      const p = !tested
        ? null
        : k % 5 === 0
          ? 1e-6 * (1 + rand())
          : k % 7 === 0
            ? 0.01
            : 0.05 + rand() * 0.95;
      const beta = tested ? (rand() - 0.3) * 0.8 : null;
      const se = tested ? 0.05 + rand() * 0.1 : null;
      rows.push({
        predictor,
        predictor_type: 'variant',
        phecode,
        phecode_version: '1.2',
        description: `Phecode ${phecode}, with "quotes", and commas`,
        category: CATEGORIES[k % CATEGORIES.length],
        n_cases,
        n_controls: 4000 - n_cases,
        n_excluded: k % 4 === 0 ? 7 : k % 4 === 1 ? 0 : 150,
        beta,
        se,
        odds_ratio: beta === null ? null : Math.exp(beta),
        ci_low: beta === null || se === null ? null : Math.exp(beta - 1.959964 * se),
        ci_high: beta === null || se === null ? null : Math.exp(beta + 1.959964 * se),
        p,
        neg_log10_p: p === null ? null : -Math.log10(p),
        test: tested ? (n_cases < 60 ? 'firth' : 'wald') : null,
        status: tested ? 'ok' : 'too_few_cases',
        reason: tested ? null : `${n_cases} cases < 20`,
      });
    }
  }
  return rows;
}

/** Fill a fresh data folder's results database through the engine's writers. */
export async function makeFixture(): Promise<Fixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'biobank-results-'));
  const config = loadConfig({
    BIOBANK_DATA_DIR: dataDir,
    BIOBANK_DUCKDB_THREADS: '1',
    BIOBANK_DUCKDB_MEMORY: '1GB',
  });
  const rand = seeded(20261124);
  const specJson = canonicalJson(SPEC);
  const specHash = sha256Text(specJson);
  const releaseFingerprint = sha256Text('demo-2026-11 release');
  const runId = runIdFor({ studyId: SPEC.studyId, releaseFingerprint, specHash });
  await recordStudy(config, {
    study_id: SPEC.studyId,
    kind: 'phenotype-first',
    spec_json: specJson,
    spec_hash: specHash,
    created_at: '2026-11-24T03:00:00.000Z',
  });
  await recordRun(config, {
    run_id: runId,
    study_id: SPEC.studyId,
    release_id: 'demo-2026-11',
    release_fingerprint: releaseFingerprint,
    spec_hash: specHash,
    phecode_maps_json: JSON.stringify({ '1.2': { sha256: sha256Text('map') } }),
    software_version: await softwareVersion(),
    status: 'completed',
    started_at: '2026-11-24T03:00:01.000Z',
    finished_at: '2026-11-24T03:02:30.000Z',
    timings_json: JSON.stringify({ gwas: 61000, phewas: 42000 }),
    workflow_id: `study-${runId}`,
    workflow_run_id: '0195-abc',
    error: null,
  });
  const gwas = gwasRows(rand);
  const topVariant = gwas.find((r) => r.phenotype === 'LDL' && r.p === 0)?.variant_id as string;
  const second = gwas.find((r) => r.phenotype === 'LDL' && r.p === 1e-30) as NoRun<GwasResultRow>;
  const top = gwas.find((r) => r.variant_id === topVariant && r.phenotype === 'LDL') as NoRun<GwasResultRow>;
  const lead: NoRun<LeadLocusRow>[] = [top, second].map((r, i) => ({
    phenotype: 'LDL',
    locus_id: i + 1,
    chrom: r.chrom,
    pos: r.pos,
    ref: r.ref,
    alt: r.alt,
    variant_id: r.variant_id,
    p: r.p as number,
    beta: r.beta,
    start: Math.max(0, r.pos - 500_000),
    end: r.pos + 500_000,
    n_variants_in_locus: 12 + i,
  }));
  const phenotypes: NoRun<GwasPhenotypeRow>[] = [
    {
      phenotype: 'LDL',
      trait_type: 'quantitative',
      description: 'LDL cholesterol (rank-normalised)',
      category: 'lipids',
      n_samples: 5000,
      n_cases: null,
      n_controls: null,
      lambda_gc: 1.01,
    },
    {
      phenotype: '250.2',
      trait_type: 'binary',
      description: 'Type 2 diabetes',
      category: 'endocrine/metabolic',
      n_samples: 5000,
      n_cases: 850,
      n_controls: 4150,
      lambda_gc: 0.99,
    },
    {
      phenotype: 'rare',
      trait_type: 'binary',
      description: 'A rare condition',
      category: 'other',
      n_samples: 5000,
      n_cases: 15,
      n_controls: 4985,
      lambda_gc: null,
    },
  ];
  const phewas = phewasRows(rand, [topVariant, second.variant_id]);
  const burden: NoRun<BurdenResultRow>[] = [
    {
      gene: 'PCSK9',
      mask: 'pLoF',
      aaf_bin: '0.01',
      n_variants: 14,
      n_carriers: 37,
      phenotype: 'LDL',
      beta: -0.8,
      se: 0.1,
      p: 3e-15,
      test: 'linear',
      status: 'ok',
    },
    {
      gene: 'PCSK9',
      mask: 'pLoF',
      aaf_bin: 'singleton',
      n_variants: 9,
      n_carriers: 9,
      phenotype: 'LDL',
      beta: -0.7,
      se: 0.3,
      p: 0.02,
      test: 'linear',
      status: 'ok',
    },
  ];
  const qc: NoRun<QcSummaryRow>[] = [
    {
      step: 'variant_qc',
      filter: 'min_mac',
      threshold: 20,
      n_before: 100_000,
      n_removed: 4_100,
      n_after: 95_900,
    },
    {
      step: 'variant_qc',
      filter: 'hwe_p',
      threshold: 1e-15,
      n_before: 95_900,
      n_removed: 12,
      n_after: 95_888,
    },
  ];
  await writeRunResults(config, runId, 'gwas_results', gwas);
  await writeRunResults(config, runId, 'gwas_phenotypes', phenotypes);
  await writeRunResults(config, runId, 'lead_loci', lead);
  await writeRunResults(config, runId, 'phewas_results', phewas);
  await writeRunResults(config, runId, 'burden_results', burden);
  await writeRunResults(config, runId, 'qc_summary', qc);
  return {
    config,
    dataDir,
    runId,
    studyId: SPEC.studyId,
    gwas,
    phenotypes,
    phewas,
    lead,
    burden,
    qc,
    topVariant,
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}
