/**
 * A catalog created by an older engine keeps the CHECK enumerations of its day (DuckDB cannot
 * alter a CHECK): `studies.kind` without 'meta', `phewas_results.test` / `burden_results.test`
 * without 'spa_wald' and 'spa_firth'. Opening it rebuilds such a table with the current contract,
 * keeping its rows; a current catalog is left alone (no table rebuilt).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { ensureResultsSchema } from '../../engine/results-db.js';
import { columnsOf, createTableSql } from '../../schemas/results.js';
import { loadConfig } from '../../temporal.config.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('results catalog migrations', () => {
  it("rebuilds an old studies table whose kind CHECK lacks 'meta', keeping its rows", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'biobank-migrate-'));
    dirs.push(dataDir);
    const config = loadConfig({ BIOBANK_DATA_DIR: dataDir });
    const old = createTableSql('studies').replace(", 'meta'", '');
    expect(old).not.toContain("'meta'");
    const db = await DuckDBInstance.create(config.database);
    const conn = await db.connect();
    await conn.run(old);
    await conn.run(
      `INSERT INTO studies VALUES ('s1', 'genotype-first', '{}', 'h', TIMESTAMPTZ '2026-01-01 00:00:00+00')`,
    );
    await expect(
      conn.run(`INSERT INTO studies VALUES ('m1', 'meta', '{}', 'h', TIMESTAMPTZ '2026-01-01 00:00:00+00')`),
    ).rejects.toThrow(/CHECK/i);
    conn.closeSync();
    db.closeSync();

    await withEngineDb(config, async (c) => {
      await ensureResultsSchema(c, dataDir);
      await ensureResultsSchema(c, dataDir); // idempotent
      await c.run(
        `INSERT INTO studies VALUES ('m1', 'meta', '{}', 'h', TIMESTAMPTZ '2026-01-01 00:00:00+00')`,
      );
      const rows = (await c.runAndReadAll('SELECT study_id, kind FROM studies ORDER BY study_id')).getRows();
      expect(rows).toEqual([
        ['m1', 'meta'],
        ['s1', 'genotype-first'],
      ]);
      await expect(
        c.run(`INSERT INTO studies VALUES ('x', 'other', '{}', 'h', TIMESTAMPTZ '2026-01-01 00:00:00+00')`),
      ).rejects.toThrow(/CHECK/i);
    });
  });
  it("rebuilds old phewas_results / burden_results whose test CHECK lacks 'spa_wald', keeping rows", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'biobank-migrate-'));
    dirs.push(dataDir);
    const config = loadConfig({ BIOBANK_DATA_DIR: dataDir });
    const db = await DuckDBInstance.create(config.database);
    const conn = await db.connect();
    for (const t of ['phewas_results', 'burden_results'] as const) {
      const old = createTableSql(t).replace(", 'spa_wald', 'spa_firth'", '');
      expect(old, t).not.toContain("'spa_wald'");
      await conn.run(old);
    }
    const phewasCols = columnsOf('phewas_results');
    const rowOf = (test: string) =>
      phewasCols.map((c) =>
        c.name === 'test'
          ? `'${test}'`
          : c.name === 'run_id'
            ? "'r1'"
            : c.values
              ? `'${c.values[0]}'`
              : c.sql === 'VARCHAR'
                ? "'x'"
                : c.sql === 'BOOLEAN'
                  ? 'false'
                  : '1',
      );
    await conn.run(`INSERT INTO phewas_results VALUES (${rowOf('spa').join(', ')})`);
    await expect(
      conn.run(`INSERT INTO phewas_results VALUES (${rowOf('spa_wald').join(', ')})`),
    ).rejects.toThrow(/CHECK/i);
    conn.closeSync();
    db.closeSync();

    await withEngineDb(config, async (c) => {
      await ensureResultsSchema(c, dataDir);
      const oids = async () =>
        (
          await c.runAndReadAll(
            'SELECT table_name, table_oid FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1',
          )
        ).getRows();
      const before = await oids();
      await ensureResultsSchema(c, dataDir); // a current catalog: nothing rebuilt
      expect(await oids()).toEqual(before);
      await c.run(`INSERT INTO phewas_results VALUES (${rowOf('spa_wald').join(', ')})`);
      await c.run(`INSERT INTO phewas_results VALUES (${rowOf('spa_firth').join(', ')})`);
      const tests = (await c.runAndReadAll('SELECT test FROM phewas_results ORDER BY test')).getRows().flat();
      expect(tests).toEqual(['spa', 'spa_firth', 'spa_wald']);
      await expect(c.run(`INSERT INTO phewas_results VALUES (${rowOf('spa_x').join(', ')})`)).rejects.toThrow(
        /CHECK/i,
      );
      const burdenCheck = (
        await c.runAndReadAll(
          `SELECT string_agg(constraint_text, ' ') FROM duckdb_constraints()
           WHERE database_name = current_database() AND table_name = 'burden_results' AND constraint_type = 'CHECK'`,
        )
      ).getRows()[0][0];
      expect(String(burdenCheck)).toContain("'spa_firth'");
    });
  });
});
