/**
 * A run that is told to continue as new before it has started any shard still makes progress
 * (issue 18 follow-up): on a dev server that suggests continue-as-new from the first events of
 * every run, a study of several shards completes, and every run of its chain starts at least one shard
 * instead of continuing as new with nothing done.
 */
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import type { StudyResult } from '../../schemas/study-io.js';
import type { EngineConfig } from '../../temporal.config.js';
import { createEngineWorker } from '../../worker.js';
import { runsOf, startOwnServer } from '../helpers/history.js';
import { ingestSyntheticRelease, ldlSpec } from '../helpers/study-fixture.js';

let own: Awaited<ReturnType<typeof startOwnServer>>;
let dataDir = '';
let config: EngineConfig;
let client: Client;

beforeAll(async () => {
  own = await startOwnServer('biobank-history-early-', { 'limit.historyCount.suggestContinueAsNew': 2 });
  ({ dataDir, config, client } = own);
}, 120_000);

afterAll(async () => {
  await own?.stop();
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

      const starts = (await runsOf(client, workflowId)).map((r) => r.shardStarts);
      const { shardsTotal } = await handle.query<{ shardsTotal: number }>('progress');
      expect(shardsTotal).toBeGreaterThanOrEqual(4);
      expect(starts.reduce((a, b) => a + b, 0)).toBe(shardsTotal); // each shard started once
      // The last run starts no shard (all done) and merges; every other run started at least one.
      expect(starts.filter((n) => n === 0).length).toBeLessThanOrEqual(1);
    });
    await native.close();
  }, 300_000);
});
