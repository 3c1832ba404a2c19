/**
 * Releases: manifest loading, the fingerprint, where a release lives on disk, and the
 * release catalog in the engine database. Ingesting one (plan, finalise) is ingest/release.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ZodError } from 'zod';
import type { ReleaseRow } from '../schemas/catalog.js';
import {
  CATALOG_VARIANTS_DDL,
  type GenotypeFormat,
  type GenotypeInput,
  genotypeOptions,
  OMOP_FILE,
  type OmopEhr,
  type OmopTable,
  RELEASES_DDL,
  RELEASES_MIGRATIONS,
  type ReleaseManifest,
  releaseManifestSchema,
} from '../schemas/release.js';
import type { EngineConfig } from '../temporal.config.js';
import { hasTable, withEngineDb } from './duckdb.js';
import { InputError } from './errors.js';
import { canonicalJson, exists, sha256Text } from './fsutil.js';

export interface LoadedManifest {
  manifestPath: string;
  baseDir: string;
  manifest: ReleaseManifest;
}

/** Read and validate a manifest; every listed file must exist. */
export async function loadManifest(manifestPath: string): Promise<LoadedManifest> {
  const path = resolve(manifestPath);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new InputError('cannot read the release manifest', { file: manifestPath });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const m = /position (\d+)/.exec(String((err as Error).message));
    const line = m ? text.slice(0, Number(m[1])).split('\n').length : undefined;
    throw new InputError(`not valid JSON: ${(err as Error).message}`, { file: manifestPath, line });
  }
  let manifest: ReleaseManifest;
  try {
    manifest = releaseManifestSchema.parse(raw);
  } catch (err) {
    if (err instanceof ZodError) {
      const issue = err.issues[0];
      const keys = issue.code === 'unrecognized_keys' ? `.${issue.keys.join(',')}` : '';
      const field = `${issue.path.join('.')}${keys}` || '(root)';
      throw new InputError(issue.message, { file: manifestPath, field });
    }
    throw err;
  }
  const baseDir = dirname(path);
  for (const [field, rel] of await listedFiles(manifest, baseDir)) {
    if (!(await exists(join(baseDir, rel))))
      throw new InputError(`file not found: ${rel}`, { file: manifestPath, field });
  }
  return { manifestPath: path, baseDir, manifest };
}

/** A genotype input's files, relative to the manifest (companions resolved). */
export interface GenotypeFiles {
  format: GenotypeFormat;
  /** The `.vcf(.gz)`, `.bed`, `.pgen` or `.bgen`. */
  main: string;
  bim?: string;
  fam?: string;
  refFasta?: string;
  pvar?: string;
  psam?: string;
  /** BGEN: the `.sample` file, when given or present beside the `.bgen`. */
  sample?: string;
}

/**
 * The files of one genotype input: the named ones, else the companions beside the main file
 * with the same stem (`x.bed` → `x.bim`, `x.fam`; `x.pgen` → `x.pvar` or `x.pvar.zst`, `x.psam`;
 * `x.bgen` → `x.sample` when present).
 */
export async function genotypeFiles(baseDir: string, input: GenotypeInput): Promise<GenotypeFiles> {
  const o = genotypeOptions(input);
  const stem = o.path.replace(/\.(bed|pgen|bgen)$/i, '');
  const out: GenotypeFiles = { format: o.format, main: o.path };
  if (o.format === 'bed') {
    out.bim = o.bim ?? `${stem}.bim`;
    out.fam = o.fam ?? `${stem}.fam`;
    if (o.refFasta) out.refFasta = o.refFasta;
  } else if (o.format === 'pgen') {
    out.pvar =
      o.pvar ??
      (!(await exists(join(baseDir, `${stem}.pvar`))) && (await exists(join(baseDir, `${stem}.pvar.zst`)))
        ? `${stem}.pvar.zst`
        : `${stem}.pvar`);
    out.psam = o.psam ?? `${stem}.psam`;
  } else if (o.format === 'bgen') {
    if (o.sample) out.sample = o.sample;
    else if (await exists(join(baseDir, `${stem}.sample`))) out.sample = `${stem}.sample`;
  }
  return out;
}

/** The OMOP folder's CDM files that are present, as paths relative to the manifest, by table name. */
export async function omopFiles(baseDir: string, ehr: OmopEhr): Promise<Map<OmopTable, string>> {
  const dir = join(baseDir, ehr.path);
  const names = await readdir(dir).catch(() => null);
  if (names === null) throw new InputError(`OMOP folder not found: ${ehr.path}`, { field: 'ehr.path' });
  const out = new Map<OmopTable, string>();
  for (const name of names.sort()) {
    const m = OMOP_FILE.exec(name);
    if (!m) continue;
    const table = m[1].toLowerCase() as OmopTable;
    if (out.has(table))
      throw new InputError(
        `two files for OMOP table ${table}: ${out.get(table)} and ${join(ehr.path, name)}`,
        {
          field: 'ehr.path',
        },
      );
    out.set(table, join(ehr.path, name));
  }
  return out;
}

/** Every file the manifest lists, as [manifest field, relative path]. */
export async function listedFiles(m: ReleaseManifest, baseDir: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < m.genotypes.length; i++) {
    const f = await genotypeFiles(baseDir, m.genotypes[i]);
    out.push([`genotypes.${i}`, f.main]);
    for (const k of ['bim', 'fam', 'refFasta', 'pvar', 'psam', 'sample'] as const) {
      const rel = f[k];
      if (rel) out.push([`genotypes.${i}.${k}`, rel]);
    }
  }
  if (m.persons) out.push(['persons.path', m.persons.path]);
  if (m.conditions) out.push(['conditions.path', m.conditions.path]);
  if (m.measurements) out.push(['measurements.path', m.measurements.path]);
  if (m.ehr) {
    for (const [table, rel] of await omopFiles(baseDir, m.ehr)) out.push([`ehr.${table}`, rel]);
    if (m.ehr.linkage) out.push(['ehr.linkage.path', m.ehr.linkage.path]);
  }
  m.tables.forEach((t, i) => {
    out.push([`tables.${i}.path`, t.path]);
  });
  return out;
}

/**
 * Version of the ingested layout (engine/genotypes.ts and the tables beside it). It is part of
 * the fingerprint, so after a layout change `release add` of the same files ingests again
 * (into a new folder) instead of reusing data the engine can no longer read.
 * 2: `gt` packed 2 bits per call (1: one byte per call).
 */
export const RELEASE_LAYOUT_VERSION = 2;

/**
 * The release fingerprint: sha256 of the lines `<relative path>\t<size>\t<sha256>\n`
 * sorted by path, over every listed file, plus one line `(manifest)\t<len>\t<sha256>` of
 * the manifest's canonical JSON, so that a changed column mapping is a new release too, and
 * one line `(layout)\t<RELEASE_LAYOUT_VERSION>`.
 */
export async function releaseFingerprint(
  loaded: LoadedManifest,
  heartbeat?: (progress: { file: string; bytes: number }) => void,
): Promise<string> {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const [, rel] of await listedFiles(loaded.manifest, loaded.baseDir)) {
    if (seen.has(rel)) continue;
    seen.add(rel);
    const full = join(loaded.baseDir, rel);
    lines.push(`${rel}\t${(await stat(full)).size}\t${await hashFile(full, rel, heartbeat)}`);
  }
  const canon = canonicalJson(loaded.manifest);
  lines.push(`(manifest)\t${Buffer.byteLength(canon)}\t${sha256Text(canon)}`);
  if (RELEASE_LAYOUT_VERSION > 1) lines.push(`(layout)\t${RELEASE_LAYOUT_VERSION}`);
  lines.sort();
  return sha256Text(`${lines.join('\n')}\n`);
}

/** sha256 of a file, streaming, calling `heartbeat` every 256 MiB (large VCFs take minutes). */
async function hashFile(
  path: string,
  rel: string,
  heartbeat?: (progress: { file: string; bytes: number }) => void,
): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  let next = 256 << 20;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes >= next) {
      heartbeat?.({ file: rel, bytes });
      next += 256 << 20;
    }
  }
  return hash.digest('hex');
}

export function releaseDir(config: EngineConfig, releaseId: string, fingerprint: string): string {
  return join(config.dataDir, 'releases', releaseId, fingerprint.slice(0, 12));
}

export function stagingDir(config: EngineConfig, releaseId: string, fingerprint: string): string {
  return join(config.dataDir, 'releases', releaseId, `.staging-${fingerprint.slice(0, 12)}`);
}

/** A row of the `releases` catalog table (schemas/catalog.ts). */
export type RegisteredRelease = ReleaseRow;

/** Create the catalog tables if absent. */
export async function ensureCatalog(conn: DuckDBConnection): Promise<void> {
  await conn.run(RELEASES_DDL);
  for (const m of RELEASES_MIGRATIONS) await conn.run(m);
  await conn.run(CATALOG_VARIANTS_DDL);
}

/** Registered releases, newest first. */
export async function listReleases(config: EngineConfig): Promise<RegisteredRelease[]> {
  if (!(await exists(config.database))) return [];
  return withEngineDb(config, async (conn) => {
    if (!(await hasTable(conn, 'releases'))) return [];
    const r = await conn.runAndReadAll(
      'SELECT *, CAST(created_at AS VARCHAR) AS created_at FROM releases ORDER BY created_at DESC',
    );
    return r.getRowObjectsJson().map((row) => {
      const o = row as Record<string, unknown>;
      for (const k of Object.keys(o)) if (k.startsWith('n_')) o[k] = Number(o[k]);
      return o as unknown as RegisteredRelease;
    });
  });
}

/** The registered release with this id, if any. */
export async function findRelease(
  config: EngineConfig,
  releaseId: string,
): Promise<RegisteredRelease | null> {
  return (await listReleases(config)).find((r) => r.release_id === releaseId) ?? null;
}

/** The genome assembly recorded for one registration of a release, or null. */
export async function releaseAssemblyOf(
  config: EngineConfig,
  releaseId: string,
  fingerprint: string,
): Promise<string | null> {
  const r = (await listReleases(config)).find(
    (x) => x.release_id === releaseId && x.fingerprint === fingerprint,
  );
  return r?.assembly ?? null;
}

/** Which EHR tables a release's manifest provided (release.json; absent ones are written empty). */
export interface ProvidedTables {
  conditions: boolean;
  measurements: boolean;
  /** Names of the user's extra tables (`tables/<name>.parquet`). */
  tables: string[];
}
