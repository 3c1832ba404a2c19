/**
 * Bringing up what a one-shot command needs: a Temporal server (the dev server, if none is
 * reachable at the default, unconfigured address) and a worker (in-process, if nobody serves the
 * task queue). Whatever this starts, `stop()` shuts down again; what was already running is left
 * alone.
 *
 * Whether a worker serves the queue is decided from what is true now, not from the server's list
 * of pollers: a worker that stopped a moment ago (the previous one-shot command's) stays listed
 * for minutes. `watch(handle)` follows a started workflow and, when a workflow or activity task
 * of it waits for a worker with none started for `stallMs`, starts an in-process worker and says
 * so. A command never waits for a worker without a word.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { type RunningDevServer, startDevServer } from '../engine/dev-server.js';
import { ServerUnreachableError } from '../engine/errors.js';
import { connectClient, installRuntime, isServerReachable } from '../engine/temporal.js';
import { prewarmThreads } from '../engine/thread.js';
import type { EngineConfig } from '../temporal.config.js';
import { createEngineWorker, THREAD_MODULES } from '../worker.js';

export interface Services {
  client: Client;
  startedServer: boolean;
  /** True once this process started an in-process worker. */
  readonly startedWorker: boolean;
  /** Follow `handle`: start an in-process worker if its tasks wait for one. Returns a stop function. */
  watch(handle: Pick<WorkflowHandle, 'describe'>): () => void;
  stop(): Promise<void>;
}

// Temporal's enums: PendingWorkflowTaskState and PendingActivityState (1 scheduled, 2 started).
const SCHEDULED = 1;
const STARTED = 2;

/**
 * Whether a running workflow waits for a worker right now: a workflow or activity task is
 * scheduled and none is being worked on. Closed workflows and workflows waiting on a timer,
 * a signal or a child do not.
 */
export async function waitsForWorker(handle: Pick<WorkflowHandle, 'describe'>): Promise<boolean> {
  const d = await handle.describe();
  if (d.status.name !== 'RUNNING') return false;
  const wt = d.raw.pendingWorkflowTask;
  const acts = d.raw.pendingActivities ?? [];
  const busy = wt?.state === STARTED || acts.some((a) => a.state === STARTED);
  const waiting = wt?.state === SCHEDULED || acts.some((a) => a.state === SCHEDULED);
  return waiting && !busy;
}

/**
 * Call `onStall` once when `handle` has waited for a worker for `stallMs` on end (checked every
 * `everyMs`). Returns a function that stops watching.
 */
export function watchForWorker(
  handle: Pick<WorkflowHandle, 'describe'>,
  onStall: () => void | Promise<void>,
  options: { stallMs?: number; everyMs?: number } = {},
): () => void {
  const stallMs = options.stallMs ?? 5000;
  const everyMs = options.everyMs ?? 500;
  let stopped = false;
  let since: number | undefined;
  const timer = setInterval(async () => {
    if (stopped) return;
    try {
      const waiting = await waitsForWorker(handle);
      if (!waiting) {
        since = undefined;
        return;
      }
      since ??= Date.now();
      if (Date.now() - since >= stallMs && !stopped) {
        stopped = true;
        clearInterval(timer);
        await onStall();
      }
    } catch {
      // describe failed (server restarting, workflow not visible yet): try again next tick.
    }
  }, everyMs);
  timer.unref?.();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

async function hasWorkflowPollers(client: Client, config: EngineConfig): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: config.temporal.taskQueue },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  return (res.pollers?.length ?? 0) > 0;
}

/** True when the server address was set by the user (TEMPORAL_ADDRESS), not the default. */
export function addressConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.TEMPORAL_ADDRESS ?? '').trim() !== '';
}

export async function ensureServices(
  config: EngineConfig,
  log: (line: string) => void = (l) => console.error(l),
  options: { stallMs?: number } = {},
): Promise<Services> {
  let server: RunningDevServer | undefined;
  if (!(await isServerReachable(config.temporal.address))) {
    if (addressConfigured()) {
      throw new ServerUnreachableError(
        `no Temporal server at ${config.temporal.address} (TEMPORAL_ADDRESS); a configured server is never replaced by a local one`,
      );
    }
    log(`starting a Temporal dev server on ${config.temporal.address} (state in ${config.dataDir}/temporal)`);
    server = await startDevServer(config, { headless: true });
  }
  const client = await connectClient(config);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  let starting: Promise<void> | undefined;
  const startWorker = (reason: string): Promise<void> => {
    starting ??= (async () => {
      log(`starting an in-process worker on task queue '${config.temporal.taskQueue}' (${reason})`);
      installRuntime(config.worker.logLevel);
      connection = await NativeConnection.connect({ address: config.temporal.address });
      void prewarmThreads(THREAD_MODULES, config.worker.maxConcurrentActivities, config);
      worker = await createEngineWorker(config, { connection, identity: `cli-${process.pid}` });
      running = worker.run();
    })();
    return starting;
  };
  if (!(await hasWorkflowPollers(client, config))) await startWorker('no worker polls it');
  const watchers: (() => void)[] = [];
  return {
    client,
    startedServer: server !== undefined,
    get startedWorker() {
      return worker !== undefined;
    },
    watch(handle) {
      if (starting) return () => undefined;
      const stop = watchForWorker(
        handle,
        () =>
          startWorker(
            `the workflow waited ${((options.stallMs ?? 5000) / 1000).toFixed(0)} s and no worker took its tasks`,
          ),
        { stallMs: options.stallMs },
      );
      watchers.push(stop);
      return stop;
    },
    async stop() {
      for (const w of watchers) w();
      await starting?.catch(() => undefined);
      if (worker) {
        worker.shutdown();
        await running;
        await connection?.close();
      }
      await client.connection.close();
      await server?.stop();
    },
  };
}
