/**
 * Releases: manifest loading, the fingerprint, where a release lives on disk, and the
 * release catalog in the engine database. Ingesting one (plan, finalise) is ingest/release.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ZodError } from 'zod';
import type { ReleaseRow } from '../schemas/catalog.js';
import {
  CATALOG_VARIANTS_DDL,
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
  for (const [field, rel] of listedFiles(manifest)) {
    if (!(await exists(join(baseDir, rel))))
      throw new InputError(`file not found: ${rel}`, { file: manifestPath, field });
  }
  return { manifestPath: path, baseDir, manifest };
}

/** Every file the manifest lists, as [manifest field, relative path]. */
export function listedFiles(m: ReleaseManifest): Array<[string, string]> {
  const out: Array<[string, string]> = m.genotypes.map((g, i) => [`genotypes.${i}`, g]);
  out.push(['persons.path', m.persons.path]);
  if (m.conditions) out.push(['conditions.path', m.conditions.path]);
  if (m.measurements) out.push(['measurements.path', m.measurements.path]);
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
  for (const [, rel] of listedFiles(loaded.manifest)) {
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
