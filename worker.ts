/**
 * The engine's worker: every workflow (bundled from workflows/) and every activity (built by
 * activities/index.ts from the engine configuration), on the configured task queue. This is
 * the one place that wires the layers together; `biobank worker` and the CLI's in-process
 * worker (cli/services.ts) start it, and so does `node --import tsx worker.ts`.
 */
import { pathToFileURL } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from './activities/index.js';
import { createIngestActivities } from './activities/ingest.js';
import { createEngineContext } from './engine/context.js';
import { installRuntime, workflowBundle } from './engine/temporal.js';
import { prewarmThreads, sourceModule } from './engine/thread.js';
import { type EngineConfig, loadConfig } from './temporal.config.js';
import {
  type IngestReleaseInput,
  type IngestReleaseResult,
  runIngestSteps,
} from './workflows/ingest-release.js';

export interface EngineWorkerOptions {
  /** Use this connection instead of opening one to `config.temporal.address`. */
  connection?: NativeConnection;
  /** Override the task queue (tests use one per test file). */
  taskQueue?: string;
  /** Worker identity shown in Temporal's UI and activity attempts. */
  identity?: string;
}

/** Modules the engine's activities run on pooled worker threads (engine/thread.ts). */
export const THREAD_MODULES = [
  sourceModule('gwas/thread.ts'),
  sourceModule('gwas/step1-thread.ts'),
  sourceModule('phewas/fit.ts'),
  sourceModule('phewas/cox.ts'),
  sourceModule('phewas/cox-many.ts'),
  sourceModule('ingest/shard-job.ts'),
];

/** The engine's worker: every workflow and activity, concurrency from the config. */
export async function createEngineWorker(
  config: EngineConfig,
  options: EngineWorkerOptions = {},
): Promise<Worker> {
  installRuntime(config.worker.logLevel);
  const connection =
    options.connection ?? (await NativeConnection.connect({ address: config.temporal.address }));
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    workflowBundle: await workflowBundle(config),
    activities: createActivities({ config, context: createEngineContext(config) }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    shutdownGraceTime: `${config.worker.shutdownGraceSeconds}s`,
    ...(options.identity ? { identity: options.identity } : {}),
  });
}

/**
 * `release add --in-process`: the ingest workflow's steps in this process, calling the same
 * activities in the same order without Temporal (not durable; for machines with no server).
 */
export function runIngestInProcess(
  config: EngineConfig,
  input: IngestReleaseInput,
): Promise<IngestReleaseResult> {
  return runIngestSteps(createIngestActivities(config), input);
}

/** Run a worker until SIGINT/SIGTERM (the runtime installed by installRuntime shuts it down). */
export async function runWorker(config: EngineConfig = loadConfig()): Promise<void> {
  void prewarmThreads(THREAD_MODULES, config.worker.maxConcurrentActivities, config);
  const worker = await createEngineWorker(config);
  await worker.run();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runWorker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
