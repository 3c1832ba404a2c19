/**
 * The catalog never lies (issue 18 §3): a study terminated from outside is recorded as
 * terminated once the catalog is reconciled with Temporal, and re-running it starts a new
 * attempt that completes (ALLOW_DUPLICATE_FAILED_ONLY), while a completed run still attaches;
 * two starts of the same spec at once give one run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { reconcileRuns } from '../../engine/reconcile.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, { seed: 6 });
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function runRow(runId: string) {
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll('SELECT status, workflow_run_id, error FROM runs WHERE run_id = $1', [runId])
      ).getRowObjectsJS()[0] as { status: string; workflow_run_id: string | null; error: string | null },
    { readOnly: true },
  );
}

describe('runs catalog and Temporal', () => {
  it('a terminated study is recorded as terminated; a re-run is a new attempt that completes', async () => {
    const spec = ldlSpec(release.releaseId, {
      studyId: 'catalog-terminate',
      gwas: { shardVariants: 100, maxParallelShards: 1 },
    });
    const workflowId = await runIdOf(engine.config, spec);
    const first = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    expect(first.started).toBe(true);
    // Wait until the GWAS shards run, then end the workflow from outside.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const d = await first.handle.describe();
      if ((d.raw.pendingActivities ?? []).some((a) => a.activityType?.name === 'runGwasShard')) break;
      if (Date.now() > deadline) throw new Error('the study never reached its GWAS shards');
      await new Promise((r) => setTimeout(r, 100));
    }
    const firstRunId = (await first.handle.describe()).runId;
    await first.handle.terminate('test: terminated by hand');
    expect((await runRow(workflowId)).status).toBe('running'); // what the catalog said before

    const fixed = await reconcileRuns(engine.config, engine.client);
    expect(fixed).toEqual([{ runId: workflowId, workflowId, status: 'terminated' }]);
    const row = await runRow(workflowId);
    expect(row.status).toBe('terminated');
    expect(row.error).toMatch(/terminated outside the engine/);
    expect(await reconcileRuns(engine.config, engine.client)).toEqual([]); // idempotent

    // Re-run: a new execution under the same id, recorded as a new attempt, completes.
    const again = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    expect(again.started).toBe(true);
    const result = (await again.handle.result()) as StudyResult;
    expect(result.gwas!.nTested).toBeGreaterThan(100);
    const done = await runRow(workflowId);
    expect(done.status).toBe('completed');
    expect(done.workflow_run_id).not.toBe(firstRunId);
    expect(done.workflow_run_id).toBe((await again.handle.describe()).runId);

    // A completed run attaches instead of starting again.
    const third = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    expect(third.started).toBe(false);
  });

  it('two starts of the same spec at once give one run', async () => {
    const spec = ldlSpec(release.releaseId, { studyId: 'catalog-twice' });
    const workflowId = await runIdOf(engine.config, spec);
    const [a, b] = await Promise.all(
      [0, 1].map(() =>
        startOrAttach(engine.client, 'phenotypeFirstStudy', {
          workflowId,
          taskQueue: engine.taskQueue,
          args: [spec],
        }),
      ),
    );
    // One execution: both starts got the same run (USE_EXISTING), whichever was first.
    expect((await a.handle.describe()).runId).toBe((await b.handle.describe()).runId);
    const [ra, rb] = (await Promise.all([a.handle.result(), b.handle.result()])) as StudyResult[];
    expect(ra.runId).toBe(rb.runId);
    const n = await withEngineDb(
      engine.config,
      async (conn) =>
        Number(
          (
            await conn.runAndReadAll("SELECT count(*) FROM runs WHERE study_id = 'catalog-twice'")
          ).getRows()[0][0],
        ),
      { readOnly: true },
    );
    expect(n).toBe(1);
  });
});
