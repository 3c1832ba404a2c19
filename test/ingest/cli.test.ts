/**
 * `biobank release add` / `release list` as a user runs them: through the real Temporal
 * server (the command starts an in-process worker when none polls the queue), then bad
 * input with its exit code and message.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { CONDITIONS_CSV, makeReleaseFolder, tempDir } from './helpers.js';

const bin = resolve(import.meta.dirname, '../../bin/biobank.mjs');

function biobank(args: string[], env: Record<string, string>) {
  return promisify(execFile)('node', [bin, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

describe('biobank release', () => {
  it('adds a release through Temporal, lists it, and rejects bad input with exit code 2', async () => {
    const env = {
      BIOBANK_DATA_DIR: tempDir('cli'),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      BIOBANK_TASK_QUEUE: `cli-${randomBytes(4).toString('hex')}`,
      BIOBANK_DUCKDB_THREADS: '1',
    };
    const { manifestPath } = makeReleaseFolder({ releaseId: 'cli-rel' });
    const add = await biobank(['release', 'add', manifestPath], env);
    expect(add.stderr).toContain('in-process worker');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/registered release cli-rel .*7 samples, 12 variants/);
    const list = await biobank(['release', 'list', '--format', 'json'], env);
    expect(
      JSON.parse(list.stdout).map((r: { release_id: string; variants: number }) => [
        r.release_id,
        r.variants,
      ]),
    ).toEqual([['cli-rel', 12]]);
    const q = await biobank(
      ['query', "SELECT count(*) AS n FROM variants WHERE release_id = 'cli-rel'", '--format', 'csv'],
      env,
    );
    expect(q.stdout.trim()).toBe('n\n12');

    const rows = CONDITIONS_CSV.split('\n');
    rows[1] = 'HG00096,E119,ICD10CM,03/04/2010';
    const bad = makeReleaseFolder({ releaseId: 'cli-bad', conditionsText: rows.join('\n') });
    const res = await biobank(['release', 'add', bad.manifestPath, '--in-process'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('conditions.csv, line 2, field date');
    const after = await biobank(['release', 'list', '--format', 'json'], env);
    expect(JSON.parse(after.stdout).length).toBe(1);
  });

  it('back to back with a server up and no worker: the second add does not hang on the first worker', async () => {
    const env = {
      BIOBANK_DATA_DIR: tempDir('cli-b2b'),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      BIOBANK_TASK_QUEUE: `b2b-${randomBytes(4).toString('hex')}`,
      BIOBANK_DUCKDB_THREADS: '1',
    };
    const a = makeReleaseFolder({ releaseId: 'b2b-a' });
    const b = makeReleaseFolder({ releaseId: 'b2b-b' });
    const first = await biobank(['release', 'add', a.manifestPath], env);
    expect(first.code, first.stderr).toBe(0);
    // The first command's worker has stopped, but the server still lists it as a poller.
    const t0 = Date.now();
    const second = await biobank(['release', 'add', b.manifestPath], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/registered release b2b-b/);
    expect(second.stderr).toMatch(/starting an in-process worker .*no worker took its tasks/);
    expect(Date.now() - t0).toBeLessThan(60_000);

    // Ctrl-C of `study run` stops following, not the study: exit 130, and it says how to go on.
    const specPath = join(tempDir('cli-b2b-spec'), 'spec.json');
    writeFileSync(
      specPath,
      JSON.stringify({
        studyId: 'b2b-interrupt',
        kind: 'phenotype-first',
        release: 'b2b-a',
        phenotype: { type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' },
        covariates: ['age'],
      }),
    );
    const child = spawn('node', [bin, 'study', 'run', specPath], { env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const until = Date.now() + 30_000;
    while (!/started phenotypeFirstStudy/.test(stderr) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted: study \S+ goes on in Temporal/);
    expect(stderr).toMatch(/biobank study status \S+ --watch/);
    expect(stderr).toMatch(/temporal workflow cancel --workflow-id \S+/);
  });

  it('re-ingests a release whose completed ingest wrote into another data folder (same task queue)', async () => {
    const queue = `shared-${randomBytes(4).toString('hex')}`;
    const base = {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      BIOBANK_TASK_QUEUE: queue,
      BIOBANK_DUCKDB_THREADS: '1',
    };
    const one = { ...base, BIOBANK_DATA_DIR: tempDir('cli-shared-a') };
    const two = { ...base, BIOBANK_DATA_DIR: tempDir('cli-shared-b') };
    const { manifestPath } = makeReleaseFolder({ releaseId: 'shared-rel' });
    const first = await biobank(['release', 'add', manifestPath], one);
    expect(first.code, first.stderr).toBe(0);
    // The same release from another data folder: the workflow id is the same, and the completed
    // ingest's result names a release this folder's catalog lacks, so it is ingested again here.
    const second = await biobank(['release', 'add', manifestPath], two);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/not in .*; ingesting it again/);
    const list = await biobank(['release', 'list', '--format', 'json'], two);
    expect(JSON.parse(list.stdout).map((r: { release_id: string }) => r.release_id)).toEqual(['shared-rel']);
    // and a third add in that folder is a no-op attach again
    const third = await biobank(['release', 'add', manifestPath], two);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).not.toMatch(/ingesting it again/);
  });

  it('study run of a spec naming an unknown column: exit 2, the field named, nothing left running', async () => {
    const env = {
      BIOBANK_DATA_DIR: tempDir('cli-col'),
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      BIOBANK_TASK_QUEUE: `col-${randomBytes(4).toString('hex')}`,
      BIOBANK_DUCKDB_THREADS: '1',
    };
    const { manifestPath } = makeReleaseFolder({ releaseId: 'cli-col' });
    expect((await biobank(['release', 'add', manifestPath], env)).code).toBe(0);
    const specPath = join(tempDir('cli-col-spec'), 'spec.json');
    writeFileSync(
      specPath,
      JSON.stringify({
        studyId: 'unknown-column',
        kind: 'phenotype-first',
        release: 'cli-col',
        phenotype: { type: 'column', table: 'pheno', column: 'weight', trait: 'quantitative' },
        covariates: ['age'],
      }),
    );
    const res = await biobank(['study', 'run', specPath, '--local'], env);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/field phenotype\.column: unknown column "weight" in user table pheno/);
    const runs = await biobank(
      ['query', "SELECT status FROM runs WHERE study_id = 'unknown-column'", '--format', 'csv'],
      env,
    );
    expect(runs.stdout).not.toMatch(/running/);
  });

  it('a configured TEMPORAL_ADDRESS with no server: exit 3 at once, no local server started', async () => {
    const port = await freePort();
    const { manifestPath } = makeReleaseFolder({ releaseId: 'cli-noserver' });
    const t0 = Date.now();
    const res = await biobank(['release', 'add', manifestPath], {
      BIOBANK_DATA_DIR: tempDir('cli-noserver'),
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/no Temporal server at 127\.0\.0\.1:\d+ \(TEMPORAL_ADDRESS\)/);
    expect(res.stderr).not.toMatch(/starting a Temporal dev server/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});
