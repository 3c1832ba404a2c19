/**
 * Durability under faults, against the real Temporal server with `biobank worker` processes:
 * - kill -9 of the worker in the middle of the GWAS shards: after a restart the study
 *   completes with exactly the rows of a clean run, no row twice, and the shards that had
 *   finished are not run again;
 * - two studies at once on two worker processes complete with their own results.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import type { StudyProgress, StudyResult } from '../../schemas/study-io.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, lmnaSpec, type StudyFixture } from '../helpers/study-fixture.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

let engine: TestEngine;
let release: StudyFixture;
const procs: WorkerProcess[] = [];

function env(): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: engine.config.temporal.address,
    BIOBANK_DATA_DIR: engine.dataDir,
    BIOBANK_TASK_QUEUE: engine.taskQueue,
    BIOBANK_DUCKDB_THREADS: '1',
    BIOBANK_MAX_ACTIVITIES: '2',
    BIOBANK_SHUTDOWN_GRACE: '2',
  };
}

async function rows(sql: string, params: string[]): Promise<Record<string, unknown>[]> {
  return withEngineDb(
    engine.config,
    async (conn) => (await conn.runAndReadAll(sql, params)).getRowObjectsJson() as Record<string, unknown>[],
    { readOnly: true },
  );
}

beforeAll(async () => {
  engine = await makeTestEngine();
  const w = await engine.startWorker();
  try {
    release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, { seed: 11 });
  } finally {
    await w.stop();
  }
}, 300_000);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) await p.kill9();
  await engine?.cleanup();
});

describe('worker crash', () => {
  it('kill -9 mid-GWAS: the study completes, equals a clean run, no duplicates, finished shards kept', async () => {
    const spec = ldlSpec(release.releaseId, {
      studyId: 'crash',
      gwas: { shardVariants: 150, maxParallelShards: 2 },
    });
    const workflowId = await runIdOf(engine.config, spec);
    const a = await startWorkerProcess(env(), 'crash-a');
    procs.push(a);
    const handle = await engine.client.workflow.start('phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    for (;;) {
      const p = (await handle.query('progress').catch(() => null)) as StudyProgress | null;
      if (p?.phase === 'gwas' && p.shardsDone >= 4 && p.shardsDone < p.shardsTotal - 2) break;
      if (p && ['merging', 'phewas', 'completed', 'failed'].includes(p.phase))
        throw new Error(`too late: ${p.phase}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await a.kill9();
    const b = await startWorkerProcess(env(), 'crash-b');
    procs.push(b);
    const result = (await handle.result()) as StudyResult;
    const progress = (await handle.query('progress')) as StudyProgress;
    await b.stop();

    // Shards finished by A were scheduled once and not run again; in-flight ones were retried on B.
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '');
    }
    const shardEvents = [...scheduled.values()].filter((t) => t === 'runGwasShard');
    const completedBy = events
      .filter((e) => e.activityTaskCompletedEventAttributes)
      .map((e) => ({
        type: scheduled.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
        identity: e.activityTaskCompletedEventAttributes?.identity,
      }))
      .filter((c) => c.type === 'runGwasShard');
    expect(shardEvents.length).toBe(completedBy.length);
    expect(completedBy.filter((c) => c.identity === 'crash-a').length).toBeGreaterThanOrEqual(4);
    expect(completedBy.filter((c) => c.identity === 'crash-b').length).toBeGreaterThan(0);
    expect(progress.phase).toBe('completed');
    expect(progress.shardsDone).toBe(progress.shardsTotal);

    // No duplicated rows.
    const [dup] = await rows(
      'SELECT count(*) AS n, count(DISTINCT variant_id) AS d FROM gwas_results WHERE run_id = $1',
      [result.runId],
    );
    expect(dup.n).toBe(dup.d);
    expect(Number(dup.n)).toBe(result.gwas!.nTested);

    // A clean run of the same study (another id, same computation) gives exactly the same rows.
    const cleanSpec = ldlSpec(release.releaseId, {
      studyId: 'clean',
      gwas: { shardVariants: 150, maxParallelShards: 2 },
    });
    const w = await engine.startWorker();
    const clean = (await engine.client.workflow
      .execute('phenotypeFirstStudy', {
        workflowId: await runIdOf(engine.config, cleanSpec),
        taskQueue: engine.taskQueue,
        args: [cleanSpec],
      })
      .finally(() => w.stop())) as StudyResult;
    const cols = 'chrom, pos, ref, alt, variant_id, n, af, beta, se, stat, p, neg_log10_p, test, status';
    const crashed = await rows(`SELECT ${cols} FROM gwas_results WHERE run_id = $1 ORDER BY variant_id`, [
      result.runId,
    ]);
    const cleanRows = await rows(`SELECT ${cols} FROM gwas_results WHERE run_id = $1 ORDER BY variant_id`, [
      clean.runId,
    ]);
    expect(crashed).toEqual(cleanRows);
    expect(result.gwas!.leadLoci).toEqual(clean.gwas!.leadLoci);
    const pheCols = 'predictor, phecode, n_cases, n_controls, n_excluded, beta, se, p, status';
    expect(
      await rows(`SELECT ${pheCols} FROM phewas_results WHERE run_id = $1 ORDER BY ALL`, [result.runId]),
    ).toEqual(
      await rows(`SELECT ${pheCols} FROM phewas_results WHERE run_id = $1 ORDER BY ALL`, [clean.runId]),
    );
  });
});

describe('concurrency', () => {
  it('two studies at once on two worker processes both complete with their own results', async () => {
    const a = await startWorkerProcess(env(), 'conc-a');
    const b = await startWorkerProcess(env(), 'conc-b');
    procs.push(a, b);
    const gwasSpec = ldlSpec(release.releaseId, { studyId: 'conc-ldl' });
    const burdenSpec = lmnaSpec(release.releaseId);
    const [g, bu] = (await Promise.all([
      engine.client.workflow.execute('phenotypeFirstStudy', {
        workflowId: await runIdOf(engine.config, gwasSpec),
        taskQueue: engine.taskQueue,
        args: [gwasSpec],
      }),
      engine.client.workflow.execute('genotypeFirstStudy', {
        workflowId: await runIdOf(engine.config, burdenSpec),
        taskQueue: engine.taskQueue,
        args: [burdenSpec],
      }),
    ])) as [StudyResult, StudyResult];
    await Promise.all([a.stop(), b.stop()]);
    expect(g.runId).not.toBe(bu.runId);
    const [gc] = await rows('SELECT count(*) AS n FROM gwas_results WHERE run_id = $1', [g.runId]);
    expect(Number(gc.n)).toBe(g.gwas!.nTested);
    const [bc] = await rows('SELECT count(*) AS n FROM burden_results WHERE run_id = $1', [bu.runId]);
    expect(Number(bc.n)).toBe(1);
    const [none] = await rows('SELECT count(*) AS n FROM gwas_results WHERE run_id = $1', [bu.runId]);
    expect(Number(none.n)).toBe(0);
    // Both worker processes did work.
    const ids = new Set<string>();
    for (const id of [g.runId, bu.runId]) {
      const h = await engine.client.workflow.getHandle(id).fetchHistory();
      for (const e of h.events ?? []) {
        const who = e.activityTaskCompletedEventAttributes?.identity;
        if (who) ids.add(who);
      }
    }
    expect(ids.has('conc-a') && ids.has('conc-b')).toBe(true);
  });
});
