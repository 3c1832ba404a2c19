/** The shipped demo phecode map is internally consistent and agrees with the public maps. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEMO_PHECODE_MAP_DIR } from '../../synth/index.js';
import { parseCsv } from '../../synth/phecodes.js';
import { PLANTED_BINARY, PLANTED_BURDEN } from '../../synth/planted.js';
import { SHIPPED_MAPS } from './helpers.js';

/** A CSV as published, or gzip-compressed as the public maps are shipped (`.csv.gz`). */
function table(dir: string, file: string): Record<string, string>[] {
  const plain = join(dir, file);
  const path = existsSync(plain) ? plain : `${plain}.gz`;
  const bytes = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  const { header, rows } = parseCsv(text, path);
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

const V12 = join(DEMO_PHECODE_MAP_DIR, 'v1.2');
const X = join(DEMO_PHECODE_MAP_DIR, 'X');
const map12 = table(V12, 'phecode_map.csv');
const roll12 = table(V12, 'phecode_rollup_map.csv');
const excl12 = table(V12, 'phecode_exclude.csv');
const info12 = table(V12, 'pheinfo.csv');
const sex12 = table(V12, 'sex_restriction.csv');
const mapX = table(X, 'phecodeX_R_map.csv');
const rollX = table(X, 'phecodeX_R_rollup_map.csv');
const labX = table(X, 'phecodeX_R_labels.csv');
const sexX = table(X, 'phecodeX_R_sex.csv');
const planted = [...PLANTED_BINARY, ...PLANTED_BURDEN];

describe('demo phecode map', () => {
  it('is small: 30–80 phecodes, each leaf with ICD-10-CM and ICD-9-CM codes', () => {
    const phecodes = new Set(info12.map((r) => r.phecode));
    expect(phecodes.size).toBeGreaterThanOrEqual(30);
    expect(phecodes.size).toBeLessThanOrEqual(80);
    const codesBy = new Map<string, Set<string>>();
    for (const r of map12) {
      if (!codesBy.has(r.phecode)) codesBy.set(r.phecode, new Set());
      codesBy.get(r.phecode)!.add(r.vocabulary_id);
    }
    const parents = new Set(
      roll12.filter((r) => r.code !== r.phecode_unrolled).map((r) => r.phecode_unrolled),
    );
    const leaves = [...phecodes].filter((p) => !parents.has(p));
    expect(leaves.length).toBeGreaterThanOrEqual(30);
    for (const leaf of leaves)
      expect([...(codesBy.get(leaf) ?? [])].sort(), leaf).toEqual(['ICD10CM', 'ICD9CM']);
    for (const r of map12) expect(['ICD9CM', 'ICD10CM']).toContain(r.vocabulary_id);
  });

  it('labels, sex rows and rollup self-rows exist for every phecode any 1.2 file mentions', () => {
    const labelled = new Set(info12.map((r) => r.phecode));
    const sexed = new Set(sex12.map((r) => r.phecode));
    const mentioned = new Set([
      ...map12.map((r) => r.phecode),
      ...roll12.flatMap((r) => [r.code, r.phecode_unrolled]),
      ...excl12.flatMap((r) => [r.code, r.exclusion_criteria]),
    ]);
    for (const p of mentioned) {
      expect(labelled.has(p), `label for ${p}`).toBe(true);
      expect(sexed.has(p), `sex row for ${p}`).toBe(true);
      expect(
        roll12.some((r) => r.code === p && r.phecode_unrolled === p),
        `self rollup ${p}`,
      ).toBe(true);
    }
    for (const r of info12) expect(r.description.length, r.phecode).toBeGreaterThan(0);
    // Parents are prefixes of their children (phecodes are strings: 008 stays 008).
    for (const r of roll12)
      expect(r.code.startsWith(r.phecode_unrolled), `${r.code} → ${r.phecode_unrolled}`).toBe(true);
    expect(info12.some((r) => r.phecode === '008')).toBe(true);
  });

  it('maps each code to its most specific phecode; the rollup file supplies the parents', () => {
    const up = new Map<string, string[]>();
    for (const r of roll12) up.set(r.code, [...(up.get(r.code) ?? []), r.phecode_unrolled]);
    const byCode = new Map<string, Set<string>>();
    for (const r of map12) {
      const k = `${r.vocabulary_id} ${r.code}`;
      if (!byCode.has(k)) byCode.set(k, new Set());
      byCode.get(k)!.add(r.phecode);
    }
    for (const [code, set] of byCode) {
      // No code lists both a phecode and one of its ancestors (the public 1.2 file's style).
      for (const p of set)
        for (const a of up.get(p)!) if (a !== p) expect(set.has(a), `${code} → ${a}`).toBe(false);
    }
  });

  it('has a consistent phecodeX part: labels, sex rows and rollups for every X phecode', () => {
    const labelled = new Set(labX.map((r) => r.phenotype));
    const sexed = new Set(sexX.map((r) => r.phecode));
    for (const p of new Set([
      ...mapX.map((r) => r.phecode),
      ...rollX.flatMap((r) => [r.code, r.phecode_unrolled]),
    ])) {
      expect(labelled.has(p), `X label ${p}`).toBe(true);
      expect(sexed.has(p), `X sex ${p}`).toBe(true);
    }
    for (const r of mapX)
      expect(rollX.some((x) => x.code === r.phecode && x.phecode_unrolled === r.phecode)).toBe(true);
    // The same ICD codes are mapped in both systems.
    const codes12 = new Set(map12.map((r) => `${r.vocabulary_id} ${r.code}`));
    const codesX = new Set(mapX.map((r) => `${r.vocabulary_id} ${r.code}`));
    expect([...codesX].sort()).toEqual([...codes12].sort());
  });

  it('contains every planted phecode in both systems, reachable from ICD codes', () => {
    for (const p of planted) {
      expect(
        info12.some((r) => r.phecode === p.phecode12),
        p.phecode12,
      ).toBe(true);
      expect(
        labX.some((r) => r.phenotype === p.phecodeX),
        p.phecodeX,
      ).toBe(true);
      const targets = new Set(roll12.filter((r) => r.phecode_unrolled === p.phecode12).map((r) => r.code));
      expect(
        map12.some((r) => targets.has(r.phecode)),
        `codes for ${p.phecode12}`,
      ).toBe(true);
      const xTargets = new Set(rollX.filter((r) => r.phecode_unrolled === p.phecodeX).map((r) => r.code));
      expect(
        mapX.some((r) => xTargets.has(r.phecode)),
        `codes for ${p.phecodeX}`,
      ).toBe(true);
    }
  });

  it('agrees with the public maps (shipped in data/phecode) row by row', () => {
    const real = (dir: string, file: string) => table(join(SHIPPED_MAPS, dir), file);
    const key = (r: Record<string, string>, cols: string[]) => cols.map((c) => r[c]).join('\u0000');
    const check = (demo: Record<string, string>[], realRows: Record<string, string>[], cols: string[]) => {
      const set = new Set(realRows.map((r) => key(r, cols)));
      for (const r of demo) expect(set.has(key(r, cols)), key(r, cols)).toBe(true);
    };
    check(map12, real('v1.2', 'phecode_map.csv'), ['vocabulary_id', 'code', 'phecode']);
    check(roll12, real('v1.2', 'phecode_rollup_map.csv'), ['code', 'phecode_unrolled']);
    check(excl12, real('v1.2', 'phecode_exclude.csv'), ['code', 'exclusion_criteria']);
    check(info12, real('v1.2', 'pheinfo.csv'), ['phecode', 'description', 'groupnum', 'group']);
    check(sex12, real('v1.2', 'sex_restriction.csv'), ['phecode', 'male_only', 'female_only']);
    check(mapX, real('X', 'phecodeX_R_map.csv'), ['code', 'vocabulary_id', 'phecode']);
    check(rollX, real('X', 'phecodeX_R_rollup_map.csv'), ['code', 'phecode_unrolled']);
    check(labX, real('X', 'phecodeX_R_labels.csv'), ['phenotype', 'description', 'groupnum', 'group']);
    check(sexX, real('X', 'phecodeX_R_sex.csv'), ['phecode', 'male_only', 'female_only']);
    // A small subset: far fewer rows than the public files.
    expect(map12.length).toBeLessThan(500);
    expect(existsSync(join(SHIPPED_MAPS, 'v1.2', 'phecode_map.csv.gz'))).toBe(true);
  });
});
