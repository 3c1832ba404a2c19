/**
 * GWAS-SSF export: the GWAS Catalog summary statistics format v1.0 (Hayhurst et al. 2023,
 * "A community driven GWAS summary statistics standard", bioRxiv 2022.07.15.500230;
 * https://github.com/EBISPOT/gwas-summary-statistics-standard).
 *
 * One data file per phenotype (`<run>_<phenotype>.tsv`, optionally `.tsv.gz`) and its metadata
 * file (`<data file name>-meta.yaml`):
 * - tab-separated, header first; the eight mandatory columns in the standard's order
 *   `chromosome base_pair_location effect_allele other_allele beta standard_error
 *   effect_allele_frequency p_value`, then the encouraged `variant_id rsid n ref_allele`;
 * - effect allele = ALT, other allele = REF (so `ref_allele` is `OA`), β per ALT allele
 *   (log odds ratio for binary traits), chromosome coded 1–22, X = 23, Y = 24, MT = 25;
 * - `#NA` for missing values; sorted by chromosome then position (`is_sorted: true`);
 * - mandatory fields must be filled, so rows without a usable result (status other than `ok`,
 *   missing β/SE/AF/p, alleles that are not [ACGT]+, contigs outside 1–25) are left out and
 *   counted in the metadata's `author_notes` and the README;
 * - p that underflowed to 0 is written from −log10 p (e.g. `3.1623e-350`), as the standard
 *   asks for accurate p-values rather than zeros.
 *
 * Privacy: the per-variant `n` is written as `#NA` where it is 1–20, and a metadata count of
 * 1–20 (sample size, cases, controls) refuses the export, since the standard makes those
 * fields mandatory and they may not be shown (unless `suppress` is false).
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { sqlString, withCompute, withEngineDb } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { type Suppression, smallCellMax } from '../engine/privacy.js';
import { releaseAssemblyOf } from '../engine/release.js';
import { gwasReadSql, readRunResults, softwareVersion } from '../engine/results.js';
import { runGwasFiles } from '../engine/run-files.js';
import type { GwasPhenotypeRow } from '../schemas/results.js';
import { GWAS_SSF_COLUMNS } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  chromCodeSql,
  type ExportResult,
  md5File,
  privacyNote,
  produceFolder,
  pValueTextSql,
  requireRun,
  safeName,
  selectPhenotypes,
} from './common.js';

export const GWAS_SSF_VERSION = 'GWAS-SSF v1.0';

/** The standard's column order (schemas/results.ts, shared with the summary-statistics reader). */
export { GWAS_SSF_COLUMNS };

export interface GwasSsfOptions {
  runId: string;
  out: string;
  /** One phenotype; default every GWAS phenotype of the run. */
  phenotype?: string;
  /** Suppress person counts 1–20 (default true; threshold `privacy.smallCellMax`). */
  suppress?: boolean;
  gzip?: boolean;
  /** e.g. GRCh38; default from the study spec's `genomeAssembly`, else required. */
  genomeAssembly?: string;
  /** e.g. "Whole genome sequencing"; default from the spec, else "Genome-wide genotyping array". */
  genotypingTechnology?: string[];
}

interface SpecHints {
  genomeAssembly?: string;
  genotypingTechnology?: string[];
  ancestry?: string[];
  covariates?: string[];
}

function specHints(specJson: string | undefined): SpecHints {
  if (!specJson) return {};
  try {
    const spec = JSON.parse(specJson) as Record<string, unknown>;
    const cohort = (spec.cohort ?? {}) as Record<string, unknown>;
    const strings = (v: unknown) =>
      Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
    return {
      genomeAssembly: typeof spec.genomeAssembly === 'string' ? spec.genomeAssembly : undefined,
      genotypingTechnology:
        typeof spec.genotypingTechnology === 'string'
          ? [spec.genotypingTechnology]
          : strings(spec.genotypingTechnology),
      ancestry: strings(cohort.ancestry),
      covariates: strings(spec.covariates),
    };
  } catch {
    return {};
  }
}

/** Columns of one phenotype's rows in GWAS-SSF form, plus `status` and the raw `n` for filtering. */
function ssfColumns(suppress: Suppression): string {
  const chrom = chromCodeSql('chrom');
  const max = smallCellMax(suppress);
  const n = max > 0 ? `CASE WHEN n BETWEEN 1 AND ${max} THEN NULL ELSE n END` : 'n';
  return `${chrom} AS chromosome, pos AS base_pair_location, alt AS effect_allele, ref AS other_allele,
      beta, se AS standard_error, af AS effect_allele_frequency, ${pValueTextSql('p', 'neg_log10_p')} AS p_value,
      CAST(${chrom} AS VARCHAR) || '_' || pos || '_' || ref || '_' || alt AS variant_id,
      CASE WHEN regexp_full_match(rsid, 'rs[0-9]+') THEN rsid END AS rsid,
      ${n} AS n, 'OA' AS ref_allele, status, n AS raw_n`;
}

/** Rows that can fill every mandatory field. */
const ELIGIBLE = `status = 'ok' AND chromosome IS NOT NULL AND base_pair_location >= 1
  AND regexp_full_match(effect_allele, '[ACGT]+') AND regexp_full_match(other_allele, '[ACGT]+')
  AND beta IS NOT NULL AND isfinite(beta) AND standard_error IS NOT NULL AND isfinite(standard_error)
  AND effect_allele_frequency BETWEEN 0 AND 1 AND p_value IS NOT NULL`;

const SORT = 'chromosome, base_pair_location, effect_allele, other_allele';

interface PhenotypeFile {
  written: number;
  excluded: number;
  maxN: number | null;
}

/** Write one phenotype's data file; fails on duplicate variants. */
async function writeDataFile(
  config: EngineConfig,
  glob: string[],
  phenotype: string,
  path: string,
  suppress: Suppression,
  gzip: boolean,
): Promise<PhenotypeFile> {
  return withCompute(config, async (conn) => {
    const temp = `ssf_${randomBytes(6).toString('hex')}`;
    await conn.run(
      `CREATE TEMP TABLE ${temp} AS SELECT ${ssfColumns(suppress)} FROM (${gwasReadSql(glob)}) WHERE phenotype = $1`,
      [phenotype],
    );
    try {
      const stats = (
        await conn.runAndReadAll(
          `SELECT count(*), count(*) FILTER (WHERE ${ELIGIBLE}), max(raw_n) FILTER (WHERE ${ELIGIBLE}) FROM ${temp}`,
        )
      ).getRows()[0];
      const dup = (
        await conn.runAndReadAll(
          `SELECT ${SORT} FROM ${temp} WHERE ${ELIGIBLE} GROUP BY ALL HAVING count(*) > 1 ORDER BY ${SORT} LIMIT 1`,
        )
      ).getRows()[0];
      if (dup)
        throw new InputError(`phenotype ${phenotype} has more than one result for variant ${dup.join(':')}`, {
          field: 'gwas_results',
        });
      await conn.run(
        `COPY (SELECT ${GWAS_SSF_COLUMNS.join(', ')} FROM ${temp} WHERE ${ELIGIBLE} ORDER BY ${SORT})
         TO ${sqlString(path)} (FORMAT csv, DELIMITER '\t', HEADER true, NULLSTR '#NA', QUOTE '', ESCAPE ''${gzip ? ", COMPRESSION 'gzip'" : ''})`,
      );
      const total = Number(stats[0]);
      const written = Number(stats[1]);
      return { written, excluded: total - written, maxN: stats[2] === null ? null : Number(stats[2]) };
    } finally {
      await conn.run(`DROP TABLE IF EXISTS ${temp}`);
    }
  });
}

function checkCount(
  label: string,
  value: number | null | undefined,
  suppress: Suppression,
  phenotype: string,
): void {
  const max = smallCellMax(suppress);
  if (value !== null && value !== undefined && value >= 1 && value <= max)
    throw new InputError(
      `phenotype ${phenotype}: ${label} is ${max} or less, which may not be shown, and GWAS-SSF requires it`,
      { field: label },
      'do not share this analysis, or pass --no-suppress if your dissemination rules allow it',
    );
}

/** Write GWAS-SSF files for a run into the new folder `out`. */
export async function exportGwasSsf(config: EngineConfig, options: GwasSsfOptions): Promise<ExportResult> {
  const suppress: Suppression = options.suppress === false ? false : config.privacy.smallCellMax;
  const run = await requireRun(config, options.runId);
  const phenotypes = await selectPhenotypes(config, run.run_id, options.phenotype);
  const hints = specHints(await studySpecJson(config, run.study_id));
  // --assembly overrides; otherwise the release's (manifest or VCF header), then the spec's.
  const assembly =
    options.genomeAssembly ??
    (await releaseAssemblyOf(config, run.release_id, run.release_fingerprint)) ??
    hints.genomeAssembly;
  if (!assembly)
    throw new InputError(
      'the genome assembly of this run is not recorded (neither its release manifest nor its VCF headers name one)',
      { field: '--assembly' },
      'pass --assembly GRCh38 (or GRCh37)',
    );
  if (!/^(GRCh|NCBI|hg)\d+/.test(assembly))
    throw new InputError(`genome assembly ${JSON.stringify(assembly)} is not a GRCh/NCBI/UCSC name`, {
      field: '--assembly',
    });
  const technology = options.genotypingTechnology ??
    hints.genotypingTechnology ?? ['Genome-wide genotyping array'];
  const info = new Map<string, GwasPhenotypeRow>(
    (await readRunResults(config, run.run_id, 'gwas_phenotypes')).map((p) => [p.phenotype, p]),
  );
  const glob = await runGwasFiles(config, run.run_id);
  const version = await softwareVersion();

  return produceFolder(options.out, async (tmp, finalDir) => {
    const files: string[] = [];
    const rows: ExportResult['rows'] = [];
    for (const phenotype of phenotypes) {
      const p = info.get(phenotype);
      const dataName = `${safeName(run.run_id)}_${safeName(phenotype)}.tsv${options.gzip ? '.gz' : ''}`;
      const written = await writeDataFile(
        config,
        glob,
        phenotype,
        join(tmp, dataName),
        suppress,
        options.gzip ?? false,
      );
      const sampleSize = p?.n_samples ?? written.maxN;
      const caseControl = p ? p.trait_type === 'binary' : false;
      checkCount('sample_size', sampleSize, suppress, phenotype);
      checkCount('case_count', p?.n_cases, suppress, phenotype);
      checkCount('control_count', p?.n_controls, suppress, phenotype);
      const sample: Record<string, unknown> = {
        sample_size: sampleSize ?? 0,
        sample_ancestry_category: hints.ancestry?.length ? hints.ancestry : ['Not reported'],
        case_control_study: caseControl,
      };
      if (caseControl && p?.n_cases != null) sample.case_count = p.n_cases;
      if (caseControl && p?.n_controls != null) sample.control_count = p.n_controls;
      const meta = {
        trait_description: [p?.description ?? phenotype],
        genome_assembly: assembly,
        coordinate_system: '1-based',
        genotyping_technology: technology,
        samples: [sample],
        sex: 'combined',
        data_file_name: dataName,
        file_type: GWAS_SSF_VERSION,
        data_file_md5sum: await md5File(join(tmp, dataName)),
        analysis_software: `biobank-engine ${version}`,
        ...(hints.covariates?.length ? { adjusted_covariates: hints.covariates } : {}),
        is_harmonised: false,
        is_sorted: true,
        date_last_modified: new Date().toISOString().slice(0, 10),
        author_notes: [
          `Run ${run.run_id} of study ${run.study_id} on release ${run.release_id} (fingerprint ${run.release_fingerprint}).`,
          `Effect allele = ALT, other allele = REF; beta per ALT allele${caseControl ? ' (log odds ratio)' : ''}.`,
          `${written.written} variants written; ${written.excluded} left out (no usable estimate, alleles not [ACGT]+, or a contig outside 1-25).`,
          suppress
            ? `${privacyNote(suppress)} In the n column such counts are written as #NA.`
            : privacyNote(false),
        ].join(' '),
      };
      await writeFile(join(tmp, `${dataName}-meta.yaml`), stringify(meta, { lineWidth: 0 }));
      files.push(dataName, `${dataName}-meta.yaml`);
      rows.push({ name: phenotype, written: written.written, excluded: written.excluded });
    }
    await writeFile(
      join(tmp, 'README.txt'),
      [
        `${GWAS_SSF_VERSION} export of run ${run.run_id} (study ${run.study_id}, release ${run.release_id}, software ${version}).`,
        'Each <file>.tsv has a <file>.tsv-meta.yaml metadata file. Missing values are #NA.',
        ...rows.map((r) => `${r.name}: ${r.written} variants written, ${r.excluded} left out.`),
        privacyNote(suppress),
        '',
      ].join('\n'),
    );
    files.push('README.txt');
    return { out: finalDir, files, rows };
  });
}

async function studySpecJson(config: EngineConfig, studyId: string): Promise<string | undefined> {
  return withEngineDb(
    config,
    async (conn) => {
      const r = await conn.runAndReadAll(
        'SELECT CAST(spec_json AS VARCHAR) FROM studies WHERE study_id = $1',
        [studyId],
      );
      return r.getRows()[0]?.[0] as string | undefined;
    },
    { readOnly: true },
  ).catch(() => undefined);
}
