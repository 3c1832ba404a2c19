/**
 * A hard kill and restart of the Temporal dev server (state in --db-filename) in the middle of
 * a study: the worker process reconnects by itself and the study completes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningDevServer, startDevServer } from '../../engine/dev-server.js';
import { runIdOf } from '../../engine/study.js';
import type { StudyProgress, StudyResult } from '../../schemas/study-io.js';
import { loadConfig } from '../../temporal.config.js';
import { freePort } from '../helpers/ports.js';
import { ingestSyntheticRelease, ldlSpec } from '../helpers/study-fixture.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

let server: RunningDevServer | undefined;
let worker: WorkerProcess | undefined;
let dataDir = '';

afterAll(async () => {
  if (worker && worker.child.exitCode === null) await worker.kill9();
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('server restart', () => {
  it('a study survives a hard restart of the dev server', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'biobank-restart-'));
    const address = `127.0.0.1:${await freePort()}`;
    const env = {
      TEMPORAL_ADDRESS: address,
      BIOBANK_DATA_DIR: dataDir,
      BIOBANK_TASK_QUEUE: 'restart',
      BIOBANK_DUCKDB_THREADS: '1',
      BIOBANK_SHUTDOWN_GRACE: '2',
    };
    const config = loadConfig(env);
    server = await startDevServer(config, { headless: true });
    worker = await startWorkerProcess(env, 'restart-worker');
    let connection = await Connection.connect({ address });
    let client = new Client({ connection });
    const release = await ingestSyntheticRelease(client, 'restart', dataDir, {
      seed: 21,
      persons: 600,
      variants: 2000,
    });
    const spec = ldlSpec(release.releaseId, {
      studyId: 'restart',
      gwas: { shardVariants: 100, maxParallelShards: 1 },
    });
    const workflowId = await runIdOf(config, spec);
    const handle = await client.workflow.start('phenotypeFirstStudy', {
      workflowId,
      taskQueue: 'restart',
      args: [spec],
    });
    for (;;) {
      const p = (await handle.query('progress').catch(() => null)) as StudyProgress | null;
      if (p?.phase === 'gwas' && p.shardsDone >= 2) break;
      if (p && ['merging', 'phewas', 'completed', 'failed'].includes(p.phase))
        throw new Error(`too late: ${p.phase}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    server.child.kill('SIGKILL');
    await server.stop();
    await connection.close();
    server = await startDevServer(config, { headless: true });
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    const result = (await client.workflow.getHandle(workflowId).result()) as StudyResult;
    expect(result.runId).toBe(workflowId);
    expect(result.gwas!.nTested).toBeGreaterThan(100);
    const desc = await client.workflow.getHandle(workflowId).describe();
    expect(desc.status.name).toBe('COMPLETED');
    await connection.close();
    await worker.stop();
  });
});
