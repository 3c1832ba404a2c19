/**
 * `biobank worker` as its own process: SIGTERM while an activity runs lets the activity finish
 * and report (attempt 1, no retry) before the process exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

let engine: TestEngine;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  engine = await makeTestEngine();
});
afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) await w.kill9();
  await engine?.cleanup();
});

function workerEnv(): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: engine.config.temporal.address,
    BIOBANK_DATA_DIR: engine.dataDir,
    BIOBANK_TASK_QUEUE: engine.taskQueue,
    BIOBANK_DUCKDB_THREADS: '1',
    BIOBANK_SHUTDOWN_GRACE: '60',
  };
}

describe('worker process', () => {
  it('drains a running activity on SIGTERM', async () => {
    const first = await startWorkerProcess(workerEnv(), 'drain-a');
    workers.push(first);
    const handle = await engine.client.workflow.start('engineSelfTest', {
      workflowId: 'drain-test',
      taskQueue: engine.taskQueue,
      args: [{ runId: 'drain', nVariants: 10_000_000, seed: 5 }],
    });
    // Wait until the activity is running on the worker.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const history = await handle.fetchHistory();
      if (history.events?.some((e) => e.activityTaskStartedEventAttributes)) break;
      if (Date.now() > deadline) throw new Error('activity never started');
      await new Promise((r) => setTimeout(r, 100));
    }
    const code = await first.stop();
    expect(code).toBe(0);
    expect(first.log()).toContain('biobank worker: stopped');

    const second = await startWorkerProcess(workerEnv(), 'drain-b');
    workers.push(second);
    const result = (await handle.result()) as { nVariants: number };
    expect(result.nVariants).toBe(10_000_000);
    const history = await handle.fetchHistory();
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    const writeStarted = started[0]?.activityTaskStartedEventAttributes;
    expect(writeStarted?.attempt).toBe(1);
    expect(writeStarted?.identity).toBe('drain-a');
    const completed = history.events?.filter((e) => e.activityTaskCompletedEventAttributes) ?? [];
    expect(completed[0]?.activityTaskCompletedEventAttributes?.identity).toBe('drain-a');
    await second.stop();
  });
});
