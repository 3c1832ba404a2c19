/**
 * A run that is told to continue as new before it has started any shard still makes progress
 * (issue 18 follow-up): on a dev server that suggests continue-as-new from the first events of
 * every run, a study of several shards completes, and every run of its chain starts at least one shard
 * instead of continuing as new with nothing done.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningDevServer, startDevServer } from '../../engine/dev-server.js';
import { runIdOf } from '../../engine/study.js';
import { installRuntime, startOrAttach } from '../../engine/temporal.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { createEngineWorker } from '../../worker.js';
import { freePort } from '../helpers/ports.js';
import { ingestSyntheticRelease, ldlSpec } from '../helpers/study-fixture.js';

let server: RunningDevServer | undefined;
let dataDir = '';
let config: EngineConfig;
let client: Client;
let connection: Connection;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'biobank-history-early-'));
  config = loadConfig({
    BIOBANK_DATA_DIR: dataDir,
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    BIOBANK_DUCKDB_THREADS: '1',
  });
  server = await startDevServer(config, {
    headless: true,
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 2 },
  });
  connection = await Connection.connect({ address: config.temporal.address });
  client = new Client({ connection });
  installRuntime();
}, 120_000);

afterAll(async () => {
  await connection?.close();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('continue-as-new suggested from the start', () => {
  it('every run starts a shard, and the study completes', async () => {
    const native = await NativeConnection.connect({ address: config.temporal.address });
    const worker = await createEngineWorker(config, { connection: native });
    await worker.runUntil(async () => {
      const release = await ingestSyntheticRelease(client, config.temporal.taskQueue, dataDir, {
        persons: 200,
        variants: 1000,
        seed: 9,
        releaseId: 'early-release',
      });
      const spec = ldlSpec(release.releaseId, {
        studyId: 'history-early',
        gwas: { shardVariants: 10, maxParallelShards: 4, chromosomes: ['1'] },
        covariates: ['age', 'sex'],
      });
      const workflowId = await runIdOf(config, spec);
      const { handle } = await startOrAttach(client, 'phenotypeFirstStudy', {
        workflowId,
        taskQueue: config.temporal.taskQueue,
        args: [spec],
      });
      const result = (await handle.result()) as StudyResult;
      expect(result.gwas!.nTested).toBeGreaterThan(0);

      const starts: number[] = [];
      for await (const exec of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
        const events = (await client.workflow.getHandle(workflowId, exec.runId).fetchHistory()).events ?? [];
        starts.push(
          events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runGwasShard')
            .length,
        );
      }
      expect(starts.length).toBeGreaterThan(1); // it did continue as new
      const { shardsTotal } = await handle.query<{ shardsTotal: number }>('progress');
      expect(shardsTotal).toBeGreaterThanOrEqual(4);
      expect(starts.reduce((a, b) => a + b, 0)).toBe(shardsTotal); // each shard started once
      // The last run starts no shard (all done) and merges; every other run started at least one.
      expect(starts.filter((n) => n === 0).length).toBeLessThanOrEqual(1);
    });
    await native.close();
  }, 300_000);
});
