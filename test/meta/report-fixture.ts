/**
 * A recorded three-site meta run for the report and viewer tests (gzip-free GWAS-SSF inputs,
 * seeded RNG), run through the meta activities without a server as test/meta/run.test.ts does.
 *
 * Null variants on chromosomes 1–3 (β ~ N(0, SE²)), and four planted loci, each far from the
 * others (one lead locus each):
 *  - `homogeneous` (1:2,000,000): β = 0.25 at every site;
 *  - `opposite` (2:2,000,000): β = +0.3, +0.3, −0.3: site C's effect is opposite, so the pooled
 *    estimate is significant but Cochran's Q is huge;
 *  - `mild` (2:4,000,000): β = 0.3 + d, 0.3, 0.3 − d with d chosen so that Q p ≈ 0.03, between
 *    0.05 / m and 0.05 (m = 4 lead loci): heterogeneous only under an uncorrected threshold;
 *  - `single` (3:2,000,000): β = 0.5 at site A only (z = 10), near 0 elsewhere.
 * Site C gives 12 cases (a count the small-cell rule hides) among n = 5,002.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMetaActivities } from '../../activities/meta.js';
import { readMetaSpec } from '../../meta/spec.js';
import { pTwoSidedNormal } from '../../stats/distributions.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { rng } from '../helpers/rng.js';

export const SITES = ['site A', 'site B', 'site C'] as const;
export const SITE_COUNTS = [
  { n: 8000, nCases: 3000, nControls: 5000 },
  { n: 6000, nCases: 2500, nControls: 3500 },
  { n: 5002, nCases: 12, nControls: 4990 },
] as const;

/** d with 2d² / 0.03² = −2 ln 0.03 (χ²₂ survival e^(−Q/2) = 0.03). */
const D_MILD = Math.sqrt((-2 * Math.log(0.03) * 0.03 ** 2) / 2);

export const PLANTED = {
  homogeneous: { chrom: '1', pos: 2_000_000, effect: 'A', other: 'G', beta: [0.25, 0.25, 0.25], se: 0.03 },
  opposite: { chrom: '2', pos: 2_000_000, effect: 'C', other: 'T', beta: [0.3, 0.3, -0.3], se: 0.03 },
  mild: {
    chrom: '2',
    pos: 4_000_000,
    effect: 'G',
    other: 'A',
    beta: [0.3 + D_MILD, 0.3, 0.3 - D_MILD],
    se: 0.03,
  },
  single: { chrom: '3', pos: 2_000_000, effect: 'T', other: 'C', beta: [0.5, 0.02, 0.02], se: 0.05 },
} as const;

const PAIRS: [string, string][] = [
  ['A', 'G'],
  ['C', 'T'],
  ['G', 'A'],
  ['T', 'C'],
  ['A', 'C'],
  ['G', 'T'],
];

export interface SiteRow {
  chrom: string;
  pos: number;
  effect: string;
  other: string;
  beta: number;
  se: number;
  eaf: number;
}

export interface MetaReportFixture {
  dir: string;
  config: EngineConfig;
  runId: string;
  /** What each site wrote, by site. */
  rows: SiteRow[][];
}

/** Write the inputs and spec into `dir` and run the meta-analysis (report included). */
export async function makeMetaReportFixture(dir: string, seed = 1515): Promise<MetaReportFixture> {
  const { next, normal } = rng(seed);
  const rows: SiteRow[][] = SITES.map(() => []);
  for (const chrom of ['1', '2', '3'])
    for (let j = 1; j <= 150; j++) {
      const [effect, other] = PAIRS[j % PAIRS.length];
      const f = 0.1 + 0.8 * next();
      for (let s = 0; s < SITES.length; s++) {
        const se = 0.02 + 0.06 * next();
        rows[s].push({ chrom, pos: 10_000 * j, effect, other, beta: se * normal(), se, eaf: f });
      }
    }
  for (const v of Object.values(PLANTED))
    for (let s = 0; s < SITES.length; s++)
      rows[s].push({
        chrom: v.chrom,
        pos: v.pos,
        effect: v.effect,
        other: v.other,
        beta: v.beta[s],
        se: v.se,
        eaf: 0.3,
      });
  const files = SITES.map((_, s) => {
    const lines = [
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value',
      ...rows[s].map((r) =>
        [r.chrom, r.pos, r.effect, r.other, r.beta, r.se, r.eaf, pTwoSidedNormal(r.beta / r.se)].join('\t'),
      ),
    ];
    const file = join(dir, `site${'ABC'[s]}.tsv`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  });
  const specPath = join(dir, 'meta.json');
  writeFileSync(
    specPath,
    JSON.stringify({
      metaId: 'het-meta',
      trait: 'LDL',
      inputs: SITES.map((label, s) => ({
        path: files[s],
        label,
        ...SITE_COUNTS[s],
        ancestry: ['EUR', 'AFR', 'EAS'][s],
      })),
    }),
  );
  const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
  const acts = createMetaActivities(config);
  const spec = await readMetaSpec(specPath);
  const prepared = await acts.prepareMeta({ spec, workflowId: 'test' });
  const core = await acts.analyseMetaInputs({ run: prepared.run, spec, inputs: prepared.inputs });
  await acts.metaLoci({ run: prepared.run, spec, core });
  const result = await acts.recordMeta({ run: prepared.run, spec, inputs: prepared.inputs, core });
  await acts.writeMetaReport({ run: prepared.run, result });
  return { dir, config, runId: result.runId, rows };
}
