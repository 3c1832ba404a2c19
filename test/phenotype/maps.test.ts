import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { exists } from '../../engine/fsutil.js';
import { FetchError, fetchPhecodeMaps } from '../../phenotype/fetch.js';
import { loadPhecodeMaps, mapTables, resolveMapsDir, SHIPPED_PHECODE_DIR } from '../../phenotype/maps.js';
import type { EngineConfig } from '../../temporal.config.js';
import { freePort } from '../helpers/ports.js';
import { MAPS_12, MAPS_X, testConfig } from './fixture.js';

let config: EngineConfig;

beforeAll(async () => {
  config = await testConfig();
});

afterAll(async () => {
  await rm(config.dataDir, { recursive: true, force: true });
});

async function phecodesOf(version: '1.2' | 'X', vocabulary: string, code: string): Promise<string[]> {
  return withCompute(config, async (conn) => {
    await loadPhecodeMaps(conn, version === '1.2' ? MAPS_12 : MAPS_X, version);
    const r = await conn.runAndReadAll(
      `SELECT phecode FROM ${mapTables(version).map} WHERE vocabulary = $1 AND code = $2 ORDER BY phecode`,
      [vocabulary, code],
    );
    return r.getRowObjectsJS().map((o) => o.phecode as string);
  });
}

describe('real phecode maps shipped in data/phecode', () => {
  it('loads 1.2 with the published row counts and records sha256 per file', async () => {
    const info = await withCompute(config, (conn) => loadPhecodeMaps(conn, MAPS_12, '1.2'));
    // Row counts as listed in data/phecode/SOURCE.md.
    expect(Object.fromEntries(info.files.map((f) => [f.name, f.rows]))).toEqual({
      'phecode_map.csv': 84532,
      'phecode_map_icd10.csv': 9505,
      'phecode_rollup_map.csv': 3319,
      'phecode_exclude.csv': 30028,
      'pheinfo.csv': 1817,
      'sex_restriction.csv': 1817,
    });
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256')
      .update(gunzipSync(await readFile(join(MAPS_12, 'phecode_map.csv.gz'))))
      .digest('hex');
    expect(info.files.find((f) => f.name === 'phecode_map.csv')?.sha256).toBe(sha);
  });

  it('loads X with the published row counts', async () => {
    const info = await withCompute(config, (conn) => loadPhecodeMaps(conn, MAPS_X, 'X'));
    expect(Object.fromEntries(info.files.map((f) => [f.name, f.rows]))).toEqual({
      'phecodeX_R_map.csv': 79583,
      'phecodeX_R_map_ICD_10_WHO.csv': 20255,
      'phecodeX_R_rollup_map.csv': 7956,
      'phecodeX_R_labels.csv': 3612,
      'phecodeX_R_sex.csv': 3612,
    });
  });

  it('E11.9 maps to 250.2 (and its parent 250) in 1.2 and to EM_202.2 (and EM_202) in X', async () => {
    expect(await phecodesOf('1.2', 'ICD10CM', 'E11.9')).toEqual(['250', '250.2']);
    expect(await phecodesOf('1.2', 'ICD10', 'E11.9')).toEqual(['250', '250.2']);
    expect(await phecodesOf('X', 'ICD10CM', 'E11.9')).toEqual(['EM_202', 'EM_202.2']);
    expect(await phecodesOf('1.2', 'ICD9CM', '250.00')).toEqual(['250', '250.2']);
  });

  it("keeps codes as strings ('001.0' → '008', never '8') and separates WHO ICD-10 from ICD-10-CM", async () => {
    expect(await phecodesOf('1.2', 'ICD9CM', '001.0')).toEqual(['008']);
    expect(await phecodesOf('1.2', 'ICD10', 'E14.9')).toEqual(['250', '250.2']); // WHO only
    expect(await phecodesOf('1.2', 'ICD10CM', 'E14.9')).toEqual([]); // not an ICD-10-CM code
    expect(await phecodesOf('X', 'ICD10', 'E14.9')).toContain('EM_202.4');
  });
});

describe('bad map files', () => {
  async function copyMaps(name: string): Promise<string> {
    const dir = join(config.dataDir, name);
    await mkdir(dir, { recursive: true });
    await cp(MAPS_12, dir, { recursive: true });
    return dir;
  }
  const load = (dir: string) => withCompute(config, (conn) => loadPhecodeMaps(conn, dir, '1.2'));

  it('a missing column names file, line 1 and field', async () => {
    const dir = await copyMaps('badheader');
    await writeFile(join(dir, 'phecode_exclude.csv'), '"code","exclusion"\n"008","009"\n');
    await expect(load(dir)).rejects.toThrow(
      /phecode_exclude\.csv, line 1, field exclusion_criteria: missing column/,
    );
  });

  it('an empty code names its line', async () => {
    const dir = await copyMaps('emptycode');
    await writeFile(
      join(dir, 'phecode_map.csv'),
      '"vocabulary_id","code","phecode"\n"ICD9CM","001.0","008"\n"ICD9CM","","008"\n',
    );
    await expect(load(dir)).rejects.toThrow(/phecode_map\.csv, line 3, field code: empty code/);
  });

  it('WHO ICD-10 rows in the ICD-10-CM map are rejected', async () => {
    const dir = await copyMaps('vocab');
    await writeFile(
      join(dir, 'phecode_map.csv'),
      '"vocabulary_id","code","phecode"\n"ICD10","E11.9","250.2"\n',
    );
    await expect(load(dir)).rejects.toThrow(
      /phecode_map\.csv, field vocabulary_id: vocabulary 'ICD10' is not allowed/,
    );
  });

  it('a missing file says how to get it', async () => {
    const err = await load(join(config.dataDir, 'nothing-here')).catch((e) => e);
    expect(err.message).toMatch(/phecode 1\.2 map file phecode_map\.csv not found/);
    expect(err.hint).toMatch(/biobank phecodes fetch --version 1\.2/);
  });
});

describe('phecodes fetch without internet', () => {
  it('fails with a clear FetchError and leaves no folder behind', async () => {
    const port = await freePort();
    for (const version of ['X', '1.2'] as const) {
      const err = await withCompute(config, (conn) =>
        fetchPhecodeMaps(conn, config.dataDir, version, {
          baseUrl: `http://127.0.0.1:${port}/`,
          timeoutMs: 5000,
        }),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(FetchError);
      expect(err.message).toMatch(/could not download http:\/\/127\.0\.0\.1:\d+\/.*ECONNREFUSED/);
      expect(await exists(join(config.dataDir, 'phecode', version))).toBe(false);
    }
  });
});

describe('phecodes fetch from a mirror (a local HTTP server holding the published CSVs)', () => {
  /** Serve `<dir>/<name>.gz` decompressed at `/<name>`, as the public sources publish them; 404 otherwise. */
  async function mirror(
    dir: string,
  ): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      const name = decodeURIComponent((req.url ?? '/').slice(1));
      requests.push(name);
      readFile(join(dir, `${name}.gz`)).then(
        (gz) => res.writeHead(200, { 'content-type': 'text/csv' }).end(gunzipSync(gz)),
        () => res.writeHead(404).end('Not Found'),
      );
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/`,
      requests,
      close: () => new Promise<void>((ok) => server.close(() => ok())),
    };
  }

  it('downloads every file, checks it, installs it, and the installed version then wins', async () => {
    const m = await mirror(MAPS_X);
    const dataDir = join(config.dataDir, 'fetch-ok');
    try {
      const info = await withCompute(config, (conn) =>
        fetchPhecodeMaps(conn, dataDir, 'X', { baseUrl: m.url }),
      );
      const shipped = await withCompute(config, (conn) => loadPhecodeMaps(conn, MAPS_X, 'X'));
      expect(info.folder).toBe(join(dataDir, 'phecode', 'X'));
      // Same content as shipped: same sha256 and rows per file.
      expect(info.files).toEqual(shipped.files);
      expect(m.requests.sort()).toEqual(shipped.files.map((f) => f.name).sort());
      const source = JSON.parse(await readFile(join(dataDir, 'phecode', 'X', 'SOURCE.json'), 'utf8'));
      expect(source.files.map((f: { url: string }) => f.url)).toContain(`${m.url}phecodeX_R_map.csv`);
      expect(resolveMapsDir(dataDir, 'X')).toBe(join(dataDir, 'phecode', 'X'));
      expect(resolveMapsDir(dataDir, '1.2')).toBe(MAPS_12);
    } finally {
      await m.close();
    }
  });

  it('a 404 for phecode 1.2 says the default source has not published it; --force keeps the installed version', async () => {
    const m = await mirror(join(config.dataDir, 'empty-mirror'));
    const dataDir = join(config.dataDir, 'fetch-404');
    try {
      const err = await withCompute(config, (conn) =>
        fetchPhecodeMaps(conn, dataDir, '1.2', { baseUrl: m.url }),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(FetchError);
      expect(err.message).toMatch(/phecode_map\.csv: HTTP 404 .*PhecodeXVocabulary.*not yet published/);
      expect(err.message).toMatch(/data\/phecode\/v1\.2/);
      expect(await exists(join(dataDir, 'phecode', '1.2'))).toBe(false);

      // An installed version survives a failed forced re-fetch.
      await mkdir(join(dataDir, 'phecode'), { recursive: true });
      await cp(MAPS_12, join(dataDir, 'phecode', '1.2'), { recursive: true });
      const forced = await withCompute(config, (conn) =>
        fetchPhecodeMaps(conn, dataDir, '1.2', { baseUrl: m.url, force: true }),
      ).catch((e) => e);
      expect(forced).toBeInstanceOf(FetchError);
      expect(await exists(join(dataDir, 'phecode', '1.2', 'phecode_map.csv.gz'))).toBe(true);
    } finally {
      await m.close();
    }
  });
});

describe('shipped maps and their SOURCE.md', () => {
  it('lists every shipped file with the sha256 of its CSV and of its .gz, and the row count', async () => {
    const { createHash } = await import('node:crypto');
    const source = await readFile(join(SHIPPED_PHECODE_DIR, 'SOURCE.md'), 'utf8');
    const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
    for (const [dir, version] of [
      [MAPS_12, '1.2'],
      [MAPS_X, 'X'],
    ] as const) {
      const info = await withCompute(config, (conn) => loadPhecodeMaps(conn, dir, version));
      for (const f of info.files) {
        const gz = await readFile(join(dir, `${f.name}.gz`));
        const row = source.split('\n').find((l) => l.startsWith(`| ${f.name} |`));
        expect(row, f.name).toBeDefined();
        const cells = (row as string).split('|').map((c) => c.trim());
        expect(Number(cells[2].replace(/,/g, '')), f.name).toBe(f.rows);
        expect(cells[3], f.name).toBe(sha(gunzipSync(gz)));
        expect(cells[4], f.name).toBe(sha(gz));
        expect(f.sha256, f.name).toBe(cells[3]);
      }
    }
  });

  it('are the default: with nothing loaded or fetched, the shipped folder is used', () => {
    const empty = join(config.dataDir, 'no-maps-installed');
    expect(resolveMapsDir(empty, '1.2')).toBe(MAPS_12);
    expect(resolveMapsDir(empty, 'X')).toBe(MAPS_X);
    expect(resolveMapsDir(empty, 'X', '/explicit')).toBe('/explicit');
  });
});
