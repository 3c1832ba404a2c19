/** Drawing EHR codes from the real public phecode maps shipped in data/phecode. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString } from '../../engine/duckdb.js';
import { generateBiobank } from '../../synth/index.js';
import { SHIPPED_MAPS, tempDir } from './helpers.js';
import { countPhecodes, query } from './release-check.js';

describe('synth with the real phecode maps', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let rel: string;
  let truth: {
    binary: { key: string; phecode12: string; cases: number; singleCodePersons: number }[];
    burden: { phecodes: { key: string; phecode12: string; cases: number; singleCodePersons: number }[] };
    phecodeMaps: { v12: string; X: string | null };
  };
  const realMap = join(SHIPPED_MAPS, 'v1.2', 'phecode_map.csv.gz');

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('realmaps'));
    rel = join(dir, 'r');
    // The map collection's root is accepted as well as its v1.2 folder.
    const r = await generateBiobank({
      size: 'custom',
      persons: 1500,
      variants: 2000,
      seed: 3,
      out: rel,
      phecodeMaps: SHIPPED_MAPS,
    });
    truth = JSON.parse(readFileSync(r.truthPath, 'utf8'));
  }, 120_000);
  afterAll(() => cleanup?.());

  it('uses many real codes, all present in the real map, with sex restrictions respected', async () => {
    expect(truth.phecodeMaps.v12).toBe(join(SHIPPED_MAPS, 'v1.2'));
    expect(truth.phecodeMaps.X).toBe(join(SHIPPED_MAPS, 'X'));
    const [r] = await query(`
      WITH c AS (SELECT * FROM read_parquet(${sqlString(join(rel, 'conditions.parquet'))})),
           m0 AS (SELECT * FROM read_csv(${sqlString(realMap)}, header = true, all_varchar = true)),
           r AS (SELECT * FROM read_csv(${sqlString(join(SHIPPED_MAPS, 'v1.2', 'phecode_rollup_map.csv.gz'))}, header = true, all_varchar = true)),
           m AS (SELECT m0.vocabulary_id, m0.code, r.phecode_unrolled AS phecode FROM m0 JOIN r ON r.code = m0.phecode),
           s AS (SELECT * FROM read_csv(${sqlString(join(SHIPPED_MAPS, 'v1.2', 'sex_restriction.csv.gz'))}, header = true, all_varchar = true)),
           p AS (SELECT * FROM read_csv(${sqlString(join(rel, 'persons.tsv'))}, delim = '\t', header = true))
      SELECT
        (SELECT count(DISTINCT code) FROM c) AS codes,
        (SELECT count(*) FROM c ANTI JOIN m ON m.vocabulary_id = c.vocabulary AND m.code = c.code) AS unknown,
        (SELECT count(*) FROM c JOIN p USING (person_id) JOIN m ON m.vocabulary_id = c.vocabulary AND m.code = c.code
           JOIN s ON s.phecode = m.phecode
           WHERE (upper(s.male_only) = 'TRUE' AND p.sex <> 'M') OR (upper(s.female_only) = 'TRUE' AND p.sex <> 'F')) AS wrong_sex`);
    expect(Number(r.codes)).toBeGreaterThan(300);
    expect(Number(r.unknown)).toBe(0);
    expect(Number(r.wrong_sex)).toBe(0);
  });

  it('plants cases whose counts the real map reproduces exactly', async () => {
    const planted = [...truth.binary, ...truth.burden.phecodes];
    const counts = await countPhecodes(
      rel,
      join(SHIPPED_MAPS, 'v1.2'),
      planted.map((p) => p.phecode12),
    );
    for (const p of planted) {
      expect(counts.get(p.phecode12)!.cases, p.key).toBe(p.cases);
      expect(counts.get(p.phecode12)!.single, p.key).toBe(p.singleCodePersons);
    }
  });
});
