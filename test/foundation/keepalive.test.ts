/**
 * A cancelled activity interrupts its running DuckDB statement instead of waiting for it.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { cancellableStep } from '../../activities/keepalive.js';

describe('cancellableStep', () => {
  it('heartbeats while a statement runs and interrupts it on cancellation', async () => {
    const db = await DuckDBInstance.create(':memory:', { threads: '1' });
    const conn = await db.connect();
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const t0 = Date.now();
    setTimeout(() => env.cancel('CANCELLED'), 400);
    // Minutes of work if nothing stops it.
    const run = env.run(async () =>
      cancellableStep(
        conn,
        { step: 'long' },
        (c) => c.run('SELECT count(*) FROM range(100000000000) t(i) WHERE hash(i) % 7 = 3'),
        100,
      ),
    );
    await expect(run).rejects.toThrow();
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeLessThan(10_000);
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect(beats[0]).toEqual({ step: 'long' });
    // The connection is usable afterwards.
    const r = await conn.runAndReadAll('SELECT 41 + 1 AS x');
    expect(r.getRows()[0][0]).toBe(42);
    conn.closeSync();
    db.closeSync();
  });

  it('is a plain call outside an activity', async () => {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const n = await cancellableStep(conn, { step: 'x' }, async (c) =>
      Number((await c.runAndReadAll('SELECT count(*) FROM range(1000)')).getRows()[0][0]),
    );
    expect(n).toBe(1000);
    conn.closeSync();
    db.closeSync();
  });
});
