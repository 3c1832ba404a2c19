/**
 * Stratified studies (issue 15): a study whose spec has `strata` runs once per stratum as a
 * child study, then meta-analyses the strata's GWAS (workflows/strata.ts). This module resolves
 * the strata into child specs:
 *
 * - `by: "ancestry"`: one stratum per ancestry label of the release's persons (within the
 *   study's own `cohort.ancestry` when it names some), cohort = the study's cohort restricted to
 *   that label;
 * - `by: "sex"`: F and M (within `cohort.sex`);
 * - `cohorts`: each named cohort, combined with the study's cohort (its include/exclude
 *   criteria added; its age range, sex and ancestry when the stratum gives none).
 *
 * A child is the study itself with id `<studyId>.<stratum>`, no `strata`, `stratumOf` set (the
 * child skips a binary trait below `minCases` cases) and `phewas.minCases` raised to
 * `strata.minCases` (the All of Us all-by-all rule: a phecode needs 200 cases in a stratum). Its
 * workflow id is its own run id (engine/study.ts `runIdOf`), so a re-run of the stratified
 * study finds each finished stratum.
 *
 * With `loci` (the lead loci of the strata's GWAS meta-analysis), the children are the PheWAS
 * round of a phenotype-first stratified study: id `<studyId>.<stratum>.phewas`, `stratumOf.loci`
 * set, no GWAS, the PheWAS of those loci only (workflows/phenotype-first.ts).
 */

import { sqlString, withCompute } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { runIdOf } from '../engine/study.js';
import { releaseTables } from '../phenotype/release.js';
import type { CohortSpec } from '../schemas/phenotype.js';
import { type StudySpec, studySpecSchema, workflowTypeFor } from '../schemas/study.js';
import type { LeadLocus, RunContext, StratumPlan } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';

/** A stratum label as a study-id part: letters, digits, `_` and `-`. */
export function stratumName(label: string): string {
  const s = label.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 32);
  return s === '' ? 'unnamed' : s;
}

/** The cohorts of the strata, named (before the child specs are built). */
async function strataCohorts(config: EngineConfig, run: RunContext, spec: StudySpec) {
  const st = spec.strata;
  if (!st) throw new Error('planStrata: the spec has no strata');
  const base = spec.cohort;
  if (st.cohorts)
    return st.cohorts.map((c) => ({
      name: c.name,
      cohort: {
        ...base,
        ...Object.fromEntries(Object.entries(c.cohort).filter(([, v]) => v !== undefined)),
        include: [...base.include, ...c.cohort.include],
        exclude: [...base.exclude, ...c.cohort.exclude],
      } as CohortSpec,
    }));
  if (st.by === 'sex')
    return (['F', 'M'] as const)
      .filter((s) => !base.sex || base.sex.includes(s))
      .map((s) => ({ name: s, cohort: { ...base, sex: [s] } as CohortSpec }));
  const persons = releaseTables(run.releaseDir).persons;
  const labels = await withCompute(config, async (conn) =>
    (
      await conn.runAndReadAll(
        `SELECT DISTINCT CAST(ancestry AS VARCHAR) FROM read_parquet(${sqlString(persons)})
         WHERE ancestry IS NOT NULL ORDER BY 1`,
      )
    )
      .getRows()
      .map((r) => String(r[0])),
  );
  const chosen = labels.filter((a) => !base.ancestry || base.ancestry.includes(a));
  if (chosen.length === 0)
    throw new InputError('no ancestry label in the release to stratify by', {
      file: persons,
      field: 'strata.by',
    });
  return chosen.map((a) => ({ name: a, cohort: { ...base, ancestry: [a] } as CohortSpec }));
}

/** The child studies of a stratified study, with their workflow ids. */
export async function planStrata(
  config: EngineConfig,
  run: RunContext,
  spec: StudySpec,
  loci?: { chrom: string; pos: number; ref: string; alt: string }[],
): Promise<StratumPlan[]> {
  const st = spec.strata!;
  const cohorts = await strataCohorts(config, run, spec);
  const seen = new Set<string>();
  const out: StratumPlan[] = [];
  for (const c of cohorts) {
    const name = stratumName(c.name);
    if (seen.has(name)) throw new InputError(`two strata are named ${name}`, { field: 'strata' });
    seen.add(name);
    const { strata: _strata, ...rest } = spec;
    const child = studySpecSchema.parse({
      ...rest,
      studyId: `${spec.studyId}.${name}${loci ? '.phewas' : ''}`.slice(0, 64),
      cohort: c.cohort,
      stratumOf: { study: spec.studyId, name, minCases: st.minCases, ...(loci ? { loci } : {}) },
      phewas: { ...spec.phewas, minCases: Math.max(spec.phewas.minCases, st.minCases) },
    });
    out.push({
      name,
      workflowId: await runIdOf(config, child),
      workflowType: workflowTypeFor(child),
      spec: child,
    });
  }
  return out;
}

/**
 * The release's variants at the given loci, as lead loci for the PheWAS round. A locus matches a
 * variant with the same chromosome and position and the same two alleles in either order (a
 * meta-analysis names the effect allele of its first input); a locus the release lacks is an
 * error naming it.
 */
export async function resolveLoci(
  config: EngineConfig,
  run: RunContext,
  loci: { chrom: string; pos: number; ref: string; alt: string }[],
): Promise<LeadLocus[]> {
  const variants = releaseTables(run.releaseDir).variants;
  return withCompute(config, async (conn) => {
    const out: LeadLocus[] = [];
    for (const [i, l] of loci.entries()) {
      const rows = (
        await conn.runAndReadAll(
          `SELECT variant_idx::INTEGER, chrom::VARCHAR, pos::BIGINT, ref, alt FROM read_parquet(${sqlString(variants)})
           WHERE chrom::VARCHAR = $1 AND pos = $2 AND ((ref = $3 AND alt = $4) OR (ref = $4 AND alt = $3))
           ORDER BY variant_idx LIMIT 1`,
          [l.chrom, l.pos, l.ref, l.alt],
        )
      ).getRows();
      if (rows.length === 0)
        throw new InputError(`locus ${l.chrom}:${l.pos}:${l.ref}:${l.alt} is not a variant of this release`, {
          file: variants,
          field: `stratumOf.loci[${i}]`,
        });
      const [idx, chrom, pos, ref, alt] = rows[0] as [number, string, bigint, string, string];
      out.push({
        locusId: String(i + 1),
        variantIdx: idx,
        chrom,
        pos: Number(pos),
        ref,
        alt,
        p: 1,
        beta: null,
        start: Number(pos),
        end: Number(pos),
        nVariants: 1,
      });
    }
    return out;
  });
}
