/**
 * Bringing up what a one-shot command needs: a Temporal server (the dev server, if none is
 * reachable) and a worker (in-process, if nobody polls the task queue). Whatever this starts,
 * `stop()` shuts down again; what was already running is left alone.
 */
import type { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { EngineConfig } from '../temporal.config.js';
import { type RunningDevServer, startDevServer } from './dev-server.js';
import {
  connectClient,
  createEngineWorker,
  installRuntime,
  isServerReachable,
  THREAD_MODULES,
} from './temporal.js';
import { prewarmThreads } from './thread.js';

export interface Services {
  client: Client;
  startedServer: boolean;
  startedWorker: boolean;
  stop(): Promise<void>;
}

async function hasWorkflowPollers(client: Client, config: EngineConfig): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: config.temporal.taskQueue },
    taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
  });
  return (res.pollers?.length ?? 0) > 0;
}

export async function ensureServices(
  config: EngineConfig,
  log: (line: string) => void = (l) => console.error(l),
): Promise<Services> {
  let server: RunningDevServer | undefined;
  if (!(await isServerReachable(config.temporal.address))) {
    log(`starting a Temporal dev server on ${config.temporal.address} (state in ${config.dataDir}/temporal)`);
    server = await startDevServer(config, { headless: true });
  }
  const client = await connectClient(config);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let connection: NativeConnection | undefined;
  if (!(await hasWorkflowPollers(client, config))) {
    log(`starting an in-process worker on task queue '${config.temporal.taskQueue}'`);
    installRuntime();
    connection = await NativeConnection.connect({ address: config.temporal.address });
    void prewarmThreads(THREAD_MODULES, config.worker.maxConcurrentActivities, config);
    worker = await createEngineWorker(config, { connection, identity: `demo-${process.pid}` });
    running = worker.run();
  }
  return {
    client,
    startedServer: server !== undefined,
    startedWorker: worker !== undefined,
    async stop() {
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
