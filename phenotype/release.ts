/**
 * Where a release's canonical tables live (docs/ARCHITECTURE.md, "Data folder"):
 * `<dataDir>/releases/<releaseId>/<fp12>/`. A release id resolves through the catalog
 * (`engine/release.ts` `findRelease`, the newest registration) and, when the catalog has no
 * such release (e.g. tables written by hand), through that folder contract: the newest
 * `<fp12>` folder that holds `persons.parquet`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import { findRelease, type ProvidedTables } from '../engine/release.js';
import type { EngineConfig } from '../temporal.config.js';

export interface ReleaseTables {
  dir: string;
  persons: string;
  conditions: string;
  measurements: string;
  samples: string;
  variants: string;
  genotypesDir: string;
  tablesDir: string;
  /** Where derived products of the release (phenomes, PCs) are stored. */
  derivedDir: string;
}

export function releaseTables(dir: string): ReleaseTables {
  const d = resolve(dir);
  return {
    dir: d,
    persons: join(d, 'persons.parquet'),
    conditions: join(d, 'conditions.parquet'),
    measurements: join(d, 'measurements.parquet'),
    samples: join(d, 'samples.parquet'),
    variants: join(d, 'variants.parquet'),
    genotypesDir: join(d, 'genotypes'),
    tablesDir: join(d, 'tables'),
    derivedDir: join(d, 'derived'),
  };
}

/**
 * Which EHR tables a release provided. Ingest writes absent optional tables (conditions,
 * measurements) as empty canonical tables and records what was provided in `release.json`;
 * releases ingested before that record are read from the files: conditions were required then,
 * and measurements were provided exactly when `measurements.parquet` exists.
 */
export async function providedTables(dir: string): Promise<ProvidedTables> {
  const rel = releaseTables(dir);
  let recorded: ProvidedTables | undefined;
  try {
    recorded = (
      JSON.parse(await readFile(join(rel.dir, 'release.json'), 'utf8')) as { provided?: ProvidedTables }
    ).provided;
  } catch {
    recorded = undefined;
  }
  if (recorded) return recorded;
  const tables = (await exists(rel.tablesDir))
    ? (await readdir(rel.tablesDir)).filter((f) => f.endsWith('.parquet')).map((f) => f.slice(0, -8))
    : [];
  return {
    conditions: await exists(rel.conditions),
    measurements: await exists(rel.measurements),
    tables,
  };
}

/** Resolve a release id to its folder of canonical tables (catalog first, then the folder contract). */
export async function resolveReleaseDir(config: EngineConfig, releaseId: string): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(releaseId)) {
    throw new InputError(`'${releaseId}' is not a valid release id`, { field: 'release' });
  }
  const registered = (await exists(config.database)) ? await findRelease(config, releaseId) : null;
  if (registered?.data_path && (await exists(join(registered.data_path, 'persons.parquet')))) {
    return registered.data_path;
  }
  const base = join(config.dataDir, 'releases', releaseId);
  const entries = (await exists(base)) ? await readdir(base, { withFileTypes: true }) : [];
  let best: { dir: string; mtime: number } | undefined;
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = join(base, e.name);
    if (!(await exists(join(dir, 'persons.parquet')))) continue;
    const mtime = (await stat(dir)).mtimeMs;
    if (!best || mtime > best.mtime) best = { dir, mtime };
  }
  if (!best) {
    throw new InputError(
      `release '${releaseId}' has no ingested tables under ${base}`,
      { field: 'release' },
      'ingest it first, or pass --release-dir <folder with persons.parquet and conditions.parquet>',
    );
  }
  return best.dir;
}
