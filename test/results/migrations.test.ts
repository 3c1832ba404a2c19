/**
 * A catalog created before meta-analysis runs existed has `studies.kind` checked against the two
 * study kinds only. Opening it rebuilds the table with the current contract, keeping its rows,
 * so a meta run's `studies` row is accepted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { ensureResultsSchema } from '../../engine/results-db.js';
import { createTableSql } from '../../schemas/results.js';
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
});
