/**
 * `refreshOnRelease` and its Temporal Schedule, on a real server and worker: an unchanged
 * release does nothing and says so; a new release is ingested, every registered study is
 * re-run on it as a child workflow and compared with its previous run; a repeated trigger is
 * a no-op.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import { generateBiobank } from '../../synth/index.js';
import type { RefreshResult } from '../../workflows/refresh.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { maybeRecordHistory } from '../helpers/history.js';
import { ingestSyntheticRelease, ldlSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let first: StudyFixture;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  first = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
    seed: 31,
    persons: 600,
    variants: 2000,
  });
  const spec = ldlSpec(first.releaseId, { studyId: 'refresh-ldl' });
  const handle = await engine.client.workflow.start('phenotypeFirstStudy', {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  });
  await handle.result();
  await maybeRecordHistory(handle, 'phenotypeFirstStudy-v1');
  await maybeRecordHistory(
    engine.client.workflow.getHandle(`ingest-${first.releaseId}-${first.fingerprint.slice(0, 12)}`),
    'ingestRelease-v1',
  );
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function count(sql: string, params: string[] = []): Promise<number> {
  return withEngineDb(
    engine.config,
    async (conn) => Number((await conn.runAndReadAll(sql, params)).getRows()[0][0]),
    {
      readOnly: true,
    },
  );
}

describe('refreshOnRelease', () => {
  it('does nothing, and says so, when the release has not changed', async () => {
    const result = (await engine.client.workflow.execute('refreshOnRelease', {
      workflowId: 'refresh-unchanged',
      taskQueue: engine.taskQueue,
      args: [{ manifests: [first.manifestPath] }],
    })) as RefreshResult;
    expect(result.changed).toBe(false);
    expect(result.message).toMatch(/no release changed.*nothing to do/);
    expect(result.runs).toEqual([]);
  });

  it('ingests a new release, re-runs the registered studies and compares with their previous runs', async () => {
    const synth = await generateBiobank({
      size: 'custom',
      persons: 600,
      variants: 2000,
      seed: 32,
      releaseId: 'refresh-release-2',
      out: join(engine.dataDir, 'synth-refresh-2'),
    });
    const handle = await engine.client.workflow.start('refreshOnRelease', {
      workflowId: 'refresh-new',
      taskQueue: engine.taskQueue,
      args: [{ manifests: [synth.manifestPath] }],
    });
    const result = (await handle.result()) as RefreshResult;
    await maybeRecordHistory(handle, 'refreshOnRelease-v1');
    expect(result.changed).toBe(true);
    expect(result.releases).toEqual([
      expect.objectContaining({ releaseId: 'refresh-release-2', ingested: true }),
    ]);
    expect(result.runs).toHaveLength(1);
    expect(result.runs[0]).toMatchObject({ studyId: 'refresh-ldl', status: 'completed' });
    expect(result.runs[0].comparison?.previousRunId).toMatch(/^refresh-ldl-/);
    expect(
      await count(`SELECT count(*) FROM runs WHERE study_id = 'refresh-ldl' AND status = 'completed'`),
    ).toBe(2);
    expect(
      await count('SELECT count(*) FROM run_comparisons WHERE new_run_id = $1', [result.runs[0].workflowId]),
    ).toBeGreaterThan(0);

    // The same trigger again: the release is registered now, nothing new is written.
    const again = (await engine.client.workflow.execute('refreshOnRelease', {
      workflowId: 'refresh-again',
      taskQueue: engine.taskQueue,
      args: [{ manifests: [synth.manifestPath] }],
    })) as RefreshResult;
    expect(again.changed).toBe(false);
    expect(await count(`SELECT count(*) FROM runs WHERE study_id = 'refresh-ldl'`)).toBe(2);
  });

  it('runs from a Temporal Schedule', async () => {
    const scheduleId = `sched-${engine.taskQueue}`;
    const schedule = await engine.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1h' }] },
      action: {
        type: 'startWorkflow',
        workflowType: 'refreshOnRelease',
        workflowId: `${scheduleId}-run`,
        taskQueue: engine.taskQueue,
        args: [{ manifests: [first.manifestPath] }],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    try {
      await schedule.trigger();
      let workflowId: string | undefined;
      for (let i = 0; i < 100 && !workflowId; i++) {
        workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!workflowId) await new Promise((r) => setTimeout(r, 200));
      }
      expect(workflowId).toBeDefined();
      const result = (await engine.client.workflow.getHandle(workflowId!).result()) as RefreshResult;
      expect(result.changed).toBe(false);
    } finally {
      await schedule.delete();
    }
  });

  it('biobank schedule create / describe / delete manage the same Schedule', async () => {
    const bin = join(__dirname, '../../bin/biobank.mjs');
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: engine.config.temporal.address,
      BIOBANK_DATA_DIR: engine.dataDir,
      BIOBANK_TASK_QUEUE: engine.taskQueue,
    };
    const cli = (args: string[]) => promisify(execFile)('node', [bin, ...args], { env });
    const id = `cli-${engine.taskQueue}`;
    const created = await cli([
      'schedule',
      'create',
      '--manifest',
      first.manifestPath,
      '--every',
      '6h',
      '--id',
      id,
    ]);
    expect(created.stdout).toContain(`created schedule ${id}`);
    const described = JSON.parse((await cli(['schedule', 'describe', '--id', id])).stdout);
    expect(described.action.workflowType).toBe('refreshOnRelease');
    expect(described.action.args).toEqual([{ manifests: [first.manifestPath] }]);
    await cli(['schedule', 'delete', '--id', id]);
    const gone = await cli(['schedule', 'describe', '--id', id]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((gone as { code: number }).code).toBe(2);
    expect((gone as { stderr: string }).stderr).toContain(`no schedule ${id}`);
  });
});
