/**
 * #18 §3 through the real ingest and study workflows on the real Temporal server: one `abc` in
 * a numeric user column is named at ingest (file, line, column; one attempt; nothing
 * registered), with --quarantine its row is rejected and the column stays numeric, so a study
 * using it as a covariate gets results; and a GWAS in which no variant produced a result fails
 * at once (non-retryable) with the QC and status counts instead of "completing" empty.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { listReleases, loadManifest, releaseFingerprint } from '../../engine/release.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import type { StudySpec } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import type { IngestReleaseResult } from '../../workflows/ingest-release.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ldlSpec } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let manifestPath: string;
let badLine: number;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  const synth = await generateBiobank({
    size: 'custom',
    persons: 600,
    variants: 1000,
    seed: 11,
    releaseId: 'bad-values',
    out: join(engine.dataDir, 'synth'),
    ifExists: 'reuse',
  });
  // One BMI value replaced by a word: the 100th data row (line 101 of the file).
  const dir = join(engine.dataDir, 'synth');
  const lines = (await readFile(join(dir, 'pheno.txt'), 'utf8')).trimEnd().split('\n');
  badLine = 101;
  const f = lines[badLine - 1].split(' ');
  f[4] = 'abc';
  lines[badLine - 1] = f.join(' ');
  await writeFile(join(dir, 'pheno-abc.txt'), `${lines.join('\n')}\n`);
  const m = JSON.parse(await readFile(synth.manifestPath, 'utf8'));
  m.tables = m.tables.map((t: { name: string }) =>
    t.name === 'pheno' ? { ...t, path: 'pheno-abc.txt' } : t,
  );
  manifestPath = join(dir, 'release-abc.json');
  await writeFile(manifestPath, JSON.stringify(m, null, 2));
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function ingest(quarantine: boolean) {
  const loaded = await loadManifest(manifestPath);
  const fingerprint = await releaseFingerprint(loaded);
  const handle = await engine.client.workflow.start('ingestRelease', {
    workflowId: `ingest-abc-${quarantine}-${fingerprint.slice(0, 12)}`,
    taskQueue: engine.taskQueue,
    args: [{ manifestPath, quarantine }],
  });
  return handle;
}

function causes(err: unknown): string {
  const out: string[] = [];
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) out.push((e as Error).message);
  return out.join(' | ');
}

async function attempts(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }) {
  const history = await handle.fetchHistory();
  return (history.events ?? [])
    .map(
      (e) =>
        (e as { activityTaskStartedEventAttributes?: { attempt?: number } })
          .activityTaskStartedEventAttributes,
    )
    .filter((a) => a !== undefined && a !== null)
    .map((a) => a?.attempt ?? 1);
}

describe('bad values in user columns and GWAS without results', () => {
  let releaseId = '';

  it('ingest without --quarantine fails at once naming file, line, column and the count', async () => {
    const handle = await ingest(false);
    const err = await handle.result().catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const text = causes(err);
    expect(text).toContain(`pheno-abc.txt, line ${badLine}, field BMI: "abc" is not a number in column BMI`);
    expect(text).toMatch(/1 of [\d,]+ present values \([\d.]+ %\) are not numbers/);
    expect((await attempts(handle)).every((a) => a === 1)).toBe(true);
    expect(await listReleases(engine.config)).toEqual([]);
  }, 300_000);

  it('with --quarantine the row is rejected and BMI stays numeric: a study using it gets results', async () => {
    const handle = await ingest(true);
    const res = (await handle.result()) as IngestReleaseResult;
    expect(res.nRejects).toBe(1);
    expect(res.notes).toHaveLength(1);
    expect(res.notes?.[0]).toMatch(
      new RegExp(
        `^tables/pheno column BMI is numeric; 1 of [\\d,]+ present values .* rows were rejected \\(first "abc", pheno-abc.txt line ${badLine}\\)$`,
      ),
    );
    releaseId = res.releaseId;
    const rejects = await withEngineDb(engine.config, async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT line, field, reason FROM read_parquet('${res.dataPath}/rejects.parquet')`,
        )
      ).getRowsJson(),
    );
    expect(rejects).toEqual([[String(badLine), 'BMI', '"abc" is not a number in numeric column BMI']]);

    const spec = ldlSpec(releaseId, { studyId: 'abc-bmi', covariates: ['age', 'sex', 'pheno.BMI'] });
    const { handle: study } = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId: await runIdOf(engine.config, spec),
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    const result = (await study.result()) as StudyResult;
    const counts = result.gwas?.statusCounts ?? {};
    expect(counts.ok).toBeGreaterThan(100);
    expect(counts.collinear ?? 0).toBe(0);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(result.gwas?.nTested);
  }, 300_000);

  it('a GWAS in which every variant is removed by QC fails non-retryably with the counts', async () => {
    expect(releaseId).not.toBe('');
    const spec: StudySpec = ldlSpec(releaseId, {
      studyId: 'abc-none',
      covariates: ['age', 'sex'],
      gwas: { shardVariants: 300, maxParallelShards: 2, minMac: 1_000_000 },
    });
    const workflowId = await runIdOf(engine.config, spec);
    const { handle } = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    const err = await handle.result().catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(causes(err)).toMatch(
      /no variant produced a GWAS result: [\d,]+ variants in the shards, QC removed [^;]*\b[\d,]+ by MAC; 0 tested, by status: none/,
    );
    expect((await attempts(handle)).every((a) => a === 1)).toBe(true);
    const status = await withEngineDb(engine.config, async (conn) =>
      (await conn.runAndReadAll('SELECT status FROM runs WHERE run_id = $1', [workflowId])).getRowsJson(),
    );
    expect(status).toEqual([['failed']]);
  }, 300_000);
});
