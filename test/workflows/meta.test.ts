/**
 * The `metaAnalysis` workflow end to end on a real Temporal server and worker:
 * - from a spec file (three sites in three formats, test/meta/fixture.ts) to recorded tables:
 *   the run is completed, `meta_results` has a row per variant, the planted locus is found;
 * - a second start with the same spec is a no-op: the same workflow id attaches to the first
 *   execution, and a start under another workflow id returns the completed run (`reused`);
 * - a ragged line in one input fails the workflow at once, non-retryably, naming file and line,
 *   and no run is recorded.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { getRun, listRuns } from '../../engine/results.js';
import { startOrAttach } from '../../engine/temporal.js';
import { metaIdentity, readMetaSpec } from '../../meta/spec.js';
import type { MetaResult, MetaSpec } from '../../schemas/meta.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { tempDir } from '../ingest/helpers.js';
import { type MetaFixture, writeMetaFixture } from '../meta/fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let dir: string;
let fx: MetaFixture;
let spec: MetaSpec;
let workflowId: string;
let first: MetaResult;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  dir = tempDir('meta-wf');
  fx = writeMetaFixture(dir);
  spec = await readMetaSpec(fx.specPath);
  workflowId = (await metaIdentity(spec)).runId;
  first = (await engine.client.workflow.execute('metaAnalysis', {
    workflowId,
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as MetaResult;
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('metaAnalysis workflow', () => {
  it('runs a spec file end to end and records the run', async () => {
    expect(first.runId).toBe(workflowId);
    expect(first.reused).toBe(false);
    expect(first.leadLoci.length).toBe(1);
    expect((await getRun(engine.config, first.runId))?.status).toBe('completed');
    const n = await withEngineDb(
      engine.config,
      async (conn) =>
        Number(
          (
            await conn.runAndReadAll('SELECT count(*) FROM meta_results WHERE run_id = $1', [first.runId])
          ).getRows()[0][0],
        ),
      { readOnly: true },
    );
    expect(n).toBe(fx.variants.length);
    expect(readFileSync(first.reportPath!, 'utf8')).toContain('Lead loci');
  });

  it('a second start with the same spec is a no-op', async () => {
    const again = await startOrAttach(engine.client, 'metaAnalysis', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    expect(again.started).toBe(false);
    expect(((await again.handle.result()) as MetaResult).runId).toBe(first.runId);
    const other = (await engine.client.workflow.execute('metaAnalysis', {
      workflowId: `${workflowId}-by-hand`,
      taskQueue: engine.taskQueue,
      args: [spec],
    })) as MetaResult;
    expect(other.runId).toBe(first.runId);
    expect(other.reused).toBe(true);
    expect((await listRuns(engine.config)).filter((r) => r.run_id === first.runId).length).toBe(1);
  }, 60_000);

  it('a ragged line fails non-retryably, naming file and line, and records no run', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(bad, { recursive: true });
    const bfx = writeMetaFixture(bad, 16);
    const file = join(bad, 'siteB.LDL.glm.linear');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[4] = lines[4].split('\t').slice(0, 5).join('\t');
    writeFileSync(file, lines.join('\n'));
    const badSpec = await readMetaSpec(bfx.specPath);
    const id = (await metaIdentity(badSpec)).runId;
    const err = await engine.client.workflow
      .execute('metaAnalysis', { workflowId: id, taskQueue: engine.taskQueue, args: [badSpec] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause ?? (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    const failure = cause as ApplicationFailure;
    expect(failure.type).toBe('InputError');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('siteB.LDL.glm.linear');
    expect(failure.message).toMatch(/line 5\b/);
    expect(await getRun(engine.config, id)).toBeUndefined();
  }, 60_000);

  it('a spec as `temporal workflow start` sends it (relative paths, no baseDir) fails naming the fix', async () => {
    const raw = JSON.parse(readFileSync(fx.specPath, 'utf8')) as MetaSpec;
    const { baseDir: _b, ...asSent } = { ...raw, metaId: 'ldl-meta-relative' };
    const err = await engine.client.workflow
      .execute('metaAnalysis', {
        workflowId: 'meta-relative-paths',
        taskQueue: engine.taskQueue,
        args: [asSent],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause?.cause ?? (err as WorkflowFailedError).cause;
    const failure = cause as ApplicationFailure;
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(
      /resolved against the worker's folder .*needs "baseDir" or absolute paths/,
    );
    // with baseDir (the spec file's folder) the same spec runs
    const ok = (await engine.client.workflow.execute('metaAnalysis', {
      workflowId: 'meta-relative-paths-basedir',
      taskQueue: engine.taskQueue,
      args: [{ ...asSent, baseDir: dir }],
    })) as MetaResult;
    expect(ok.leadLoci.length).toBe(first.leadLoci.length);
  }, 60_000);
});
