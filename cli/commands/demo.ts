import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withEngineDb } from '../../engine/duckdb.js';
import { suppressedCountGroupSql } from '../../engine/privacy.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import { PROJECT_ROOT } from '../../engine/temporal-bin.js';
import { type StudySpec, studySpecSchema, workflowTypeFor } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import type { Command } from '../command.js';
import { EXIT } from '../command.js';
import { type Row, render } from '../format.js';
import { ingestThroughTemporal } from '../ingest-run.js';
import { followProgress } from '../progress.js';
import { ensureServices, type Services } from '../services.js';

const DEMO_DIR = join(PROJECT_ROOT, 'data', 'demo');

/**
 * A demo study spec from data/demo, as a user would start it: the PheWAS uses the real public
 * phecode maps shipped with the engine (data/phecode), with no `phecodes load` step.
 */
async function demoSpec(name: string): Promise<StudySpec> {
  return studySpecSchema.parse(JSON.parse(await readFile(join(DEMO_DIR, name), 'utf8')));
}

async function runStudy(
  services: Services,
  config: EngineConfig,
  spec: StudySpec,
  label: string,
): Promise<StudyResult> {
  const workflowId = await runIdOf(config, spec);
  const { handle, started } = await startOrAttach(services.client, workflowTypeFor(spec), {
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [spec],
  });
  services.watch(handle);
  console.error(`${label}: ${started ? 'started' : 'attached to'} ${workflowTypeFor(spec)} ${workflowId}`);
  return followProgress<StudyResult>(handle, { prefix: '  ', everyMs: 500 });
}

async function readBack(config: EngineConfig, sql: string, params: string[]): Promise<Row[]> {
  return withEngineDb(
    config,
    async (conn) => (await conn.runAndReadAll(sql, params)).getRowObjectsJson() as Row[],
    {
      readOnly: true,
    },
  );
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run both study kinds end to end on the embedded synthetic biobank',
  usage: `
Usage: biobank demo [--seed N]

Brings up a Temporal dev server and a worker if none is reachable, then, all through real
workflows and DuckDB:
  1. generates the embedded synthetic biobank (2,500 persons × 10,000 variants, planted truth);
  2. ingests it (workflow ingestRelease);
  3. runs a phenotype-first study (LDL GWAS → lead loci → PheWAS) and a genotype-first study
     (LMNA pLoF burden → PheWAS) from data/demo/*.json;
  4. prints the top loci, their top PheWAS associations and the burden gene's top phecodes,
     read back from the engine database, next to the planted truth.
Everything it started is stopped at the end. Running it again reuses what is done.

Options:
  --seed N   seed of the synthetic data (default 1)`,
  examples: ['biobank demo', 'BIOBANK_DATA_DIR=/tmp/demo biobank demo --seed 7'],
  async run(argv) {
    const { values } = parse(argv, { seed: { type: 'string', default: '1' } });
    const seed = Number(values.seed);
    const config = loadConfig();
    const t0 = Date.now();
    const services = await ensureServices(config);
    try {
      // 1. the synthetic biobank
      const out = join(config.dataDir, 'demo', `synth-s${seed}`);
      const synth = await generateBiobank({ size: 'demo', seed, out, ifExists: 'reuse' });
      console.error(`synthetic biobank: ${synth.manifestPath}`);

      // 2. ingest (workflow id from release id + fingerprint: a re-run attaches)
      const release = await ingestThroughTemporal(
        services,
        config,
        { manifestPath: synth.manifestPath },
        { prefix: '  ingest: ', everyMs: 500 },
      );
      console.error(
        `release ${release.releaseId}: ${release.nSamples} samples × ${release.nVariants} variants` +
          `${release.ingested ? ' ingested' : ' (already registered)'}`,
      );

      // 3. the two studies, at once
      const [gwasSpec, burdenSpec] = await Promise.all([
        demoSpec('ldl-gwas.json'),
        demoSpec('lmna-plof.json'),
      ]);
      const [gwas, burden] = await Promise.all([
        runStudy(services, config, gwasSpec, 'phenotype-first'),
        runStudy(services, config, burdenSpec, 'genotype-first'),
      ]);

      // 4. results, read back from DuckDB, next to the planted truth
      const truth = JSON.parse(await readFile(synth.truthPath, 'utf8')) as {
        quantitative: { trait: string; causal: { id: string }[] }[];
        burden: { gene: string; phecodes: { phecode12: string; name: string }[] };
      };
      const planted = new Set(
        truth.quantitative.find((q) => q.trait === 'LDL')?.causal.map((c) => c.id) ?? [],
      );
      const loci = await readBack(
        config,
        `SELECT locus_id, variant_id, p, round(beta, 2) AS beta, n_variants_in_locus AS n_variants
         FROM lead_loci WHERE run_id = $1 ORDER BY locus_id`,
        [gwas.runId],
      );
      console.log(
        `\nPhenotype-first: GWAS of LDL (run ${gwas.runId}), λGC = ${gwas.gwas?.lambdaGc?.toFixed(3) ?? 'NA'}`,
      );
      console.log(
        render(
          ['locus_id', 'variant_id', 'p', 'beta', 'n_variants', 'planted'],
          loci.map((l) => ({ ...l, planted: planted.has(String(l.variant_id)) ? 'yes' : 'no' })),
          'table',
        ),
      );
      // The small-cell rule (engine/privacy.ts) with the configured threshold.
      const max = config.privacy.smallCellMax;
      const [shownCases] = suppressedCountGroupSql(['n_cases'], max);
      const phewasTop = await readBack(
        config,
        `SELECT predictor AS variant, phecode, description, p, round(odds_ratio, 2) AS odds_ratio,
                ${shownCases} AS n_cases
         FROM phewas_results WHERE run_id = $1 AND status = 'ok'
         QUALIFY row_number() OVER (PARTITION BY predictor ORDER BY p) <= 3
         ORDER BY predictor, p`,
        [gwas.runId],
      );
      console.log(`\nTop PheWAS associations of each lead locus (n_cases 1–${max} shown as ≤${max}):`);
      console.log(
        render(['variant', 'phecode', 'description', 'p', 'odds_ratio', 'n_cases'], phewasTop, 'table'),
      );

      const plantedPhecodes = new Set(truth.burden.phecodes.map((p) => p.phecode12));
      const burdenTop = await readBack(
        config,
        `SELECT predictor AS mask, phecode, description, p, round(odds_ratio, 2) AS odds_ratio,
                ${shownCases} AS n_cases
         FROM phewas_results WHERE run_id = $1 AND status = 'ok' ORDER BY p LIMIT 8`,
        [burden.runId],
      );
      console.log(`\nGenotype-first: ${truth.burden.gene} pLoF burden PheWAS (run ${burden.runId}):`);
      console.log(
        render(
          ['mask', 'phecode', 'description', 'p', 'odds_ratio', 'n_cases', 'planted'],
          burdenTop.map((r) => ({ ...r, planted: plantedPhecodes.has(String(r.phecode)) ? 'yes' : '' })),
          'table',
        ),
      );
      const found = loci.filter((l) => planted.has(String(l.variant_id))).length;
      console.log(
        `\nPlanted truth: ${found} of ${planted.size} LDL causal variants are lead loci; ` +
          `planted burden phecodes ${[...plantedPhecodes].join(', ')}.`,
      );
      console.log(`\nReports:  ${gwas.reportPath}\n          ${burden.reportPath}`);
      console.log(`Database: ${config.database}`);
      console.log(`Query it: biobank query "SELECT * FROM lead_loci"`);
      console.log(`Done in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
      return EXIT.ok;
    } finally {
      await services.stop();
    }
  },
};
