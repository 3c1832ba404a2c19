/**
 * The `biobank dev-server` set-up: a workflow started with the `temporal` CLI from a JSON
 * input file completes on our worker, `temporal workflow show` displays it, and its history
 * survives a hard kill and restart of the server (state in --db-filename).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { devServerDbPath, type RunningDevServer, startDevServer } from '../../engine/dev-server.js';
import { installRuntime } from '../../engine/temporal.js';
import { requireTemporalCli } from '../../engine/temporal-bin.js';
import { loadConfig } from '../../temporal.config.js';
import { createEngineWorker } from '../../worker.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
let server: RunningDevServer | undefined;
let dataDir = '';

afterAll(async () => {
  await server?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('dev server with persistent state', () => {
  it('runs a workflow started by the temporal CLI and keeps its history across a restart', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'biobank-devserver-'));
    const port = await freePort();
    const config = loadConfig({
      BIOBANK_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      BIOBANK_DUCKDB_THREADS: '1',
    });
    const cli = requireTemporalCli();
    const address = config.temporal.address;
    server = await startDevServer(config, { headless: true });

    const inputFile = join(dataDir, 'input.json');
    await writeFile(inputFile, JSON.stringify({ runId: 'cli-run', nVariants: 1000, seed: 3 }));
    installRuntime();
    const nativeConnection = await NativeConnection.connect({ address });
    const worker = await createEngineWorker(config, { connection: nativeConnection });
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    await worker.runUntil(async () => {
      await run(cli, [
        'workflow',
        'start',
        '--address',
        address,
        '--task-queue',
        'biobank',
        '--type',
        'engineSelfTest',
        '--workflow-id',
        'cli-started',
        '--input-file',
        inputFile,
      ]);
      const result = await client.workflow.getHandle('cli-started').result();
      expect(result).toMatchObject({ runId: 'cli-run', nVariants: 1000, recordedRuns: 1 });
    });
    await nativeConnection.close();
    await connection.close();

    const show = async () =>
      (
        await run(cli, [
          'workflow',
          'show',
          '--detailed',
          '--address',
          address,
          '--workflow-id',
          'cli-started',
        ])
      ).stdout;
    const before = await show();
    expect(before).toMatch(/WorkflowExecutionCompleted|Completed/);
    expect(before).toContain('writeSelfTestTable');

    // Hard kill, then start again on the same SQLite file.
    server.child.kill('SIGKILL');
    await server.stop();
    server = await startDevServer(config, { headless: true });
    const after = await show();
    expect(after).toContain('writeSelfTestTable');
    expect(after).toMatch(/WorkflowExecutionCompleted|Completed/);
    const describeOut = (
      await run(cli, [
        'workflow',
        'describe',
        '--address',
        address,
        '--workflow-id',
        'cli-started',
        '-o',
        'json',
      ])
    ).stdout;
    expect(JSON.parse(describeOut).workflowExecutionInfo.status).toMatch(/COMPLETED/);
    expect(devServerDbPath(config).startsWith(dataDir)).toBe(true);
  });
});
