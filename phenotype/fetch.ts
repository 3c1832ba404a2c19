/**
 * `biobank phecodes fetch`: download a phecode map version from its public source into
 * `<dataDir>/phecode/<version>/`, validate it with the loader, and only then move it into
 * place (a failed or partial download leaves nothing behind).
 *
 * Sources (both as CSV, so fetching needs nothing but the network):
 * - X: the PhecodeX repository (github.com/PheWAS/PhecodeX), the `phecodeX_R_*` CSV files as
 *   published.
 * - 1.2: the PhecodeXVocabulary repository (github.com/PheWAS/PhecodeXVocabulary), folder
 *   `Phecode_V1.2/`, the PheWAS R package's tables as CSV under their table names
 *   (`phecode_map.csv`, …). Its README announced that folder in 2023, but as of 2026-04-27 no
 *   phecode 1.2 file was ever committed there, so this source answers 404 until it is
 *   published; the error says so. `--base-url` points at any mirror holding the CSVs.
 * The engine ships both versions in `data/phecode` (see its SOURCE.md; the shipped 1.2 equals
 * the PheWAS R package's data, unchanged since 2023-05-31), so fetching is only needed for a
 * newer release of the maps.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { atomicProduce, exists } from '../engine/fsutil.js';
import type { PhecodeMapInfo, PhecodeVersion } from '../schemas/phenotype.js';
import { loadPhecodeMaps, PHECODE_FILES } from './maps.js';

export const PHECODE_SOURCES: Record<PhecodeVersion, { baseUrl: string }> = {
  X: { baseUrl: 'https://raw.githubusercontent.com/PheWAS/PhecodeX/main/' },
  '1.2': { baseUrl: 'https://raw.githubusercontent.com/PheWAS/PhecodeXVocabulary/main/Phecode_V1.2/' },
};

/** The download failed (no network, HTTP error); nothing was written. */
export class FetchError extends Error {
  override name = 'FetchError';
}

export interface FetchOptions {
  /** Override the source (tests, mirrors). */
  baseUrl?: string;
  timeoutMs?: number;
  /** Replace an existing folder. */
  force?: boolean;
}

/** Why a 404 from the default phecode 1.2 source is expected today, and what to do. */
const V12_NOT_PUBLISHED =
  "no phecode 1.2 CSV there; the default source, the PhecodeXVocabulary repository, has announced but not yet published them. Studies use the maps shipped with the engine (data/phecode/v1.2, the PheWAS R package's data) by default; to fetch, pass --base-url <mirror> holding the CSV files";

async function download(
  url: string,
  target: string,
  timeoutMs: number,
  notFoundHint?: string,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FetchError(
      `could not download ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} — is this machine offline?`,
    );
  }
  if (!res.ok) {
    const why = res.status === 404 && notFoundHint ? ` (${notFoundHint})` : '';
    throw new FetchError(`could not download ${url}: HTTP ${res.status} ${res.statusText}${why}`);
  }
  await writeFile(target, new Uint8Array(await res.arrayBuffer()));
}

/** Download, validate and install one version. Returns the map info. */
export async function fetchPhecodeMaps(
  conn: DuckDBConnection,
  dataDir: string,
  version: PhecodeVersion,
  options: FetchOptions = {},
): Promise<PhecodeMapInfo> {
  const source = PHECODE_SOURCES[version];
  const baseUrl = options.baseUrl ?? source.baseUrl;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const target = join(dataDir, 'phecode', version);
  if ((await exists(target)) && !options.force) {
    return loadPhecodeMaps(conn, target, version);
  }
  await mkdir(join(dataDir, 'phecode'), { recursive: true });
  await atomicProduce(target, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    const provenance: { file: string; url: string }[] = [];
    for (const spec of PHECODE_FILES[version]) {
      const url = `${baseUrl}${spec.name}`;
      await download(url, join(tmp, spec.name), timeoutMs, version === '1.2' ? V12_NOT_PUBLISHED : undefined);
      provenance.push({ file: spec.name, url });
    }
    await loadPhecodeMaps(conn, tmp, version); // validate before installing
    await writeFile(
      join(tmp, 'SOURCE.json'),
      `${JSON.stringify({ version, fetchedAt: new Date().toISOString(), files: provenance }, null, 2)}\n`,
    );
    // --force: the installed version is replaced only now, after a complete, valid download.
    if (options.force) await rm(target, { recursive: true, force: true });
  });
  return loadPhecodeMaps(conn, target, version);
}
