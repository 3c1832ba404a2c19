/**
 * A synthetic biobank split into two "sites" by ancestry, through the real workflows on the real
 * Temporal server (issue 15, accuracy): one demo-size release (2,500 persons × 10,000 variants)
 * is ingested, the LDL GWAS study runs three times — pooled over EUR and AFR, and once per site
 * (cohort restricted to EUR, then AFR) — each site's results leave through the GWAS-SSF exporter
 * (gzipped, as a site would send them) and the `metaAnalysis` workflow combines the two files.
 * - The planted LDL variants (present in every ancestry) are genome-wide significant in the
 *   meta-analysis, lead its loci, their meta β lies within 2 SE of the pooled β, and their
 *   Cochran's Q is not significant (p > 0.05/m).
 * - The planted AFR-only LDL variant (truth.json `ancestrySpecific`) is genome-wide significant in
 *   the AFR site, null in the EUR site, diluted in the pooled analysis, and the meta-analysis
 *   flags it heterogeneous: Cochran's Q p < 0.05/m (m = the meta-analysis' lead loci) and
 *   I² > 75 %, while the planted homogeneous variants are not flagged.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import { exportGwasSsf } from '../../export/gwas-ssf.js';
import { metaIdentity } from '../../meta/spec.js';
import { type MetaResult, metaSpecSchema } from '../../schemas/meta.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestManifest } from '../helpers/study-fixture.js';

const MAPS = resolve(__dirname, '../../data/demo-phecode-map');
const SITES = ['EUR', 'AFR'] as const;

interface TruthVariant {
  id: string;
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
}
interface Truth {
  quantitative: { trait: string; causal: TruthVariant[] }[];
  ancestrySpecific: (TruthVariant & { ancestry: string; betaPerAllele: Record<string, number> })[];
}
interface Row {
  chrom: string;
  pos: number;
  beta: number;
  se: number;
  p: number;
  af: number;
}
interface MetaRow extends Row {
  effect_allele: string;
  q_p: number;
  i2: number;
  k: number;
  direction: string;
}

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let truth: Truth;
let pooled: StudyResult;
const site = new Map<string, StudyResult>();
let meta: MetaResult;

function ldlStudy(releaseId: string, studyId: string, ancestry: string[]): StudySpec {
  return studySpecSchema.parse({
    studyId,
    kind: 'phenotype-first',
    release: releaseId,
    cohort: { ancestry },
    phenotype: { type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' },
    covariates: ['age', 'sex', 'PC1', 'PC2'],
    gwas: { shardVariants: 2500, maxParallelShards: 2 },
    // No lead-locus PheWAS: the meta-analysis is about the GWAS.
    phewas: {
      phecodeVersion: '1.2',
      maps: join(MAPS, 'v1.2'),
      minCases: 20,
      leadLoci: { p: 5e-8, windowKb: 500, max: 0 },
    },
  });
}

async function runStudy(spec: StudySpec): Promise<StudyResult> {
  return (await engine.client.workflow.execute('phenotypeFirstStudy', {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
}

/** A study's GWAS rows at the given variants (β per ALT allele). */
async function gwasAt(result: StudyResult, variants: TruthVariant[]): Promise<Map<string, Row>> {
  const rows = await withCompute(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT chrom || ':' || pos || ':' || ref || ':' || alt AS id, chrom, pos::DOUBLE AS pos, beta, se, p, af
           FROM read_parquet('${result.gwas!.resultsGlob}') WHERE status = 'ok'`,
        )
      ).getRowObjectsJS() as unknown as (Row & { id: string })[],
  );
  const want = new Set(variants.map((v) => v.id));
  return new Map(rows.filter((r) => want.has(r.id)).map((r) => [r.id, r]));
}

/** meta_results rows of the meta run at the given variants, keyed by the variant's id. */
async function metaAt(variants: TruthVariant[]): Promise<Map<string, MetaRow>> {
  const rows = await withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT chrom, pos::DOUBLE AS pos, effect_allele, other_allele, beta, se, p, q_p, i2, k, direction
           FROM meta_results WHERE run_id = $1`,
          [meta.runId],
        )
      ).getRowObjectsJS() as unknown as (MetaRow & { other_allele: string })[],
    { readOnly: true },
  );
  const out = new Map<string, MetaRow>();
  for (const v of variants) {
    const r = rows.find((x) => x.chrom === v.chrom && x.pos === v.pos);
    if (!r) continue;
    // β per ALT allele, whichever allele the meta-analysis reports.
    const sign = r.effect_allele === v.alt && r.other_allele === v.ref ? 1 : -1;
    out.set(v.id, { ...r, beta: sign * r.beta });
  }
  return out;
}

beforeAll(async () => {
  const t0 = Date.now();
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  const synth = await generateBiobank({
    size: 'demo',
    seed: 1,
    releaseId: 'meta-sites',
    out: join(engine.dataDir, 'synth'),
  });
  truth = JSON.parse(readFileSync(synth.truthPath, 'utf8'));
  const { releaseId } = await ingestManifest(engine.client, engine.taskQueue, synth.manifestPath);
  const t1 = Date.now();
  const results = await Promise.all([
    runStudy(ldlStudy(releaseId, 'ldl-pooled', [...SITES])),
    ...SITES.map((a) => runStudy(ldlStudy(releaseId, `ldl-${a.toLowerCase()}`, [a]))),
  ]);
  pooled = results[0];
  for (const [k, a] of SITES.entries()) site.set(a, results[k + 1]);
  const t2 = Date.now();
  // Each site sends its GWAS-SSF export (gzipped, with its metadata YAML) and nothing else.
  const inputs = [];
  for (const a of SITES) {
    const out = join(engine.dataDir, `export-${a}`);
    await exportGwasSsf(engine.config, { runId: site.get(a)!.runId, out, gzip: true });
    const file = readdirSync(out).find((f) => f.endsWith('.tsv.gz'));
    if (!file) throw new Error(`no GWAS-SSF data file in ${out}`);
    inputs.push({ path: join(out, file), label: `site ${a}`, ancestry: a });
  }
  const spec = metaSpecSchema.parse({
    metaId: 'ldl-two-sites',
    inputs,
    trait: 'LDL',
    // Both sites export the release's REF/ALT, so no entry can be strand-flipped: keep A/T and
    // C/G SNPs (two planted LDL variants are A/T, at frequencies that may come near 0.5).
    alignment: { ambiguousMaf: 0.5 },
  });
  meta = (await engine.client.workflow.execute('metaAnalysis', {
    workflowId: (await metaIdentity(spec)).runId,
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as MetaResult;
  console.log(
    `meta-sites timing: generate + ingest ${((t1 - t0) / 1000).toFixed(1)} s, three studies ` +
      `${((t2 - t1) / 1000).toFixed(1)} s, export + meta ${((Date.now() - t2) / 1000).toFixed(1)} s`,
  );
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

describe('two ancestry sites, meta-analysed from their GWAS-SSF exports', () => {
  it('recovers the planted LDL loci, with meta β within 2 SE of the pooled β', async () => {
    const causal = truth.quantitative.find((q) => q.trait === 'LDL')!.causal;
    const mm = await metaAt(causal);
    const p = await gwasAt(pooled, causal);
    const eur = await gwasAt(site.get('EUR')!, causal);
    const afr = await gwasAt(site.get('AFR')!, causal);
    const m = Math.max(1, meta.leadLoci.length);
    // GWAS-SSF files that the reader recognises as this engine's exports (by their metadata).
    expect(meta.inputs.map((i) => i.format)).toEqual(['biobank-engine', 'biobank-engine']);
    for (const c of causal) {
      const mr = mm.get(c.id);
      const pr = p.get(c.id);
      expect(mr, c.id).toBeDefined();
      expect(pr, c.id).toBeDefined();
      // A/T and C/G SNPs whose ALT frequency lies on opposite sides of 0.5 in the two ancestries
      // (drift) are where frequency-based strand inference would go wrong: named in the message.
      const what =
        `${c.id} (ALT freq EUR ${eur.get(c.id)?.af.toFixed(2)}, AFR ${afr.get(c.id)?.af.toFixed(2)}; ` +
        `site β EUR ${eur.get(c.id)?.beta.toFixed(2)}, AFR ${afr.get(c.id)?.beta.toFixed(2)})`;
      console.log(
        `${what}: meta β ${mr!.beta.toFixed(3)} (SE ${mr!.se.toFixed(3)}, p ${mr!.p.toExponential(2)}, ` +
          `Q p ${mr!.q_p.toPrecision(3)}, direction ${mr!.direction}), pooled β ${pr!.beta.toFixed(3)} (SE ${pr!.se.toFixed(3)})`,
      );
      expect.soft(mr!.k, what).toBe(2);
      expect.soft(mr!.p, what).toBeLessThan(5e-8);
      expect.soft(Math.abs(mr!.beta - pr!.beta), what).toBeLessThan(2 * pr!.se);
      // Homogeneous: not flagged.
      expect.soft(mr!.q_p, what).toBeGreaterThan(0.05 / m);
      expect
        .soft(
          meta.leadLoci.some((l) => l.chrom === c.chrom && Math.abs(l.pos - c.pos) <= 500_000),
          `a meta lead locus at ${c.id}`,
        )
        .toBe(true);
    }
  });

  it('flags the AFR-only LDL variant as heterogeneous (Q p < 0.05/m, I² > 75 %)', async () => {
    const spec = truth.ancestrySpecific[0];
    expect(spec.ancestry).toBe('AFR');
    const eur = (await gwasAt(site.get('EUR')!, [spec])).get(spec.id)!;
    const afr = (await gwasAt(site.get('AFR')!, [spec])).get(spec.id)!;
    const pool = (await gwasAt(pooled, [spec])).get(spec.id)!;
    const mr = (await metaAt([spec])).get(spec.id)!;
    const m = Math.max(1, meta.leadLoci.length);
    console.log(
      `${spec.id}: AFR β ${afr.beta.toFixed(2)} (p ${afr.p.toExponential(2)}), EUR β ${eur.beta.toFixed(2)} ` +
        `(p ${eur.p.toPrecision(3)}), pooled p ${pool.p.toExponential(2)}; meta Q p ${mr.q_p.toExponential(2)}, ` +
        `I² ${mr.i2.toFixed(1)} %, m = ${m} (pooled lead loci ${pooled.gwas!.leadLoci.length})`,
    );
    expect(afr.p).toBeLessThan(5e-8);
    expect(eur.p).toBeGreaterThan(1e-3);
    // Pooling the ancestries dilutes it (expected z ≈ 4.6 at this size): pooling hides it.
    expect(pool.p).toBeGreaterThan(afr.p);
    expect(mr.k).toBe(2);
    expect(mr.q_p).toBeLessThan(0.05 / m);
    expect(mr.i2).toBeGreaterThan(75);
  });

  it('lists the AFR-only LDL variant among the AFR site’s own lead loci, significant there only', async () => {
    const spec = truth.ancestrySpecific[0];
    const afr = (await gwasAt(site.get('AFR')!, [spec])).get(spec.id)!;
    const mr = (await metaAt([spec])).get(spec.id)!;
    const rows = await withEngineDb(
      engine.config,
      async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT label, chrom, pos::DOUBLE AS pos, p, meta_p, n_inputs_significant, pooled_significant
             FROM meta_input_loci WHERE run_id = $1`,
            [meta.runId],
          )
        ).getRowObjectsJS() as unknown as {
          label: string;
          chrom: string;
          pos: number;
          p: number;
          meta_p: number;
          n_inputs_significant: number;
          pooled_significant: boolean;
        }[],
      { readOnly: true },
    );
    // the AFR locus holding the variant (its lead is the variant or a stronger one within 500 kb)
    const locus = rows.find(
      (r) => r.label === 'site AFR' && r.chrom === spec.chrom && Math.abs(r.pos - spec.pos) <= 500_000,
    );
    expect(locus, `an AFR input locus at ${spec.id}`).toBeDefined();
    console.log(`${spec.id}: AFR input locus ${JSON.stringify(locus)}`);
    expect(locus!.p).toBeLessThanOrEqual(afr.p * (1 + 1e-6));
    if (locus!.pos === spec.pos) {
      expect(locus!.n_inputs_significant).toBe(1);
      expect(locus!.pooled_significant).toBe(mr.p < 5e-8);
      expect(Math.abs(locus!.meta_p - mr.p)).toBeLessThanOrEqual(1e-12 + 1e-9 * mr.p);
    }
    // no EUR input locus there: the variant is null in EUR
    expect(rows.some((r) => r.label === 'site EUR' && r.chrom === spec.chrom && r.pos === spec.pos)).toBe(
      false,
    );
  });
});
