/** The small-cell rule (engine/privacy.ts): All of Us policy, counts 1–20, and its setting. */

import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SMALL_CELL_MAX,
  privacyNote,
  suppressCount,
  suppressCountGroup,
  suppressedCountGroupSql,
} from '../../engine/privacy.js';
import { loadConfig } from '../../temporal.config.js';

describe('small-cell rule', () => {
  it('hides 1 to 20 by default and shows 0 and 21', () => {
    expect(DEFAULT_SMALL_CELL_MAX).toBe(20);
    expect([0, 1, 19, 20, 21].map((n) => suppressCount(n, true))).toEqual([0, '≤20', '≤20', '≤20', 21]);
    expect(suppressCount(20, false)).toBe(20);
    expect(suppressCount(null, true)).toBeNull();
  });

  it('coarsens the counts a hidden one could be derived from', () => {
    expect(suppressCountGroup({ cases: 20, controls: 4979, excluded: 0 }, true)).toEqual({
      cases: '≤20',
      controls: '>=4960',
      excluded: 0,
    });
    expect(suppressCountGroup({ cases: 21, controls: 4979 }, true)).toEqual({ cases: 21, controls: 4979 });
  });

  it('SQL agrees with the TypeScript rule on every count from 0 to 200', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const [a, b] = suppressedCountGroupSql(['a', 'b'], true);
    const r = await conn.runAndReadAll(
      `SELECT a, b, ${a} AS sa, ${b} AS sb FROM range(0, 201) t(a), (VALUES (0), (57), (4979)) v(b)`,
    );
    for (const row of r.getRowObjectsJS()) {
      const want = suppressCountGroup({ a: Number(row.a), b: Number(row.b) }, true);
      expect([row.sa, row.sb]).toEqual([String(want.a), String(want.b)]);
    }
    conn.closeSync();
  });

  it('takes its threshold from BIOBANK_SMALL_CELL_MAX and says what it hid', () => {
    expect(loadConfig({}).privacy.smallCellMax).toBe(20);
    const max = loadConfig({ BIOBANK_SMALL_CELL_MAX: '50' }).privacy.smallCellMax;
    expect(max).toBe(50);
    expect(suppressCount(50, max)).toBe('≤50');
    expect(suppressCount(51, max)).toBe(51);
    expect(privacyNote(max)).toMatch(/1 to 50 are suppressed and shown as ≤50 \(All of Us/);
    expect(() => loadConfig({ BIOBANK_SMALL_CELL_MAX: '0' })).toThrow(/privacy\.smallCellMax/);
  });
});
