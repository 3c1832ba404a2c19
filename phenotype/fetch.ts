/**
 * `biobank phecodes fetch`: download a phecode map version from its public source into
 * `<dataDir>/phecode/<version>/`, validate it with the loader, and only then move it into
 * place (a failed or partial download leaves nothing behind).
 *
 * Sources (both as CSV, so fetching needs nothing but the network):
 * - X: the PhecodeX repository (github.com/PheWAS/PhecodeX), the `phecodeX_R_*` CSV files as
 *   published.
 * - 1.2: the PhecodeXVocabulary repository (github.com/PheWAS/PhecodeXVocabulary), which
 *   publishes phecode 1.2 beside phecodeX; the files must carry the PheWAS R package's table
 *   names and columns (`phecode_map.csv`, …). `--base-url` points at any mirror holding them.
 * The engine ships both versions in `data/phecode` (see its SOURCE.md), so fetching is only
 * needed for a newer release of the maps.
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

async function download(url: string, target: string, timeoutMs: number): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FetchError(
      `could not download ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message} — is this machine offline?`,
    );
  }
  if (!res.ok) throw new FetchError(`could not download ${url}: HTTP ${res.status} ${res.statusText}`);
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
  if (options.force) await rm(target, { recursive: true, force: true });
  await mkdir(join(dataDir, 'phecode'), { recursive: true });
  await atomicProduce(target, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    const provenance: { file: string; url: string }[] = [];
    for (const spec of PHECODE_FILES[version]) {
      const url = `${baseUrl}${spec.name}`;
      await download(url, join(tmp, spec.name), timeoutMs);
      provenance.push({ file: spec.name, url });
    }
    await loadPhecodeMaps(conn, tmp, version); // validate before installing
    await writeFile(
      join(tmp, 'SOURCE.json'),
      `${JSON.stringify({ version, fetchedAt: new Date().toISOString(), files: provenance }, null, 2)}\n`,
    );
  });
  return loadPhecodeMaps(conn, target, version);
}
