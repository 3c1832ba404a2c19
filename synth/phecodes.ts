/**
 * ICD code pools for the EHR generator, read from phecode maps in the public CSV formats
 * (phecode 1.2 from the PheWAS R package, phecodeX from the PhecodeX repository).
 *
 * Accepted folder layouts: the root of a map collection (`<dir>/v1.2/phecode_map.csv`,
 * optional `<dir>/X/phecodeX_R_map.csv`), or the v1.2 folder itself (its sibling `../X`
 * is used when present). The engine ships a small demo map in `data/demo-phecode-map`;
 * the public maps ship in `data/phecode` (`--phecode-maps data/phecode`).
 *
 * Each ICD code is assigned to its most specific phecode 1.2 (the longest of the rolled-up
 * phecodes it maps to). Codes of one phecode (and one sex restriction: a code is male- or
 * female-only when any phecode it reaches, in 1.2 or X, is) form a *condition group*, which
 * the EHR generator hands out as a chronic condition. Codes that map (after rollup, in 1.2 or in
 * phecodeX) to any planted phecode are kept out of the background pools, so background
 * noise never creates planted cases.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../engine/errors.js';
import { PROJECT_ROOT } from '../engine/temporal-bin.js';

/** The demo map shipped with the engine. */
export const DEMO_PHECODE_MAP_DIR = join(PROJECT_ROOT, 'data', 'demo-phecode-map');

export type Vocabulary = 'ICD9CM' | 'ICD10CM';
/** 0 = any sex, 1 = male only, 2 = female only. */
export type SexCode = 0 | 1 | 2;

/** A phenotype planted by the generator, named in both phecode systems. */
export interface PlantedPhecode {
  key: string;
  name: string;
  phecode12: string;
  phecodeX: string;
}

export interface ConditionGroup {
  phecode: string;
  sex: SexCode;
  icd10: string[];
  icd9: string[];
}

export interface CodePools {
  /** Folder of the phecode 1.2 files used. */
  mapDir: string;
  /** Folder of the phecodeX files used, if any. */
  mapDirX?: string;
  /** Background condition groups (no planted phecode reachable). */
  groups: ConditionGroup[];
  /** ICD codes per planted key (codes reaching that planted phecode and no other). */
  planted: Map<string, { icd10: string[]; icd9: string[] }>;
}

/** Minimal RFC 4180 CSV reader (quoted fields, doubled quotes). Returns rows without the header. */
export function parseCsv(text: string, file: string): { header: string[]; rows: string[][] } {
  const lines = text.split(/\r?\n/);
  const parseLine = (line: string, lineNo: number): string[] => {
    const out: string[] = [];
    let cur = '';
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === '"') {
          if (line[i + 1] === '"') {
            cur += '"';
            i++;
          } else quoted = false;
        } else cur += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        out.push(cur);
        cur = '';
      } else cur += ch;
    }
    if (quoted) throw new InputError('unterminated quoted field', { file, line: lineNo });
    out.push(cur);
    return out;
  };
  const header = parseLine(lines[0] ?? '', 1);
  const rows: string[][] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const row = parseLine(lines[i], i + 1);
    if (row.length !== header.length)
      throw new InputError(`expected ${header.length} fields, found ${row.length}`, { file, line: i + 1 });
    rows.push(row);
  }
  return { header, rows };
}

/** The path of a map file as published (`.csv`) or as shipped with the engine (`.csv.gz`). */
export function mapCsvPath(file: string): string {
  return existsSync(file) ? file : `${file}.gz`;
}

/** A map file as published (`.csv`) or as shipped with the engine (`.csv.gz`). */
function present(file: string): boolean {
  return existsSync(file) || existsSync(`${file}.gz`);
}

function readCsvText(file: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8');
  return gunzipSync(readFileSync(`${file}.gz`)).toString('utf8');
}

function readTable(file: string, columns: string[]): string[][] {
  const { header, rows } = parseCsv(readCsvText(file), file);
  const idx = columns.map((c) => {
    const i = header.indexOf(c);
    if (i < 0) throw new InputError(`missing column '${c}'`, { file, line: 1, field: c });
    return i;
  });
  return rows.map((r) => idx.map((i) => r[i]));
}

function rollupOf(file: string | undefined): Map<string, string[]> {
  const up = new Map<string, string[]>();
  if (!file || !present(file)) return up;
  for (const [code, parent] of readTable(file, ['code', 'phecode_unrolled'])) {
    let list = up.get(code);
    if (!list) up.set(code, (list = []));
    list.push(parent);
  }
  return up;
}

function sexOf(file: string): Map<string, SexCode> {
  const out = new Map<string, SexCode>();
  if (!present(file)) return out;
  for (const [p, m, f] of readTable(file, ['phecode', 'male_only', 'female_only']))
    out.set(p, /^true$/i.test(m) ? 1 : /^true$/i.test(f) ? 2 : 0);
  return out;
}

/** Resolve the v1.2 and X folders of a map collection. */
export function resolveMapDirs(dir: string): { v12: string; x?: string } {
  const abs = resolve(dir);
  let v12: string;
  let x: string | undefined;
  if (present(join(abs, 'phecode_map.csv'))) {
    v12 = abs;
    x = join(abs, '..', 'X');
  } else if (present(join(abs, 'v1.2', 'phecode_map.csv'))) {
    v12 = join(abs, 'v1.2');
    x = join(abs, 'X');
  } else {
    throw new InputError('no phecode 1.2 map found (expected phecode_map.csv or v1.2/phecode_map.csv)', {
      file: abs,
      field: 'phecode-maps',
    });
  }
  if (!present(join(x, 'phecodeX_R_map.csv'))) x = undefined;
  return { v12, x };
}

/**
 * Build the code pools from a map folder. Throws `InputError` when a planted phecode has no
 * ICD-10-CM or no ICD-9-CM code in the map.
 */
export function loadCodePools(dir: string, planted: readonly PlantedPhecode[]): CodePools {
  const { v12, x } = resolveMapDirs(dir);
  const mapFile = join(v12, 'phecode_map.csv');
  const up12 = rollupOf(join(v12, 'phecode_rollup_map.csv'));
  const sex12 = sexOf(join(v12, 'sex_restriction.csv'));
  // code key "VOCAB code" -> rolled-up 1.2 phecodes
  const to12 = new Map<string, Set<string>>();
  for (const [vocab, code, phecode] of readTable(mapFile, ['vocabulary_id', 'code', 'phecode'])) {
    if (vocab !== 'ICD9CM' && vocab !== 'ICD10CM') continue;
    const key = `${vocab} ${code}`;
    let set = to12.get(key);
    if (!set) to12.set(key, (set = new Set()));
    for (const p of up12.get(phecode) ?? [phecode]) set.add(p);
  }
  const toX = new Map<string, Set<string>>();
  const sexX = x ? sexOf(join(x, 'phecodeX_R_sex.csv')) : new Map<string, SexCode>();
  if (x) {
    const upX = rollupOf(join(x, 'phecodeX_R_rollup_map.csv'));
    for (const [code, vocab, phecode] of readTable(join(x, 'phecodeX_R_map.csv'), [
      'code',
      'vocabulary_id',
      'phecode',
    ])) {
      const key = `${vocab} ${code}`;
      let set = toX.get(key);
      if (!set) toX.set(key, (set = new Set()));
      for (const p of upX.get(phecode) ?? [phecode]) set.add(p);
    }
  }
  const planted12 = new Set(planted.map((p) => p.phecode12));
  const plantedX = new Set(planted.map((p) => p.phecodeX));
  const groups = new Map<string, ConditionGroup>();
  const plantedPools = new Map(planted.map((p) => [p.key, { icd10: [] as string[], icd9: [] as string[] }]));
  const keys = [...to12.keys()].sort();
  for (const key of keys) {
    const set12 = to12.get(key)!;
    const setX = toX.get(key);
    const [vocab, code] = key.split(' ');
    // A code is sex-specific if any phecode it reaches (1.2 or X) is.
    let sex = 0;
    for (const p of set12) sex |= sex12.get(p) ?? 0;
    for (const p of setX ?? []) sex |= sexX.get(p) ?? 0;
    const hits12 = planted.filter((p) => set12.has(p.phecode12));
    const hitsX = x ? planted.filter((p) => setX?.has(p.phecodeX)) : [];
    if (hits12.length === 0 && hitsX.length === 0) {
      if (setX && [...setX].some((p) => plantedX.has(p))) continue;
      const phecode = [...set12].reduce((a, b) =>
        b.length > a.length || (b.length === a.length && b < a) ? b : a,
      );
      if (planted12.has(phecode)) continue;
      if (sex === 3) continue; // male-only and female-only at once: unusable

      const groupKey = `${phecode} ${sex}`;
      let g = groups.get(groupKey);
      if (!g) groups.set(groupKey, (g = { phecode, sex: sex as SexCode, icd10: [], icd9: [] }));
      (vocab === 'ICD10CM' ? g.icd10 : g.icd9).push(code);
      continue;
    }
    // A planted code: it must reach exactly one planted phenotype, in both systems, and
    // not be sex-specific (the planted phecodes are not).
    if (hits12.length !== 1 || sex !== 0) continue;
    const p = hits12[0];
    if (x && !(hitsX.length === 1 && hitsX[0].key === p.key)) continue;
    const pool = plantedPools.get(p.key)!;
    (vocab === 'ICD10CM' ? pool.icd10 : pool.icd9).push(code);
  }
  for (const p of planted) {
    const pool = plantedPools.get(p.key)!;
    if (pool.icd10.length === 0 || pool.icd9.length === 0)
      throw new InputError(
        `planted phecode ${p.phecode12} (${p.name}) has no usable ICD-10-CM and ICD-9-CM codes in this map`,
        { file: mapFile, field: 'phecode' },
      );
  }
  // Background groups need at least one code in each vocabulary (dates span the 2015 switch).
  const usable = [...groups.values()].filter((g) => g.icd10.length > 0 && g.icd9.length > 0);
  usable.sort((a, b) => (a.phecode < b.phecode ? -1 : a.phecode > b.phecode ? 1 : a.sex - b.sex));
  return { mapDir: v12, mapDirX: x, groups: usable, planted: plantedPools };
}

/**
 * Every ICD-9-CM and ICD-10-CM code that reaches `target` (after rollup) in phecode 1.2 or in
 * phecodeX: a superset of its planted pool. The EHR generator drops these from the background
 * so that the target's only cases are the planted ones, in either phecode system.
 */
export function codesReaching(dir: string, target: PlantedPhecode): { icd10: string[]; icd9: string[] } {
  const { v12, x } = resolveMapDirs(dir);
  const out = { icd10: new Set<string>(), icd9: new Set<string>() };
  const add = (vocab: string, code: string, phecode: string, up: Map<string, string[]>, want: string) => {
    if (vocab !== 'ICD9CM' && vocab !== 'ICD10CM') return;
    if (!(up.get(phecode) ?? [phecode]).includes(want)) return;
    (vocab === 'ICD10CM' ? out.icd10 : out.icd9).add(code);
  };
  const up12 = rollupOf(join(v12, 'phecode_rollup_map.csv'));
  for (const [vocab, code, phecode] of readTable(join(v12, 'phecode_map.csv'), [
    'vocabulary_id',
    'code',
    'phecode',
  ]))
    add(vocab, code, phecode, up12, target.phecode12);
  if (x) {
    const upX = rollupOf(join(x, 'phecodeX_R_rollup_map.csv'));
    for (const [code, vocab, phecode] of readTable(join(x, 'phecodeX_R_map.csv'), [
      'code',
      'vocabulary_id',
      'phecode',
    ]))
      add(vocab, code, phecode, upX, target.phecodeX);
  }
  return { icd10: [...out.icd10].sort(), icd9: [...out.icd9].sort() };
}
