/**
 * Phecode maps: load PheWAS catalog 1.2 and phecodeX from a folder in the formats of the
 * public sources, into per-version DuckDB temp tables of one connection.
 *
 * Sources and formats (see docs/phenotyping.md):
 * - 1.2: the PheWAS R package's `data/` tables as CSV — `phecode_map.csv` (ICD9CM/ICD10CM,
 *   already rolled up), `phecode_map_icd10.csv` (WHO ICD-10), `phecode_rollup_map.csv`,
 *   `phecode_exclude.csv`, `pheinfo.csv`, `sex_restriction.csv`.
 * - X: the PhecodeX repository's `phecodeX_R_map.csv` (ICD9CM/ICD10CM, flat),
 *   `phecodeX_R_map_ICD_10_WHO.csv`, `phecodeX_R_rollup_map.csv`, `phecodeX_R_labels.csv`,
 *   `phecodeX_R_sex.csv`. phecodeX ships no exclusion ranges.
 *
 * Every column is read as text: phecodes and ICD codes are strings (`008` ≠ `8`).
 * WHO ICD-10 (vocabulary `ICD10`) and ICD-10-CM (`ICD10CM`) are different vocabularies: the
 * WHO file's rows are loaded only under `ICD10`, the CM map's only under `ICD10CM`.
 * The loaded map is rolled up: each (vocabulary, code) maps to its phecodes and every
 * ancestor of them (`rollup(code → phecode_unrolled)` where `code` is the descendant).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { sha256File } from '../engine/fsutil.js';
import { PROJECT_ROOT } from '../engine/temporal-bin.js';
import type { PhecodeMapInfo, PhecodeVersion } from '../schemas/phenotype.js';

export type { PhecodeMapInfo, PhecodeVersion } from '../schemas/phenotype.js';

type Role = 'map' | 'who' | 'rollup' | 'exclude' | 'info' | 'sex';

interface FileSpec {
  role: Role;
  name: string;
  /** Columns the file must have (by header name). */
  columns: string[];
}

/** The files of each version, in the public sources' names and columns. */
export const PHECODE_FILES: Record<PhecodeVersion, FileSpec[]> = {
  '1.2': [
    { role: 'map', name: 'phecode_map.csv', columns: ['vocabulary_id', 'code', 'phecode'] },
    { role: 'who', name: 'phecode_map_icd10.csv', columns: ['vocabulary_id', 'code', 'phecode'] },
    { role: 'rollup', name: 'phecode_rollup_map.csv', columns: ['code', 'phecode_unrolled'] },
    { role: 'exclude', name: 'phecode_exclude.csv', columns: ['code', 'exclusion_criteria'] },
    { role: 'info', name: 'pheinfo.csv', columns: ['phecode', 'description', 'group'] },
    { role: 'sex', name: 'sex_restriction.csv', columns: ['phecode', 'male_only', 'female_only'] },
  ],
  X: [
    { role: 'map', name: 'phecodeX_R_map.csv', columns: ['code', 'vocabulary_id', 'phecode'] },
    { role: 'who', name: 'phecodeX_R_map_ICD_10_WHO.csv', columns: ['code', 'vocabulary_id', 'phecode'] },
    { role: 'rollup', name: 'phecodeX_R_rollup_map.csv', columns: ['code', 'phecode_unrolled'] },
    { role: 'info', name: 'phecodeX_R_labels.csv', columns: ['phenotype', 'description', 'group'] },
    { role: 'sex', name: 'phecodeX_R_sex.csv', columns: ['phecode', 'male_only', 'female_only'] },
  ],
};

/**
 * The public maps shipped with the engine (`data/phecode/<v1.2|X>/*.csv.gz`; sources, versions,
 * sha256 and licences in `data/phecode/SOURCE.md`). Studies use them unless a version was
 * loaded or fetched into the data folder, or a spec names its own folder.
 */
export const SHIPPED_PHECODE_DIR = join(PROJECT_ROOT, 'data', 'phecode');

/** The shipped folder of one version. */
export function shippedMapsDir(version: PhecodeVersion): string {
  return join(SHIPPED_PHECODE_DIR, version === '1.2' ? 'v1.2' : 'X');
}

/**
 * Where a version's maps come from, in order: an explicit folder (spec `phewas.maps`, CLI
 * `--maps`); `<dataDir>/phecode/<version>/` when `phecodes load` or `phecodes fetch` installed
 * one; otherwise the maps shipped with the engine. The loader records the folder and every
 * file's sha256, so a run's provenance says which one it used.
 */
export function resolveMapsDir(dataDir: string, version: PhecodeVersion, explicit?: string): string {
  if (explicit) return explicit;
  const installed = join(dataDir, 'phecode', version);
  return existsSync(installed) ? installed : shippedMapsDir(version);
}

/** A map file in `folder`: the published `.csv`, or the same gzip-compressed (`.csv.gz`). */
export function mapFilePath(folder: string, name: string): string | undefined {
  for (const candidate of [join(folder, name), join(folder, `${name}.gz`)]) {
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** sha256 of the CSV content: a shipped `.csv.gz` and the same published `.csv` hash alike. */
async function sha256Csv(path: string): Promise<string> {
  if (!path.endsWith('.gz')) return sha256File(path);
  return createHash('sha256')
    .update(gunzipSync(await readFile(path)))
    .digest('hex');
}

async function readText(path: string): Promise<string> {
  const bytes = await readFile(path);
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/**
 * Check that `folder` holds every map file of `version` with the published columns, without
 * loading it (a study's prerequisites check). Throws `InputError` naming the spec `field`.
 */
export async function checkMapFiles(folder: string, version: PhecodeVersion, field: string): Promise<void> {
  for (const spec of PHECODE_FILES[version]) {
    const path = mapFilePath(folder, spec.name);
    if (path === undefined) {
      throw new InputError(
        `phecode ${version} map file ${spec.name} not found in ${folder}`,
        { field },
        `run 'biobank phecodes fetch --version ${version}', or remove the spec's phewas.maps to use the maps shipped with the engine`,
      );
    }
    await checkHeader(path, spec);
  }
}

/**
 * What a run records of the maps it uses, without loading them: the folder, each file's sha256
 * (of the CSV content, as `loadPhecodeMaps` records it) and one sha256 over those, for tables.
 */
export async function mapsProvenance(
  folder: string,
  version: PhecodeVersion,
): Promise<{ folder: string; sha256: string; files: { name: string; sha256: string }[] }> {
  const files: { name: string; sha256: string }[] = [];
  for (const spec of PHECODE_FILES[version]) {
    const path = mapFilePath(folder, spec.name);
    if (path) files.push({ name: spec.name, sha256: await sha256Csv(path) });
  }
  const sha256 = createHash('sha256')
    .update(files.map((f) => `${f.name}\t${f.sha256}\n`).join(''))
    .digest('hex');
  return { folder, sha256, files };
}

/** Names of the temp tables a loaded version lives in (per connection). */
export function mapTables(version: PhecodeVersion) {
  const v = version === '1.2' ? 'v12' : 'vx';
  return {
    /** (vocabulary, code, phecode): rolled up, distinct. */
    map: `phecode_map_${v}`,
    /** (phecode, excl): a person with phecode `excl` is not a control for `phecode`. Empty for X. */
    exclude: `phecode_exclude_${v}`,
    /** (phecode, male_only, female_only) for sex-restricted phecodes only. */
    sex: `phecode_sex_${v}`,
    /** (phecode, description, category): every phecode of the version. */
    info: `phecode_info_${v}`,
  } as const;
}

/** Split one CSV header line (RFC 4180 quoting). */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim());
}

async function checkHeader(path: string, spec: FileSpec): Promise<void> {
  const text = await readText(path);
  const nl = text.indexOf('\n');
  const header = splitCsvLine((nl < 0 ? text : text.slice(0, nl)).replace(/\r$/, '').replace(/^\uFEFF/, ''));
  for (const col of spec.columns) {
    if (!header.includes(col)) {
      throw new InputError(`missing column '${col}' (found: ${header.join(', ')})`, {
        file: path,
        line: 1,
        field: col,
      });
    }
  }
}

/** Find the first 1-based line whose `field` is empty, for an error message. */
async function lineOfEmpty(path: string, field: string): Promise<number | undefined> {
  const lines = (await readText(path)).split('\n');
  const idx = splitCsvLine(lines[0].replace(/^\uFEFF/, '')).indexOf(field);
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    if ((splitCsvLine(lines[i].replace(/\r$/, ''))[idx] ?? '') === '') return i + 1;
  }
  return undefined;
}

function readCsv(path: string): string {
  return `read_csv(${sqlString(path)}, header = true, all_varchar = true, quote = '"', escape = '"', auto_detect = true)`;
}

/**
 * The named load statements. `$vocabs` lists the vocabularies the file may hold.
 * Codes are trimmed and upper-cased (canonical form); phecodes are trimmed only.
 */
const LOAD_SQL = {
  rawMap: (path: string) => `
    SELECT upper(trim(vocabulary_id)) AS vocabulary, upper(trim(code)) AS code, trim(phecode) AS phecode
    FROM ${readCsv(path)}`,
  rollup: (path: string) =>
    `SELECT trim(code) AS code, trim(phecode_unrolled) AS ancestor FROM ${readCsv(path)}`,
  rolledMap: (table: string) => `
    CREATE OR REPLACE TEMP TABLE ${table} AS
    SELECT DISTINCT vocabulary, code, phecode FROM (
      SELECT m.vocabulary, m.code, m.phecode FROM _pc_raw m
      UNION ALL
      SELECT m.vocabulary, m.code, r.ancestor FROM _pc_raw m JOIN _pc_rollup r ON r.code = m.phecode
    )`,
  exclude: (table: string, path: string | undefined) =>
    path
      ? `CREATE OR REPLACE TEMP TABLE ${table} AS
         SELECT DISTINCT trim(code) AS phecode, trim(exclusion_criteria) AS excl FROM ${readCsv(path)}
         WHERE coalesce(trim(code), '') <> '' AND coalesce(trim(exclusion_criteria), '') <> ''`
      : `CREATE OR REPLACE TEMP TABLE ${table} (phecode VARCHAR, excl VARCHAR)`,
  sex: (table: string, path: string) => `
    CREATE OR REPLACE TEMP TABLE ${table} AS
    SELECT phecode, male_only, female_only FROM (
      SELECT trim(phecode) AS phecode,
             lower(trim(male_only)) IN ('true', 't', '1', 'yes') AS male_only,
             lower(trim(female_only)) IN ('true', 't', '1', 'yes') AS female_only
      FROM ${readCsv(path)})
    WHERE male_only OR female_only`,
  info: (table: string, path: string, idColumn: string) => `
    CREATE OR REPLACE TEMP TABLE ${table} AS
    SELECT DISTINCT trim(${idColumn}) AS phecode, description, "group" AS category FROM ${readCsv(path)}
    WHERE coalesce(trim(${idColumn}), '') <> ''`,
};

/** Allowed vocabularies of each map file: the WHO file is ICD10 only, the CM map never ICD10. */
const VOCABS: Record<'map' | 'who', string[]> = { map: ['ICD9CM', 'ICD10CM'], who: ['ICD10'] };

/**
 * Load one phecode map version from `folder` into the connection's temp tables
 * (`mapTables(version)`), checking headers, required fields and vocabularies.
 * Returns what a study records: version, folder, and each file's sha256 and row count.
 * Throws `InputError` naming the file, line and field of the first problem.
 */
export async function loadPhecodeMaps(
  conn: DuckDBConnection,
  folder: string,
  version: PhecodeVersion,
): Promise<PhecodeMapInfo> {
  const specs = PHECODE_FILES[version];
  const paths = new Map<Role, string>();
  for (const spec of specs) {
    const path = mapFilePath(folder, spec.name);
    if (path === undefined) {
      throw new InputError(
        `phecode ${version} map file ${spec.name} not found in ${folder}`,
        { file: join(folder, spec.name) },
        `run 'biobank phecodes fetch --version ${version}' or pass --maps <folder> holding the public files`,
      );
    }
    await checkHeader(path, spec);
    paths.set(spec.role, path);
  }
  const t = mapTables(version);
  const files: PhecodeMapInfo['files'] = [];

  // The ICD → phecode rows of both map files, each restricted to its own vocabularies.
  await conn.run('CREATE OR REPLACE TEMP TABLE _pc_raw (vocabulary VARCHAR, code VARCHAR, phecode VARCHAR)');
  for (const role of ['map', 'who'] as const) {
    const path = paths.get(role) as string;
    // A row with an empty phecode means "this code has no phecode" (the 1.2 WHO file has such rows).
    await conn.run(`INSERT INTO _pc_raw SELECT * FROM (${LOAD_SQL.rawMap(path)}) WHERE coalesce(phecode, '') <> ''
                    OR coalesce(code, '') = ''`);
    const bad = await conn.runAndReadAll(
      `SELECT coalesce(vocabulary, '') AS v, count(*)::INTEGER AS n FROM (${LOAD_SQL.rawMap(path)})
       WHERE vocabulary IS NULL OR NOT list_contains($1::VARCHAR[], vocabulary) GROUP BY 1 ORDER BY n DESC LIMIT 1`,
      [listValue(VOCABS[role])],
    );
    const badRow = bad.getRowObjectsJS()[0];
    if (badRow) {
      throw new InputError(
        `vocabulary '${badRow.v}' is not allowed in this file (expected ${VOCABS[role].join(' or ')}; WHO ICD-10 and ICD-10-CM have separate maps)`,
        { file: path, field: 'vocabulary_id' },
      );
    }
  }
  const empty = await conn.runAndReadAll(
    `SELECT count(*) FILTER (WHERE coalesce(code, '') = '')::INTEGER AS c FROM _pc_raw`,
  );
  const e = empty.getRowObjectsJS()[0] as { c: number };
  if (e.c > 0) {
    const field = 'code';
    for (const role of ['map', 'who'] as const) {
      const path = paths.get(role) as string;
      const line = await lineOfEmpty(path, field);
      if (line !== undefined) throw new InputError(`empty ${field}`, { file: path, line, field });
    }
  }
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _pc_rollup AS ${LOAD_SQL.rollup(paths.get('rollup') as string)}`,
  );
  await conn.run(LOAD_SQL.rolledMap(t.map));
  await conn.run(LOAD_SQL.exclude(t.exclude, paths.get('exclude')));
  await conn.run(LOAD_SQL.sex(t.sex, paths.get('sex') as string));
  await conn.run(
    LOAD_SQL.info(t.info, paths.get('info') as string, version === 'X' ? 'phenotype' : 'phecode'),
  );
  await conn.run('DROP TABLE IF EXISTS _pc_raw');
  await conn.run('DROP TABLE IF EXISTS _pc_rollup');

  for (const spec of specs) {
    const path = paths.get(spec.role) as string;
    const rows = await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${readCsv(path)}`);
    files.push({
      name: spec.name,
      sha256: await sha256Csv(path),
      rows: rows.getRowObjectsJS()[0].n as number,
    });
  }
  return { version, folder, files };
}

/** True if `version`'s map tables are loaded in this connection. */
export async function mapsLoaded(conn: DuckDBConnection, version: PhecodeVersion): Promise<boolean> {
  const r = await conn.runAndReadAll(
    `SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE temporary AND table_name = $1`,
    [mapTables(version).map],
  );
  return (r.getRowObjectsJS()[0].n as number) > 0;
}
