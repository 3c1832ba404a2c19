import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrAttach } from '../../engine/temporal.js';
import type { EngineSelfTestResult } from '../../workflows/selftest.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';

let engine: TestEngine;
beforeAll(async () => {
  engine = await makeTestEngine();
});
afterAll(async () => {
  await engine?.cleanup();
});

async function readBack(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('engineSelfTest through a real worker and DuckDB', () => {
  it('writes Parquet and records the run; a re-run with the same id does no new work', async () => {
    const input = { runId: 'selftest-abc', nVariants: 5000, seed: 11 };
    const result = await engine.withWorker(async () => {
      const { handle, started } = await startOrAttach(engine.client, 'engineSelfTest', {
        workflowId: `wf-${input.runId}`,
        taskQueue: engine.taskQueue,
        args: [input],
      });
      expect(started).toBe(true);
      const r = (await handle.result()) as EngineSelfTestResult;
      const again = await startOrAttach(engine.client, 'engineSelfTest', {
        workflowId: `wf-${input.runId}`,
        taskQueue: engine.taskQueue,
        args: [input],
      });
      expect(again.started).toBe(false);
      expect(await again.handle.result()).toEqual(r);
      return r;
    });

    expect(result.nVariants).toBe(5000);
    expect(existsSync(result.parquetPath)).toBe(true);
    // The Parquet file holds what the workflow reported, computed independently here.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    const [stats] = (
      await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, avg(af) AS mean_af, count(DISTINCT chrom)::INTEGER AS chroms
         FROM read_parquet('${result.parquetPath}')`,
      )
    ).getRowObjectsJson() as { n: number; mean_af: number; chroms: number }[];
    conn.closeSync();
    expect(stats.n).toBe(5000);
    expect(stats.chroms).toBe(22);
    expect(stats.mean_af).toBeCloseTo(result.meanAf, 12);
    expect(result.meanAf).toBeGreaterThan(0.2);
    expect(result.meanAf).toBeLessThan(0.3);

    const rows = await readBack(
      engine.config.database,
      'SELECT run_id, workflow_id, n_variants FROM selftest_runs',
    );
    expect(rows).toEqual([{ run_id: 'selftest-abc', workflow_id: 'wf-selftest-abc', n_variants: 5000 }]);
    // Nothing half-written is left beside the output.
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(`${engine.dataDir}/selftest`).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('bad input inside a workflow', () => {
  it('fails at once with a non-retryable InputError naming the field, and writes nothing', async () => {
    const { WorkflowFailedError } = await import('@temporalio/client');
    const err = await engine.withWorker(async () => {
      const handle = await engine.client.workflow.start('engineSelfTest', {
        workflowId: 'wf-bad-input',
        taskQueue: engine.taskQueue,
        args: [{ runId: 'bad', nVariants: -5, seed: 1 }],
      });
      return handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as { cause?: { cause?: { type?: string; message?: string; nonRetryable?: boolean } } })
      .cause?.cause;
    expect(cause?.type).toBe('InputError');
    expect(cause?.message).toBe('field nVariants: must be a whole number from 1 to 100000000');
    expect(cause?.nonRetryable).toBe(true);
    // One attempt only: the history has exactly one ActivityTaskStarted.
    const history = await engine.client.workflow.getHandle('wf-bad-input').fetchHistory();
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    expect(started).toHaveLength(1);
    expect(started[0].activityTaskStartedEventAttributes?.attempt).toBe(1);
    expect(existsSync(`${engine.dataDir}/selftest/bad.parquet`)).toBe(false);
  });
});
