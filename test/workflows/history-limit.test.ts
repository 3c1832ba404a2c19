/**
 * Long studies survive Temporal's history limit (issue 18 §4): on a dev server whose history
 * limit is lowered to 2,500 events (continue-as-new suggested from 1,000), a study of 1,000 GWAS
 * shards — about 6,000 events in one run before — completes by continuing as new, each run's
 * history staying under the limit, with every shard's results recorded once.
 */
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
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
  own = await startOwnServer(
    'biobank-history-',
    {
      'limit.historyCount.error': 2500,
      'limit.historyCount.warn': 2000,
      'limit.historyCount.suggestContinueAsNew': 1000,
    },
    { BIOBANK_MAX_ACTIVITIES: '8' },
  );
  ({ dataDir, config, client } = own);
}, 120_000);

afterAll(async () => {
  await own?.stop();
});

describe('history limit', () => {
  it('a 1,000-shard study completes under a 2,500-event limit by continuing as new', async () => {
    const native = await NativeConnection.connect({ address: config.temporal.address });
    const worker = await createEngineWorker(config, { connection: native });
    await worker.runUntil(async () => {
      const release = await ingestSyntheticRelease(client, config.temporal.taskQueue, dataDir, {
        persons: 300,
        variants: 10_000,
        seed: 8,
        releaseId: 'history-release',
      });
      const spec = ldlSpec(release.releaseId, {
        studyId: 'history-1000',
        gwas: { shardVariants: 10, maxParallelShards: 8 },
        covariates: ['age', 'sex'],
      });
      const workflowId = await runIdOf(config, spec);
      const { handle } = await startOrAttach(client, 'phenotypeFirstStudy', {
        workflowId,
        taskQueue: config.temporal.taskQueue,
        args: [spec],
      });
      const result = (await handle.result()) as StudyResult;
      expect(result.gwas!.nTested).toBeGreaterThan(1_000);

      // Every run of the chain stayed under the limit, and there were several.
      const runs = await runsOf(client, workflowId);
      expect(runs.length).toBeGreaterThan(3);
      for (const r of runs) expect(r.length).toBeLessThan(2500);
      const shardStarts = runs.map((r) => r.shardStarts);
      expect(shardStarts.reduce((a, b) => a + b, 0)).toBe(1000);

      const rows = await withEngineDb(
        config,
        async (conn) =>
          Number(
            (
              await conn.runAndReadAll(
                'SELECT count(*) - count(DISTINCT variant_id) FROM gwas_results WHERE run_id = $1',
                [workflowId],
              )
            ).getRows()[0][0],
          ),
        { readOnly: true },
      );
      expect(rows).toBe(0); // no variant recorded twice
    });
    await native.close();
  }, 600_000);
});
