/**
 * Test helpers: a throw-away data folder and config, and a real worker on a unique task queue
 * against the run's Temporal server (see test/global-setup.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { installRuntime } from '../../engine/temporal.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { createEngineWorker } from '../../worker.js';

export interface TestEngine {
  config: EngineConfig;
  dataDir: string;
  client: Client;
  taskQueue: string;
  /** Run `fn` while a real worker polls the test task queue. */
  withWorker<T>(fn: () => Promise<T>): Promise<T>;
  /** Start a real in-process worker on the test task queue; `stop()` drains and closes it. */
  startWorker(): Promise<{ stop(): Promise<void> }>;
  cleanup(): Promise<void>;
}

export async function makeTestEngine(env: Record<string, string> = {}): Promise<TestEngine> {
  const dataDir = await mkdtemp(join(tmpdir(), 'biobank-test-'));
  const address = inject('temporalAddress');
  const taskQueue = `test-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    BIOBANK_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: address,
    BIOBANK_TASK_QUEUE: taskQueue,
    BIOBANK_DUCKDB_THREADS: '2',
    BIOBANK_DUCKDB_MEMORY: '2GB',
    BIOBANK_SHUTDOWN_GRACE: '5',
    ...env,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  installRuntime();
  return {
    config,
    dataDir,
    client,
    taskQueue,
    async withWorker<T>(fn: () => Promise<T>): Promise<T> {
      const nativeConnection = await NativeConnection.connect({ address });
      const worker: Worker = await createEngineWorker(config, { connection: nativeConnection });
      try {
        return await worker.runUntil(fn());
      } finally {
        await nativeConnection.close();
      }
    },
    async startWorker() {
      const nativeConnection = await NativeConnection.connect({ address });
      const worker: Worker = await createEngineWorker(config, { connection: nativeConnection });
      const running = worker.run();
      return {
        async stop() {
          worker.shutdown();
          await running;
          await nativeConnection.close();
        },
      };
    },
    async cleanup() {
      await connection.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
