import { hostname } from 'node:os';
import { NativeConnection } from '@temporalio/worker';
import { installRuntime } from '../../engine/temporal.js';
import { prewarmThreads } from '../../engine/thread.js';
import { loadConfig } from '../../temporal.config.js';
import { createEngineWorker, THREAD_MODULES } from '../../worker.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'serve the biobank task queue: every workflow and activity',
  usage: `
Usage: biobank worker [--identity NAME]

Connects to TEMPORAL_ADDRESS and polls the task queue (BIOBANK_TASK_QUEUE, default biobank).
Workflow code is bundled once and cached under the data folder. SIGINT/SIGTERM stop polling
and let running activities finish (up to BIOBANK_SHUTDOWN_GRACE seconds) before exiting.
Run several workers, on this machine or others that share the data folder, to scale out.

Options:
  --identity NAME   worker identity shown in the Temporal UI (default pid@host)`,
  examples: ['biobank worker', 'BIOBANK_MAX_ACTIVITIES=4 biobank worker --identity node-a'],
  async run(argv) {
    const { values } = parse(argv, { identity: { type: 'string' } });
    const config = loadConfig();
    installRuntime(config.worker.logLevel);
    let connection: NativeConnection;
    try {
      connection = await NativeConnection.connect({ address: config.temporal.address });
    } catch (err) {
      throw new CliError(
        `cannot reach the Temporal server at ${config.temporal.address}: ${(err as Error).message}`,
        EXIT.unavailable,
        "start one with 'biobank dev-server' or set TEMPORAL_ADDRESS",
      );
    }
    // Load the shard thread modules now, not when the first shard arrives.
    void prewarmThreads(THREAD_MODULES, config.worker.maxConcurrentActivities, config);
    const worker = await createEngineWorker(config, {
      connection,
      identity: values.identity ?? `${process.pid}@${hostname()}`,
    });
    console.error(
      `biobank worker: polling '${config.temporal.taskQueue}' on ${config.temporal.address} ` +
        `(namespace ${config.temporal.namespace}, ${config.worker.maxConcurrentActivities} activities at once)`,
    );
    // Temporal's runtime turns SIGINT/SIGTERM into a graceful worker.shutdown(); run() then
    // resolves once in-flight activities have drained.
    await worker.run();
    await connection.close();
    console.error('biobank worker: stopped');
    return EXIT.ok;
  },
};
