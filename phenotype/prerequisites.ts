/**
 * What a study needs from its release, checked before any compute (`prepareRun`), so a study
 * that cannot succeed fails in seconds with the field that is wrong instead of after its GWAS.
 *
 * Checked, each failure an `InputError` naming the spec field:
 * - phecode maps: every version the spec uses (cohort, phenotype, traits, PheWAS) resolves to a
 *   folder holding every map file with the published columns;
 * - EHR tables: a spec that needs a phenome (phecode phenotype, cohort criterion or trait, any
 *   PheWAS) needs a release that provided `conditions`; measurement phenotypes and criteria need
 *   `measurements` and a measurement of that name (or LOINC); user-table phenotypes, criteria and
 *   `table.column` covariates need that table and column;
 * - chromosomes (`gwas.chromosomes`) are chromosomes of the release;
 * - genes (genotype-first `genes`) have at least one variant in the release.
 * The checks read only file headers, Parquet schemas and small aggregates.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { listValue } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import type { CohortCriterion, PhecodeVersion, PhenotypeSpec } from '../schemas/phenotype.js';
import type { StudySpec } from '../schemas/study.js';
import { checkColumn, checkUserTable } from './identifiers.js';
import { checkMapFiles, mapsProvenance, resolveMapsDir } from './maps.js';
import { providedTables, releaseTables } from './release.js';

interface Need {
  /** Spec field that needs it, for the error message. */
  field: string;
}

function criteria(spec: StudySpec): { c: CohortCriterion; field: string }[] {
  return [
    ...(spec.cohort.include ?? []).map((c, i) => ({ c, field: `cohort.include.${i}` })),
    ...(spec.cohort.exclude ?? []).map((c, i) => ({ c, field: `cohort.exclude.${i}` })),
  ];
}

function phenotypes(spec: StudySpec): { p: PhenotypeSpec; field: string }[] {
  if (spec.kind === 'phenotype-first') {
    return [
      { p: spec.phenotype, field: 'phenotype' },
      ...(spec.extraTraits ?? []).map((p, i) => ({ p, field: `extraTraits.${i}` })),
    ];
  }
  return spec.traits.map((p, i) => ({ p, field: `traits.${i}` }));
}

/** True when the study builds a phenome for a PheWAS: always genotype-first; with lead loci otherwise. */
function runsPhewas(spec: StudySpec): boolean {
  return spec.kind === 'genotype-first' || spec.phewas.leadLoci.max > 0;
}

/** Phecode versions the spec uses, each with the first field that needs it. */
export function phecodeVersionsNeeded(spec: StudySpec): Map<PhecodeVersion, string> {
  const out = new Map<PhecodeVersion, string>();
  for (const { c, field } of criteria(spec))
    if (c.type === 'phecode' && !out.has(c.phecodeVersion))
      out.set(c.phecodeVersion, `${field}.phecodeVersion`);
  for (const { p, field } of phenotypes(spec))
    if (p.type === 'phecode' && !out.has(p.phecodeVersion))
      out.set(p.phecodeVersion, `${field}.phecodeVersion`);
  if (runsPhewas(spec) && !out.has(spec.phewas.phecodeVersion))
    out.set(spec.phewas.phecodeVersion, 'phewas.phecodeVersion');
  return out;
}

/**
 * The phecode maps a run uses, by version, as `runs.phecode_maps_json` records them: folder,
 * one sha256 over the files, and each file's sha256.
 */
export async function phecodeMapsUsed(spec: StudySpec, dataDir: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const version of phecodeVersionsNeeded(spec).keys()) {
    const explicit = spec.phewas.phecodeVersion === version ? spec.phewas.maps : undefined;
    out[version] = await mapsProvenance(resolveMapsDir(dataDir, version, explicit), version);
  }
  return out;
}

/** Check everything `spec` needs from the release in `releaseDir`; throws `InputError`. */
export async function checkStudyPrerequisites(
  conn: DuckDBConnection,
  options: { spec: StudySpec; releaseId: string; releaseDir: string; dataDir: string },
): Promise<void> {
  const { spec, releaseId, releaseDir, dataDir } = options;
  const rel = releaseTables(releaseDir);
  const provided = await providedTables(releaseDir);
  for (const table of ['conditions', 'measurements'] as const) {
    if (!(await exists(rel[table]))) {
      // Only releases ingested before absent tables were written empty lack the file.
      throw new InputError(
        `release '${releaseId}' has no ${table}.parquet (ingested by an older engine version)`,
        { file: rel[table] },
        'add the release again with `biobank release add <manifest>`',
      );
    }
  }

  // Phecode maps of every version used.
  for (const [version, field] of phecodeVersionsNeeded(spec)) {
    const explicit = spec.phewas.phecodeVersion === version ? spec.phewas.maps : undefined;
    await checkMapFiles(resolveMapsDir(dataDir, version, explicit), version, field);
  }

  // Conditions: the PheWAS, phecode and ICD phenotypes and criteria need them.
  const needsConditions: Need[] = runsPhewas(spec) ? [{ field: 'phewas' }] : [];
  for (const { c, field } of criteria(spec))
    if (c.type === 'phecode' || c.type === 'icd') needsConditions.push({ field });
  for (const { p, field } of phenotypes(spec)) if (p.type === 'phecode') needsConditions.push({ field });
  if (!provided.conditions && needsConditions.length > 0) {
    throw new InputError(
      `release '${releaseId}' has no conditions table (a genotype-only release), and this study needs one for ${needsConditions
        .map((n) => n.field)
        .reverse()
        .join(', ')}`,
      { field: needsConditions.at(-1)?.field },
      spec.kind === 'phenotype-first'
        ? 'add a conditions table to the release manifest and add the release again, or for a GWAS alone set phewas.leadLoci.max to 0'
        : 'add a conditions table to the release manifest and add the release again',
    );
  }

  // Measurements by name or LOINC.
  const measurementNames: { name: string; field: string }[] = [];
  for (const { c, field } of criteria(spec))
    if (c.type === 'measurement') measurementNames.push({ name: c.name, field: `${field}.name` });
  for (const { p, field } of phenotypes(spec))
    if (p.type === 'measurement') measurementNames.push({ name: p.name, field: `${field}.name` });
  if (measurementNames.length > 0) {
    if (!provided.measurements) {
      throw new InputError(
        `release '${releaseId}' has no measurements table, and this study needs measurement ${JSON.stringify(measurementNames[0].name)}`,
        { field: measurementNames[0].field },
      );
    }
    const r = await conn.runAndReadAll(
      `SELECT DISTINCT n FROM (SELECT name AS n FROM read_parquet(${sqlString(rel.measurements)})
         UNION SELECT loinc FROM read_parquet(${sqlString(rel.measurements)}))
       WHERE list_contains($1::VARCHAR[], n)`,
      [listValue(measurementNames.map((m) => m.name))],
    );
    const present = new Set(r.getRowObjectsJS().map((o) => o.n as string));
    for (const m of measurementNames) {
      if (present.has(m.name)) continue;
      const known = await conn.runAndReadAll(
        `SELECT DISTINCT name FROM read_parquet(${sqlString(rel.measurements)}) ORDER BY name LIMIT 20`,
      );
      const names = known.getRowObjectsJS().map((o) => o.name as string);
      throw new InputError(
        `no measurement named ${JSON.stringify(m.name)} in release '${releaseId}' (it has: ${names.join(', ') || 'none'})`,
        { field: m.field },
      );
    }
  }

  // User tables and columns.
  const columnRefs: { table: string; column?: string; field: string }[] = [];
  for (const { c, field } of criteria(spec))
    if (c.type === 'table') columnRefs.push({ table: c.table, column: c.column, field });
  for (const { p, field } of phenotypes(spec))
    if (p.type === 'column') columnRefs.push({ table: p.table, column: p.column, field: `${field}.column` });
  spec.covariates.forEach((cov, i) => {
    const dot = cov.indexOf('.');
    if (dot > 0)
      columnRefs.push({ table: cov.slice(0, dot), column: cov.slice(dot + 1), field: `covariates.${i}` });
  });
  for (const ref of columnRefs) {
    const table = await checkUserTable(conn, rel, ref.table, ref.field);
    if (ref.column !== undefined) checkColumn(table, ref.column, ref.field);
  }

  // Chromosomes and genes against the release's variants.
  const chromosomes = spec.kind === 'phenotype-first' ? spec.gwas.chromosomes : undefined;
  if (chromosomes) {
    const r = await conn.runAndReadAll(
      `SELECT DISTINCT chrom FROM read_parquet(${sqlString(rel.variants)}) ORDER BY chrom`,
    );
    const have = r.getRowObjectsJS().map((o) => o.chrom as string);
    chromosomes.forEach((c, i) => {
      if (!have.includes(c)) {
        throw new InputError(
          `chromosome ${JSON.stringify(c)} is not in release '${releaseId}' (it has: ${have.join(', ')})`,
          { field: `gwas.chromosomes.${i}` },
        );
      }
    });
  }
  if (spec.kind === 'genotype-first' && spec.genes) {
    const r = await conn.runAndReadAll(
      `SELECT DISTINCT gene FROM read_parquet(${sqlString(rel.variants)}) WHERE list_contains($1::VARCHAR[], gene)`,
      [listValue(spec.genes)],
    );
    const have = new Set(r.getRowObjectsJS().map((o) => o.gene as string));
    spec.genes.forEach((g, i) => {
      if (!have.has(g)) {
        throw new InputError(`gene ${JSON.stringify(g)} has no variants in release '${releaseId}'`, {
          field: `genes.${i}`,
        });
      }
    });
  }
}
