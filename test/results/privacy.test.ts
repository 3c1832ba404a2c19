/** The small-cell rule (engine/privacy.ts): All of Us policy, counts 1–20, and its setting. */

import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SMALL_CELL_MAX,
  privacyNote,
  suppressCount,
  suppressCountGroup,
  suppressedCountGroupSql,
  suppressedReasonSql,
  suppressReason,
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

  it('a PheWAS skip reason quotes its count as shown, in TypeScript and SQL alike', async () => {
    const shown = suppressCountGroup({ n_cases: 8, n_controls: 4979 }, true);
    expect(suppressReason('8 cases < minCases 20', shown, true)).toBe('≤20 cases < minCases 20');
    // A count above the threshold beside a hidden one is quoted coarsened, as its column is.
    const beside = suppressCountGroup({ n_cases: 25, n_controls: 4000, n_excluded: 3 }, true);
    expect(suppressReason('25 cases < minCases 30', beside, true)).toBe('>=20 cases < minCases 30');
    expect(suppressReason('25 cases < minCases 30', { n_cases: 25, n_controls: 9 }, true)).toBe(
      '25 cases < minCases 30',
    );
    expect(suppressReason('7 controls < minControls 50', { n_cases: 99, n_controls: '≤20' }, true)).toBe(
      '≤20 controls < minControls 50',
    );
    expect(suppressReason('logistic fit: not_converged', shown, true)).toBe('logistic fit: not_converged');
    expect(suppressReason('8 cases < minCases 20', shown, false)).toBe('8 cases < minCases 20');
    expect(suppressReason(null, shown, true)).toBeNull();

    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const [c, k] = suppressedCountGroupSql(['c', 'k'], true);
    const r = await conn.runAndReadAll(
      `SELECT c, k, reason, ${suppressedReasonSql('reason', c, k, true)} AS shown
       FROM (VALUES (8, 4979, '8 cases < minCases 20'), (40, 7, '7 controls < minControls 50'),
                    (45, 4000, '45 cases < minCases 50'), (3, 4000, 'logistic fit: separation'),
                    (3, 4000, NULL)) t(c, k, reason)`,
    );
    for (const row of r.getRowObjectsJS()) {
      const want = suppressCountGroup({ n_cases: Number(row.c), n_controls: Number(row.k) }, true);
      expect(row.shown).toBe(suppressReason(row.reason as string | null, want, true));
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
