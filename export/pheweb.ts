/**
 * PheWeb-compatible export (Gagliano Taliun, VandeHaar et al., "Exploring and visualizing
 * large-scale genetic associations by using PheWeb", Nat Genet 52:550–552, 2020;
 * https://github.com/statgen/pheweb). Load the folder with `pheweb process` after copying
 * `pheno-list.json` into the PheWeb data directory.
 *
 * - One association file per GWAS phenotype, `<phenocode>.tsv` (or `.tsv.gz`), tab-separated
 *   with the header `chrom pos ref alt pval beta sebeta af`, as PheWeb's input parser names
 *   the fields. Chromosomes are written `1`–`22`, `X`, `Y`, `MT` and sorted in that order, then
 *   by position, as PheWeb requires. Missing values are `NA`. Variants on other contigs or with
 *   alleles that are not [ACGT]+ (`*`, symbolic alleles) are left out. `af` is the ALT allele
 *   frequency; `beta` is per ALT allele.
 * - `pheno-list.json`: `phenocode` (PheWeb allows only letters, digits and `_-~`, so other
 *   characters become `_`), `phenostring`, `category`, `num_cases`, `num_controls`,
 *   `num_samples`, and `assoc_files` with the absolute path of each file in the final folder.
 *   Counts of 1–20 are written as the string `≤20` unless suppression is off (PheWeb shows
 *   these fields as given and accepts strings); the phenotype's other counts are then written
 *   as `>=N` (rounded down to a multiple of 20) so the small one cannot be derived.
 */

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sqlString, withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { Suppression } from '../engine/privacy.js';
import { gwasReadSql, readRunResults } from '../engine/results.js';
import { runGwasFiles } from '../engine/run-files.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  chromCodeSql,
  type ExportResult,
  privacyNote,
  produceFolder,
  pValueTextSql,
  requireRun,
  selectPhenotypes,
  suppressCountGroup,
} from './common.js';

export const PHEWEB_COLUMNS = ['chrom', 'pos', 'ref', 'alt', 'pval', 'beta', 'sebeta', 'af'] as const;

export interface PhewebOptions {
  runId: string;
  out: string;
  phenotype?: string;
  suppress?: boolean;
  gzip?: boolean;
}

/** A PheWeb phenocode: letters, digits and `_-~` only. */
export function phewebPhenocode(phenotype: string): string {
  return phenotype.replace(/[^A-Za-z0-9_~-]/g, '_');
}

export interface PhenoListEntry {
  phenocode: string;
  phenostring: string;
  category?: string;
  num_cases?: number | string;
  num_controls?: number | string;
  num_samples?: number | string;
  assoc_files: string[];
}

export async function exportPheweb(config: EngineConfig, options: PhewebOptions): Promise<ExportResult> {
  const suppress: Suppression = options.suppress === false ? false : config.privacy.smallCellMax;
  const run = await requireRun(config, options.runId);
  const phenotypes = await selectPhenotypes(config, run.run_id, options.phenotype);
  const codes = new Map<string, string>();
  for (const p of phenotypes) {
    const code = phewebPhenocode(p);
    const clash = codes.get(code);
    if (clash !== undefined)
      throw new InputError(
        `phenotypes ${clash} and ${p} both become PheWeb phenocode ${code}`,
        { field: '--phenotype' },
        'export them one at a time with --phenotype',
      );
    codes.set(code, p);
  }
  const info = new Map(
    (await readRunResults(config, run.run_id, 'gwas_phenotypes')).map((p) => [p.phenotype, p]),
  );
  const glob = await runGwasFiles(config, run.run_id);
  return produceFolder(options.out, async (tmp, finalDir) => {
    const list: PhenoListEntry[] = [];
    const files: string[] = [];
    const rows: ExportResult['rows'] = [];
    for (const [phenocode, phenotype] of codes) {
      const name = `${phenocode}.tsv${options.gzip ? '.gz' : ''}`;
      const counts = await withCompute(config, async (conn) => {
        const temp = `pheweb_${randomBytes(6).toString('hex')}`;
        const code = chromCodeSql('chrom');
        await conn.run(
          `CREATE TEMP TABLE ${temp} AS SELECT ${code} AS chrom_code, pos, ref, alt,
             ${pValueTextSql('p', 'neg_log10_p')} AS pval, beta, se AS sebeta, af, n
           FROM (${gwasReadSql(glob)}) WHERE phenotype = $1`,
          [phenotype],
        );
        try {
          const keep = `chrom_code IS NOT NULL AND regexp_full_match(ref, '[ACGT]+') AND regexp_full_match(alt, '[ACGT]+')`;
          const label = `CASE chrom_code WHEN 23 THEN 'X' WHEN 24 THEN 'Y' WHEN 25 THEN 'MT' ELSE CAST(chrom_code AS VARCHAR) END`;
          await conn.run(
            `COPY (SELECT ${label} AS chrom, pos, ref, alt, pval, beta, sebeta, af FROM ${temp}
                   WHERE ${keep} ORDER BY chrom_code, pos, ref, alt)
             TO ${sqlString(join(tmp, name))} (FORMAT csv, DELIMITER '\t', HEADER true, NULLSTR 'NA', QUOTE '', ESCAPE ''${options.gzip ? ", COMPRESSION 'gzip'" : ''})`,
          );
          const r = (
            await conn.runAndReadAll(`SELECT count(*) FILTER (WHERE ${keep}), count(*), max(n) FROM ${temp}`)
          ).getRows()[0];
          return { written: Number(r[0]), total: Number(r[1]), maxN: r[2] === null ? null : Number(r[2]) };
        } finally {
          await conn.run(`DROP TABLE IF EXISTS ${temp}`);
        }
      });
      const p = info.get(phenotype);
      const entry: PhenoListEntry = {
        phenocode,
        phenostring: p?.description ?? phenotype,
        assoc_files: [join(finalDir, name)],
      };
      if (p?.category) entry.category = p.category;
      const shown = suppressCountGroup(
        { cases: p?.n_cases, controls: p?.n_controls, samples: p?.n_samples ?? counts.maxN },
        suppress,
      );
      if (shown.cases !== null) entry.num_cases = shown.cases;
      if (shown.controls !== null) entry.num_controls = shown.controls;
      if (shown.samples !== null) entry.num_samples = shown.samples;
      list.push(entry);
      files.push(name);
      rows.push({ name: phenotype, written: counts.written, excluded: counts.total - counts.written });
    }
    await writeFile(join(tmp, 'pheno-list.json'), `${JSON.stringify(list, null, 1)}\n`);
    await writeFile(
      join(tmp, 'README.txt'),
      [
        `PheWeb input files for run ${run.run_id} (study ${run.study_id}, release ${run.release_id}).`,
        'Copy pheno-list.json into a PheWeb data directory and run `pheweb process`.',
        ...rows.map(
          (r) =>
            `${r.name}: ${r.written} variants written, ${r.excluded} left out (contigs other than 1-22, X, Y, MT, or alleles not [ACGT]+).`,
        ),
        privacyNote(suppress),
        '',
      ].join('\n'),
    );
    files.push('pheno-list.json', 'README.txt');
    return { out: finalDir, files, rows };
  });
}
