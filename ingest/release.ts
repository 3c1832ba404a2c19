import { readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString, withCompute, withEngineDb } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, atomicWriteFile, exists, sha256Text } from '../engine/fsutil.js';
import {
  ensureCatalog,
  findRelease,
  type LoadedManifest,
  loadManifest,
  omopFiles,
  type ProvidedTables,
  releaseDir,
  releaseFingerprint,
  stagingDir,
} from '../engine/release.js';
import {
  CATALOG_VARIANT_COLUMNS,
  type GenotypeFormat,
  genotypeOptions,
  missingTokens,
  type OmopTable,
} from '../schemas/release.js';
import type { EngineConfig } from '../temporal.config.js';
import { openTable, requireColumn } from './ehr/table.js';
import type { VariantRange } from './genotype-reader.js';
import { omopSampleLinks } from './omop/omop.js';
import { GENOTYPE_ROW_GROUP, genotypeCompressionSql, PART_VARIANT_COLUMNS } from './parts.js';
import { openGenotypeReader } from './readers.js';
import type { IngestShardTask } from './shards.js';
import type { ScoreColumn } from './vcf/header.js';
import { normalizeAssembly, scoreColumns } from './vcf/header.js';
import { readVcfHeader, type ShardResult } from './vcf/shard.js';
import { type ByteRange, planRanges, type SourceKind } from './vcf/source.js';

// --- Plan ---

export interface PlanInput {
  manifestPath: string;
  /** Target shards per VCF file (≥ 1); large files get at least one per 512 MiB. */
  shardsPerFile?: number;
  /** Files smaller than this are one shard. Default 1 MiB. */
  minShardBytes?: number;
}

/** Progress of planning (activities heartbeat with it). */
export type PlanHeartbeat = (progress: { file: string; bytes?: number }) => void;

export interface ReleasePlan {
  releaseId: string;
  fingerprint: string;
  manifestPath: string;
  stagingDir: string;
  finalDir: string;
  /** True when the same release (same fingerprint) is already registered: nothing to do. */
  alreadyRegistered: boolean;
  /** The EHR tables the manifest provides (absent in plans recorded before this field existed). */
  provided?: ProvidedTables;
  /** GRCh37/GRCh38 (manifest or VCF headers), null when unknown. */
  assembly?: string | null;
  nSamples: number;
  scores: ScoreColumn[];
  shards: IngestShardTask[];
}

/**
 * The release's genome assembly: the manifest's `assembly` if given, else what the VCF headers
 * name; every VCF that names one must agree, and so must the manifest. Null when nobody says.
 */
function releaseAssembly(
  loaded: LoadedManifest,
  headers: { rel: string; assembly: string | null }[],
): string | null {
  const named = headers.filter((h) => h.assembly !== null);
  for (const h of named.slice(1))
    if (h.assembly !== named[0].assembly)
      throw new InputError(
        `the genotype files disagree on the genome assembly: ${named[0].rel} is ${named[0].assembly}, ${h.rel} is ${h.assembly}`,
        { file: h.rel, field: '##reference' },
      );
  const fromHeaders = named[0]?.assembly ?? null;
  const given = loaded.manifest.assembly;
  if (given === undefined) return fromHeaders;
  const norm = normalizeAssembly(given);
  if (!norm)
    throw new InputError(`unknown genome assembly ${JSON.stringify(given)} (expected GRCh37 or GRCh38)`, {
      file: loaded.manifestPath,
      field: 'assembly',
    });
  if (fromHeaders && fromHeaders !== norm)
    throw new InputError(
      `the manifest says ${norm} but ${named[0].rel} names ${fromHeaders} in its header`,
      { file: loaded.manifestPath, field: 'assembly' },
      'fix the manifest or the VCF header; the assembly decides positions in every export',
    );
  return norm;
}

/**
 * Validate the manifest and plan the shards: VCF headers agree on samples, every sample
 * is a person, score columns are the union over files, each file is cut into byte ranges.
 */
export async function planRelease(
  config: EngineConfig,
  input: PlanInput,
  heartbeat?: PlanHeartbeat,
): Promise<ReleasePlan> {
  const loaded = await loadManifest(input.manifestPath);
  const { manifest, baseDir } = loaded;
  const fingerprint = await releaseFingerprint(loaded, heartbeat);
  const staging = stagingDir(config, manifest.releaseId, fingerprint);
  const finalDir = releaseDir(config, manifest.releaseId, fingerprint);
  const base = {
    releaseId: manifest.releaseId,
    fingerprint,
    manifestPath: loaded.manifestPath,
    stagingDir: staging,
    finalDir,
    provided: await providedTables(loaded),
  };
  const existing = await findRelease(config, manifest.releaseId);
  if (existing && existing.fingerprint === fingerprint && (await exists(finalDir))) {
    return { ...base, alreadyRegistered: true, nSamples: existing.n_samples ?? 0, scores: [], shards: [] };
  }

  const inputs = await describeInputs(loaded, input);
  const first = inputs[0];
  const samples = first.samples;
  for (const h of inputs.slice(1)) {
    const other = h.samples;
    const i = other.findIndex((s, k) => s !== samples[k]);
    if (other.length !== samples.length || i >= 0)
      throw new InputError(
        `samples differ from ${first.rel} (${i >= 0 ? `sample ${i + 1}: ${other[i]} vs ${samples[i]}` : `${other.length} vs ${samples.length} samples`})`,
        { file: h.rel, line: h.sampleLine, field: i >= 0 ? other[i] : 'samples' },
      );
  }
  const assembly = releaseAssembly(loaded, inputs);
  const personIds = await samplePersons(config, loaded, samples, first);

  const scores = new Map<string, ScoreColumn>();
  for (const h of inputs) for (const s of h.scores) if (!scores.has(s.column)) scores.set(s.column, s);
  const scoreList = [...scores.values()];

  const shards: IngestShardTask[] = [];
  inputs.forEach((h, f) => {
    const stem = basename(h.rel)
      .replace(/\.(vcf(\.b?gz)?|bed|pgen|bgen)$/i, '')
      .replace(/[^A-Za-z0-9_-]/g, '_');
    const common = (i: number, rangeKey: string) => ({
      displayName: h.rel,
      // Named from the inputs: file, shard number and range.
      shardKey: `f${String(f).padStart(3, '0')}-${stem}-s${String(i).padStart(4, '0')}-${sha256Text(rangeKey).slice(0, 8)}`,
      partsDir: join(staging, 'parts'),
      scores: scoreList,
      genotypeCompression:
        shards.length === 0 ? config.ingest.genotypeCompression : ('uncompressed' as const),
    });
    if (h.kind === 'vcf')
      h.ranges.forEach((range, i) => {
        shards.push({ ...common(i, `${range.start}:${range.end}`), file: h.file, kind: h.sourceKind, range });
      });
    else
      h.variantRanges.forEach((range, i) => {
        shards.push({
          ...common(i, `${range.start.variant}:${range.end}`),
          format: h.kind,
          baseDir,
          input: genotypeOptions(manifest.genotypes[f]),
          range,
        });
      });
  });
  const plan: ReleasePlan = {
    ...base,
    alreadyRegistered: false,
    nSamples: samples.length,
    scores: scoreList,
    shards,
    assembly,
  };
  await atomicWriteFile(join(staging, 'plan.json'), JSON.stringify(plan, null, 1));
  await atomicWriteFile(join(staging, 'samples.json'), JSON.stringify({ samples, personIds }));
  return plan;
}

/**
 * The EHR tables a release provides: the manifest's flat tables, or what its OMOP folder has
 * (conditions from any of condition_occurrence, observation, procedure_occurrence; measurements
 * from measurement; the user tables omop_person, and omop_visits with visit_occurrence).
 */
async function providedTables(loaded: LoadedManifest): Promise<ProvidedTables> {
  const { manifest, baseDir } = loaded;
  const tables = manifest.tables.map((t) => t.name);
  if (!manifest.ehr)
    return {
      conditions: manifest.conditions !== undefined,
      measurements: manifest.measurements !== undefined,
      tables,
    };
  const files = await omopFiles(baseDir, manifest.ehr);
  return {
    conditions: ['condition_occurrence', 'observation', 'procedure_occurrence'].some((t) =>
      files.has(t as OmopTable),
    ),
    measurements: files.has('measurement'),
    tables: [...tables, 'omop_person', ...(files.has('visit_occurrence') ? ['omop_visits'] : [])],
  };
}

/** One genotype input as planning sees it. */
type DescribedInput = {
  rel: string;
  file: string;
  samples: string[];
  assembly: string | null;
  /** The line naming the samples (VCF #CHROM line), for messages. */
  sampleLine?: number;
  scores: ScoreColumn[];
} & (
  | { kind: 'vcf'; sourceKind: SourceKind; ranges: ByteRange[] }
  | { kind: Exclude<GenotypeFormat, 'vcf'>; variantRanges: VariantRange[] }
);

/** Read each genotype input's samples and assembly, and cut it into shards. */
async function describeInputs(loaded: LoadedManifest, input: PlanInput): Promise<DescribedInput[]> {
  const out: DescribedInput[] = [];
  for (const g of loaded.manifest.genotypes) {
    const o = genotypeOptions(g);
    const file = join(loaded.baseDir, o.path);
    const size = (await stat(file)).size;
    const n =
      size < (input.minShardBytes ?? 1 << 20)
        ? 1
        : Math.max(input.shardsPerFile ?? 1, Math.ceil(size / (512 << 20)));
    if (o.format === 'vcf') {
      const { header, kind } = await readVcfHeader(file, o.path);
      out.push({
        rel: o.path,
        file,
        samples: header.samples,
        assembly: header.assembly,
        sampleLine: header.chromLine,
        scores: scoreColumns(header),
        kind: 'vcf',
        sourceKind: kind,
        ranges: await planRanges(file, kind, n, input.minShardBytes),
      });
      continue;
    }
    const reader = await openGenotypeReader(o.format, loaded.baseDir, o);
    try {
      const header = await reader.header();
      out.push({
        rel: o.path,
        file,
        samples: header.samples,
        assembly: header.assembly,
        scores: [],
        kind: o.format,
        variantRanges: await reader.plan(n),
      });
    } finally {
      await reader.close();
    }
  }
  return out;
}

/**
 * The person of each genotype sample: the sample id itself, which must be a person of the
 * persons table; with an OMOP EHR, the folder's linkage rule (ingest/omop/). A sample without a
 * person is refused.
 */
async function samplePersons(
  config: EngineConfig,
  loaded: LoadedManifest,
  samples: string[],
  first: DescribedInput,
): Promise<string[]> {
  const { manifest, baseDir } = loaded;
  const ehr = manifest.ehr;
  if (ehr) {
    const links = await withCompute(config, (conn) => omopSampleLinks(conn, baseDir, ehr, samples));
    const i = links.personIds.indexOf(null);
    if (i >= 0) {
      const unlinked = links.personIds.filter((p) => p === null).length;
      throw new InputError(
        `sample ${samples[i]} has no person in the OMOP folder (${unlinked} of ${samples.length} samples are unlinked; linking by ${ehr.sampleId ?? 'person_id'})`,
        { file: first.rel, line: first.sampleLine, field: samples[i] },
        ehr.sampleId === 'linkage'
          ? 'add the sample to the linkage table, or drop it from the genotype files'
          : 'set "ehr.sampleId" to how sample ids name persons (person_id, person_source_value or linkage)',
      );
    }
    return links.personIds as string[];
  }
  const pt = manifest.persons;
  if (!pt) throw new InputError('no persons table', { file: loaded.manifestPath, field: 'persons' });
  const personIds = await withCompute(config, async (conn) => {
    const table = await openTable(conn, join(baseDir, pt.path), pt.format, missingTokens(pt), pt.path);
    const idx = requireColumn(table.columns, pt.idColumn, pt.path, 'persons.idColumn');
    const ids = new Set<string>();
    for await (const row of table.rows) if (row.values[idx] !== null) ids.add(row.values[idx] as string);
    return ids;
  });
  const missing = samples.find((s) => !personIds.has(s));
  if (missing !== undefined)
    throw new InputError(
      `sample ${missing} is not in persons (${pt.path})`,
      { file: first.rel, line: first.sampleLine, field: missing },
      'every genotype sample id must be a person_id of the persons table',
    );
  return samples;
}

// --- Finalize ---

export interface FinalizeInput {
  plan: ReleasePlan;
  shards: ShardResult[];
  ehr: {
    nPersons: number;
    nConditions: number;
    nMeasurements: number;
    nRejects: number;
    nUnknownCodes: number;
  };
}

export interface FinalizeResult {
  releaseId: string;
  fingerprint: string;
  dataPath: string;
  nSamples: number;
  nVariants: number;
  nGenotypeFiles: number;
}

function chunkStem(shardKey: string, k: number): string {
  return `${shardKey}-c${String(k).padStart(5, '0')}`;
}

/**
 * Assemble the release from the shard parts: global variant_idx (shard offsets in plan
 * order), samples/variants/genotypes Parquet; rename staging → final; register.
 */
export async function finalizeRelease(
  config: EngineConfig,
  input: FinalizeInput,
  heartbeat?: (progress: { shard: string; chunk: number }) => void,
): Promise<FinalizeResult> {
  const { plan } = input;
  const byKey = new Map(input.shards.map((s) => [s.shardKey, s]));
  const staging = plan.stagingDir;
  const parts = join(staging, 'parts');
  const stored = JSON.parse(await readFile(join(staging, 'samples.json'), 'utf8')) as
    | string[]
    | { samples: string[]; personIds: string[] };
  // Plans staged before persons could differ from samples stored the sample list alone.
  const samples = Array.isArray(stored) ? stored : stored.samples;
  const personIds = Array.isArray(stored) ? stored : stored.personIds;
  const scoreCols = plan.scores.map((s) => `, ${sqlIdent(s.column)}`).join('');
  let nVariants = 0;
  let nGenotypeFiles = 0;
  await withCompute(config, async (conn) => {
    // samples
    await conn.run(
      'CREATE OR REPLACE TEMP TABLE release_samples (sample_idx INTEGER, sample_id VARCHAR, person_id VARCHAR)',
    );
    const app = await conn.createAppender('release_samples', 'main', 'temp');
    samples.forEach((s, i) => {
      app.appendInteger(i);
      app.appendVarchar(s);
      app.appendVarchar(personIds[i]);
      app.endRow();
    });
    app.closeSync();
    await atomicProduce(join(staging, 'samples.parquet'), (tmp) =>
      conn.run(
        `COPY (SELECT sample_idx, sample_id, person_id FROM release_samples ORDER BY sample_idx) TO ${sqlString(tmp)} (FORMAT parquet)`,
      ),
    );
    await conn.run('DROP TABLE release_samples');

    // variants and genotypes, shard by shard, chunk by chunk
    const selects: string[] = [];
    /** chrom → format → the first file of that format holding it. */
    const seen = new Map<string, Map<string, string>>();
    let offset = 0;
    for (const task of plan.shards) {
      const res = byKey.get(task.shardKey);
      if (!res) throw new Error(`finalize: no result for shard ${task.shardKey}`);
      let chunkOffset = offset;
      for (let k = 0; k < res.chunks; k++) {
        const src = join(parts, task.shardKey, `c${String(k).padStart(5, '0')}`);
        const stem = chunkStem(task.shardKey, k);
        heartbeat?.({ shard: task.shardKey, chunk: k });
        const cnt = await conn.runAndReadAll(
          `SELECT count(*)::BIGINT FROM read_parquet(${sqlString(`${src}.var.parquet`)})`,
        );
        const n = Number(cnt.getRows()[0][0]);
        if (n === 0) continue;
        await noteChromosomes(conn, `${src}.var.parquet`, task, seen);
        selects.push(
          `SELECT ${sqlString(plan.releaseId)} AS release_id, variant_idx + ${offset} AS variant_idx, chrom, pos, rsid, ref, alt, qual, filter, af, ac, an, n_called, call_rate, hwe_p, gene, consequence, impact, ds_sum${scoreCols}, ${sqlString(stem)} AS shard FROM read_parquet(${sqlString(`${src}.var.parquet`)})`,
        );
        const target = join(staging, 'genotypes', `${stem}.parquet`);
        if (plan.nSamples > 0 && !(await exists(target))) {
          if (offset === 0 && task.genotypeCompression !== 'uncompressed') {
            await atomicProduce(target, (tmp) => rename(`${src}.gt.parquet`, tmp));
          } else {
            await atomicProduce(target, (tmp) =>
              conn.run(
                `COPY (SELECT * REPLACE (variant_idx + ${offset} AS variant_idx) FROM read_parquet(${sqlString(`${src}.gt.parquet`)})) TO ${sqlString(tmp)} (FORMAT parquet, ${genotypeCompressionSql(config.ingest.genotypeCompression)}, ROW_GROUP_SIZE ${GENOTYPE_ROW_GROUP})`,
              ),
            );
          }
        }
        if (plan.nSamples > 0) nGenotypeFiles++;
        chunkOffset += n;
      }
      if (chunkOffset - offset !== res.nVariants)
        throw new Error(
          `finalize: shard ${task.shardKey} has ${chunkOffset - offset} rows, expected ${res.nVariants}`,
        );
      offset = chunkOffset;
    }
    nVariants = offset;
    for (const [chrom, from] of seen)
      if (from.size > 1) {
        const [a, b] = [...from.entries()];
        throw new InputError(
          `chromosome ${chrom} is in a ${a[0]} file (${a[1]}) and a ${b[0]} file (${b[1]}): formats may be mixed across files, not within one chromosome`,
          { file: b[1], field: 'genotypes' },
          'give each chromosome in one format (convert one of them, or drop the duplicate)',
        );
      }
    const empty = `SELECT NULL::VARCHAR AS release_id, ${PART_VARIANT_COLUMNS.split(',')
      .map((c) => c.trim().split(/\s+/))
      .map(([name, type]) => `NULL::${type} AS ${name}`)
      .join(
        ', ',
      )}${plan.scores.map((s) => `, NULL::DOUBLE AS ${sqlIdent(s.column)}`).join('')}, NULL::VARCHAR AS shard WHERE false`;
    const union = selects.length ? selects.join('\nUNION ALL\n') : empty;
    await atomicProduce(join(staging, 'variants.parquet'), (tmp) =>
      conn.run(
        `COPY (${union} ORDER BY variant_idx) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
      ),
    );
  });
  await rm(parts, { recursive: true, force: true });
  await rm(join(staging, 'plan.json'), { force: true });
  await rm(join(staging, 'samples.json'), { force: true });
  await atomicWriteFile(
    join(staging, 'release.json'),
    JSON.stringify({
      releaseId: plan.releaseId,
      fingerprint: plan.fingerprint,
      manifest: plan.manifestPath,
      nVariants,
      provided: plan.provided,
      assembly: plan.assembly ?? null,
    }),
  );
  await rm(plan.finalDir, { recursive: true, force: true });
  await rename(staging, plan.finalDir);
  try {
    await registerRelease(config, plan, input, nVariants);
  } catch (err) {
    await rm(plan.finalDir, { recursive: true, force: true });
    throw err;
  }
  return {
    releaseId: plan.releaseId,
    fingerprint: plan.fingerprint,
    dataPath: plan.finalDir,
    nSamples: samples.length,
    nVariants,
    nGenotypeFiles,
  };
}

/** Record which format (and file) each chromosome of a chunk came from. */
async function noteChromosomes(
  conn: DuckDBConnection,
  varFile: string,
  task: IngestShardTask,
  seen: Map<string, Map<string, string>>,
): Promise<void> {
  const r = await conn.runAndReadAll(`SELECT DISTINCT chrom FROM read_parquet(${sqlString(varFile)})`);
  const format = task.format ?? 'vcf';
  for (const [chrom] of r.getRows()) {
    let from = seen.get(chrom as string);
    if (!from) seen.set(chrom as string, (from = new Map()));
    if (!from.has(format)) from.set(format, task.displayName);
  }
}

async function registerRelease(
  config: EngineConfig,
  plan: ReleasePlan,
  input: FinalizeInput,
  nVariants: number,
) {
  await withEngineDb(config, async (conn) => {
    await ensureCatalog(conn);
    await conn.run('BEGIN TRANSACTION');
    try {
      await conn.run('DELETE FROM variants WHERE release_id = $1', [plan.releaseId]);
      await conn.run(
        `INSERT INTO variants SELECT ${CATALOG_VARIANT_COLUMNS.map(sqlIdent).join(', ')} FROM read_parquet(${sqlString(join(plan.finalDir, 'variants.parquet'))})`,
      );
      await conn.run('DELETE FROM releases WHERE release_id = $1', [plan.releaseId]);
      await conn.run(
        `INSERT INTO releases (release_id, fingerprint, manifest_path, data_path, n_samples, n_variants, n_persons,
           n_conditions, n_measurements, n_rejects, n_unknown_codes, assembly)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          plan.releaseId,
          plan.fingerprint,
          plan.manifestPath,
          plan.finalDir,
          plan.nSamples,
          nVariants,
          input.ehr.nPersons,
          input.ehr.nConditions,
          input.ehr.nMeasurements,
          input.ehr.nRejects,
          input.ehr.nUnknownCodes,
          plan.assembly ?? null,
        ],
      );
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => {});
      throw err;
    }
  });
}

/** Remove everything an unfinished ingest wrote (after bad input). */
export async function abortRelease(plan: Pick<ReleasePlan, 'stagingDir'>): Promise<void> {
  await rm(plan.stagingDir, { recursive: true, force: true });
  // Remove releases/<id>/ too when nothing else is in it.
  const parent = dirname(plan.stagingDir);
  await rmdir(parent).catch(() => {});
}
