/**
 * Gene burden scores (genotype-first): select each mask's variants from the release's
 * annotations and combine their genotypes into a per-person burden score.
 *
 * Mask semantics follow REGENIE's `--mask-def` / `--aaf-bins`: a mask is a union of
 * consequence classes (the variant's most severe VEP/SnpEff consequence, as ingested); an
 * optional INFO score threshold (e.g. REVEL ≥ 0.5) applies to every variant of the mask, and a
 * variant without the score does not qualify. Each mask is built once per alternate-allele-
 * frequency bin: AAF ≤ bin, where AAF is the release-wide ALT frequency, and `singleton` means
 * ALT allele count = 1. Scores combine hard calls by `max` (carrier), `sum` or `comphet`
 * (stats/burden.ts; missing calls count as 0).
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce } from '../engine/fsutil.js';
import { unpackGt } from '../engine/genotypes.js';
import { variantIdSql } from '../schemas/results.js';
import type { GenotypeFirstSpec } from '../schemas/study.js';
import type { AnalysisTable, BurdenPlan, RunContext } from '../schemas/study-io.js';
import { burdenScore } from '../stats/burden.js';

function columnName(gene: string, mask: string, bin: string): string {
  return `${gene}__${mask}__${bin}`.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function binLabel(bin: number | 'singleton'): string {
  return bin === 'singleton' ? 'singleton' : String(bin);
}

/**
 * Build every gene × mask × AAF-bin burden score for the analysis samples. Writes one
 * Parquet (`person_id` + one DOUBLE column per score) and returns the variant and carrier
 * counts of each mask. Masks with no qualifying variant are reported with zero counts.
 */
export async function buildBurdenScores(
  conn: DuckDBConnection,
  run: RunContext,
  spec: GenotypeFirstSpec,
  analysis: AnalysisTable,
): Promise<BurdenPlan> {
  const variantsPath = join(run.releaseDir, 'variants.parquet');
  const scoresPath = join(run.runDir, 'burden', 'scores.parquet');
  const cols = new Set(
    (await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(variantsPath)})`))
      .getRows()
      .map((r) => String(r[0])),
  );
  for (const [i, mask] of spec.masks.entries()) {
    if (mask.score && !cols.has(mask.score.name)) {
      throw new InputError(
        `the release has no variant score '${mask.score.name}' (columns: ${[...cols].join(', ')})`,
        { field: `masks.${i}.score.name` },
      );
    }
  }
  const analysisRows = (
    await conn.runAndReadAll(
      `SELECT sample_idx, CAST(person_id AS VARCHAR) FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
    )
  ).getRows();
  const sampleIdx = Int32Array.from(analysisRows, (r) => Number(r[0]));
  const nGeno = Number(
    (
      await conn.runAndReadAll(
        `SELECT count(*) FROM read_parquet(${sqlString(join(run.releaseDir, 'samples.parquet'))})`,
      )
    ).getRows()[0][0],
  );

  // Genes: the spec's list, or the genes of the explicit variants.
  const explicit = spec.variants ?? null;
  const genes = spec.genes ?? ['variants'];
  const masks: BurdenPlan['masks'] = [];
  const scores: { column: string; values: Float32Array }[] = [];
  for (const gene of genes) {
    for (const mask of spec.masks) {
      for (const bin of mask.aafBins) {
        const params: (string | number)[] = [];
        const where: string[] = [];
        if (explicit) {
          params.push(JSON.stringify(explicit));
          where.push(`list_contains(CAST(json($${params.length}) AS VARCHAR[]), ${variantIdSql()})`);
        } else {
          params.push(gene);
          where.push(`gene = $${params.length}`);
          params.push(JSON.stringify(mask.consequences));
          where.push(`list_contains(CAST(json($${params.length}) AS VARCHAR[]), consequence)`);
        }
        if (mask.score) {
          params.push(mask.score.min);
          where.push(`${sqlIdent(mask.score.name)} >= $${params.length}`);
        }
        if (bin === 'singleton') where.push('ac = 1');
        else {
          params.push(bin);
          where.push(`af <= $${params.length}`);
        }
        const selected = (
          await conn.runAndReadAll(
            `SELECT variant_idx, shard FROM read_parquet(${sqlString(variantsPath)})
               WHERE ${where.join(' AND ')} ORDER BY variant_idx`,
            params,
          )
        ).getRows();
        const byShard = new Map<string, number[]>();
        for (const [idx, shard] of selected) {
          const list = byShard.get(String(shard)) ?? [];
          list.push(Number(idx));
          byShard.set(String(shard), list);
        }
        const gts: Uint8Array[] = [];
        for (const [shard, idxs] of byShard) {
          const r = await conn.runAndReadAll(
            `SELECT gt FROM read_parquet(${sqlString(join(run.releaseDir, 'genotypes', `${shard}.parquet`))})
               WHERE list_contains(CAST(json($1) AS BIGINT[]), variant_idx)`,
            [JSON.stringify(idxs)],
          );
          for (const [blob] of r.getRows()) gts.push(unpackGt((blob as DuckDBBlobValue).bytes, nGeno));
        }
        const column = columnName(gene, mask.name, binLabel(bin));
        const full = gts.length > 0 ? burdenScore(gts, spec.burden, nGeno).score : new Float32Array(nGeno);
        const values = Float32Array.from(sampleIdx, (k) => full[k]);
        let carriers = 0;
        for (const v of values) if (v > 0) carriers++;
        masks.push({
          gene,
          mask: mask.name,
          aafBin: binLabel(bin),
          column,
          nVariants: gts.length,
          nCarriers: carriers,
        });
        scores.push({ column, values });
      }
    }
  }

  const table = `burden_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await conn.run(
    `CREATE OR REPLACE TABLE ${table} (person_id VARCHAR${scores.map((s) => `, ${sqlIdent(s.column)} DOUBLE`).join('')})`,
  );
  const app = await conn.createAppender(table);
  for (let i = 0; i < analysisRows.length; i++) {
    app.appendVarchar(String(analysisRows[i][1]));
    for (const s of scores) app.appendDouble(s.values[i]);
    app.endRow();
  }
  app.closeSync();
  await mkdir(join(run.runDir, 'burden'), { recursive: true });
  await atomicProduce(scoresPath, (tmp) => conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet)`));
  await conn.run(`DROP TABLE ${table}`);
  return { scoresPath, masks };
}
