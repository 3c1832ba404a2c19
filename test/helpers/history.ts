import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { startDevServer } from '../../engine/dev-server.js';
import { installRuntime } from '../../engine/temporal.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { freePort } from './ports.js';

/**
 * With RECORD_HISTORIES=1, save a finished workflow's history as a replay fixture in
 * test/histories/<name>.json (replayed by test/workflows/replay.test.ts). Record a new fixture
 * when a workflow's shape changes on purpose, and guard the change with patched().
 */
export async function maybeRecordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const history = await handle.fetchHistory();
  await writeFile(join(__dirname, '..', 'histories', `${name}.json`), historyToJSON(history));
}

/**
 * The runs of a workflow id (one per continue-as-new), each with its history length and the
 * number of `runGwasShard` activities it scheduled.
 */
export async function runsOf(
  client: Client,
  workflowId: string,
): Promise<{ runId: string; length: number; shardStarts: number }[]> {
  const runs: { runId: string; length: number; shardStarts: number }[] = [];
  for await (const exec of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const events = (await client.workflow.getHandle(workflowId, exec.runId).fetchHistory()).events ?? [];
    runs.push({
      runId: exec.runId,
      length: events.length,
      shardStarts: events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runGwasShard',
      ).length,
    });
  }
  return runs;
}

/** A dev server of this test file's own, with its dynamic config, a data folder and a client. */
export async function startOwnServer(
  prefix: string,
  dynamicConfig: Record<string, number>,
  env: Record<string, string> = {},
): Promise<{ dataDir: string; config: EngineConfig; client: Client; stop(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const config = loadConfig({
    BIOBANK_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    BIOBANK_DUCKDB_THREADS: '1',
    ...env,
  });
  const server = await startDevServer(config, { headless: true, dynamicConfig });
  const connection = await Connection.connect({ address: config.temporal.address });
  installRuntime();
  return {
    dataDir,
    config,
    client: new Client({ connection }),
    async stop() {
      await connection.close();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
