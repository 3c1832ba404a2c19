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

/** Resolve `p`, or fail after `ms` with `what` and the workers' logs, so a hang says where. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => {
      const logs = workers.map((w, i) => `--- worker ${i} log ---\n${w.log()}`).join('\n');
      fail(new Error(`${what}: no result after ${ms} ms\n${logs}`));
    }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
    // Wait until the activity is running on the worker. History records ActivityTaskStarted
    // only when the attempt ends, so ask the server for the pending activity's state instead.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { raw } = await handle.describe();
      const pending = raw.pendingActivities ?? [];
      // State 2 = PENDING_ACTIVITY_STATE_STARTED.
      if (pending.some((a) => Number(a.state) === 2)) break;
      if (raw.workflowExecutionInfo?.closeTime) throw new Error('workflow closed before the check');
      if (Date.now() > deadline) throw new Error(`activity never started:\n${first.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const code = await within(90_000, 'worker drain-a stopping', first.stop());
    expect(code).toBe(0);
    expect(first.log()).toContain('biobank worker: stopped');

    const second = await startWorkerProcess(workerEnv(), 'drain-b');
    workers.push(second);
    const result = (await within(60_000, 'workflow result', handle.result())) as { nVariants: number };
    expect(result.nVariants).toBe(10_000_000);
    const history = await handle.fetchHistory();
    const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
    const writeStarted = started[0]?.activityTaskStartedEventAttributes;
    expect(writeStarted?.attempt).toBe(1);
    expect(writeStarted?.identity).toBe('drain-a');
    const completed = history.events?.filter((e) => e.activityTaskCompletedEventAttributes) ?? [];
    expect(completed[0]?.activityTaskCompletedEventAttributes?.identity).toBe('drain-a');
    await within(90_000, 'worker drain-b stopping', second.stop());
  }, 300_000);
});
