/**
 * A long `biobank query` does not make workers fail on the database lock: the query holds the
 * engine database read-only for its whole run, and a writer meanwhile waits for the lock
 * (withEngineDb retries lock conflicts) and then succeeds.
 */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { loadConfig } from '../../temporal.config.js';

const bin = resolve(import.meta.dirname, '../../bin/biobank.mjs');

describe('a long query and a writer', () => {
  it('the writer waits for the lock and succeeds; the query completes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'biobank-qlock-'));
    const config = loadConfig({ BIOBANK_DATA_DIR: dataDir, BIOBANK_DUCKDB_THREADS: '1' });
    const inst = await DuckDBInstance.create(config.database);
    const c = await inst.connect();
    await c.run('CREATE TABLE runs (run_id VARCHAR)');
    c.closeSync();
    inst.closeSync();

    // A query that runs for a few seconds.
    const child = spawn(
      'node',
      [
        bin,
        'query',
        'SELECT count(*) AS n FROM range(60000000) a, range(3) b WHERE (a.range * 7 + b.range) % 13 = 0',
      ],
      { env: { ...process.env, BIOBANK_DATA_DIR: dataDir, BIOBANK_DUCKDB_THREADS: '1' } },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    // Wait until the query process holds the database (it has started its statement).
    await new Promise((r) => setTimeout(r, 1500));
    expect(child.exitCode).toBeNull(); // the query is still running: the writer must wait for it
    await withEngineDb(config, (conn) => conn.run("INSERT INTO runs VALUES ('r1')"), {
      lockTimeoutMs: 120_000,
    });
    expect(await exited, err).toBe(0);
    expect(out).toMatch(/\(1 row\)/);
    const n = await withEngineDb(
      config,
      async (conn) => Number((await conn.runAndReadAll('SELECT count(*) FROM runs')).getRows()[0][0]),
      { readOnly: true },
    );
    expect(n).toBe(1);
  }, 120_000);
});
