/**
 * The study workflows through a real Temporal server, a real worker, DuckDB and Parquet, on a
 * small synthetic release: both study kinds complete and write their results; a re-run on the
 * same release writes nothing new; a new release is a new run; a bad spec fails at once naming
 * the field; cancelling a running study removes its partial results.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import { geneResults, variantsInGene } from '../../report/data.js';
import type { StudyProgress, StudyResult } from '../../schemas/study-io.js';
import { search } from '../../viewer/server.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { maybeRecordHistory } from '../helpers/history.js';
import { ingestSyntheticRelease, ldlSpec, lmnaSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir);
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function count(sql: string, params: string[] = []): Promise<number> {
  return withEngineDb(
    engine.config,
    async (conn) => Number((await conn.runAndReadAll(sql, params)).getRows()[0][0]),
    { readOnly: true },
  );
}

async function rows<T>(sql: string, params: string[] = []): Promise<T[]> {
  return withEngineDb(
    engine.config,
    async (conn) => (await conn.runAndReadAll(sql, params)).getRowObjectsJS() as T[],
    { readOnly: true },
  );
}

describe('phenotypeFirstStudy', () => {
  let first: StudyResult;

  it('runs cohort → GWAS shards → lead loci → PheWAS and records every table', async () => {
    const spec = ldlSpec(release.releaseId);
    const workflowId = await runIdOf(engine.config, spec);
    const { handle } = await startOrAttach(engine.client, 'phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    first = (await handle.result()) as StudyResult;
    expect(first.runId).toBe(workflowId);
    expect(first.reused).toBe(false);
    expect(first.gwas!.nTested).toBeGreaterThan(500);
    expect(first.gwas!.leadLoci.length).toBeGreaterThan(0);
    expect(first.phewas).toHaveLength(first.gwas!.leadLoci.length);
    const progress = (await handle.query('progress')) as StudyProgress;
    expect(progress).toMatchObject({ phase: 'completed', runId: workflowId });
    expect(progress.shardsDone).toBe(progress.shardsTotal);

    expect(await count('SELECT count(*) FROM gwas_results WHERE run_id = $1', [first.runId])).toBe(
      first.gwas!.nTested,
    );
    expect(await count('SELECT count(*) FROM lead_loci WHERE run_id = $1', [first.runId])).toBe(
      first.gwas!.leadLoci.length,
    );
    expect(
      await count('SELECT count(DISTINCT predictor) FROM phewas_results WHERE run_id = $1', [first.runId]),
    ).toBe(first.phewas.length);
    expect(
      await count(`SELECT count(*) FROM runs WHERE run_id = $1 AND status = 'completed'`, [first.runId]),
    ).toBe(1);
    expect(await count('SELECT sum(n_removed) FROM qc_summary WHERE run_id = $1', [first.runId])).toBe(
      first.gwas!.qc.nInput - first.gwas!.qc.nTested,
    );
    expect(existsSync(first.reportPath!)).toBe(true);
  });

  it('a second execution for the same release and spec writes nothing new', async () => {
    const spec = ldlSpec(release.releaseId);
    const rowsBefore = await count('SELECT count(*) FROM gwas_results WHERE run_id = $1', [first.runId]);
    const finishedBefore = await withEngineDb(
      engine.config,
      async (conn) =>
        String(
          (
            await conn.runAndReadAll('SELECT finished_at FROM runs WHERE run_id = $1', [first.runId])
          ).getRows()[0][0],
        ),
      { readOnly: true },
    );
    // A new execution under the same id (the first one has closed): it finds the completed run.
    const again = (await engine.client.workflow.execute('phenotypeFirstStudy', {
      workflowId: first.runId,
      taskQueue: engine.taskQueue,
      args: [spec],
    })) as StudyResult;
    expect(again.reused).toBe(true);
    expect(again.runId).toBe(first.runId);
    expect(again.gwas?.leadLoci).toEqual(first.gwas?.leadLoci);
    expect(await count('SELECT count(*) FROM gwas_results WHERE run_id = $1', [first.runId])).toBe(
      rowsBefore,
    );
    expect(await count('SELECT count(*) FROM runs WHERE study_id = $1', ['test-ldl'])).toBe(1);
    const finishedAfter = await withEngineDb(
      engine.config,
      async (conn) =>
        String(
          (
            await conn.runAndReadAll('SELECT finished_at FROM runs WHERE run_id = $1', [first.runId])
          ).getRows()[0][0],
        ),
      { readOnly: true },
    );
    expect(finishedAfter).toBe(finishedBefore);
  });

  it('starts from the temporal CLI with a JSON input file, and its results can be queried', async () => {
    const spec = ldlSpec(release.releaseId, { studyId: 'cli-ldl' });
    const file = join(engine.dataDir, 'cli-ldl.json');
    await writeFile(file, JSON.stringify(spec, null, 2));
    await promisify(execFile)(inject('temporalCli'), [
      'workflow',
      'start',
      '--address',
      engine.config.temporal.address,
      '--task-queue',
      engine.taskQueue,
      '--type',
      'phenotypeFirstStudy',
      '--workflow-id',
      'cli-ldl-1',
      '--input-file',
      file,
    ]);
    const result = (await engine.client.workflow.getHandle('cli-ldl-1').result()) as StudyResult;
    expect(result.gwas!.nTested).toBeGreaterThan(500);
    expect(await count('SELECT count(*) FROM gwas_results WHERE run_id = $1', [result.runId])).toBe(
      result.gwas!.nTested,
    );
    expect(await count('SELECT count(*) FROM lead_loci WHERE run_id = $1', [result.runId])).toBe(
      result.gwas!.leadLoci.length,
    );
  });

  it('rejects a bad spec before any work, naming the field, without retries', async () => {
    const bad = { ...ldlSpec(release.releaseId), studyId: 'bad-spec', gwas: { minMaf: 3 }, surprise: true };
    const err = await engine.client.workflow
      .execute('phenotypeFirstStudy', { workflowId: 'bad-spec', taskQueue: engine.taskQueue, args: [bad] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as {
      type?: string;
      message: string;
      nonRetryable?: boolean;
    };
    expect(cause.type).toBe('ValidationError');
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain('gwas.minMaf');
    expect(cause.message).toContain('surprise: unknown field');
    const history = await engine.client.workflow.getHandle('bad-spec').fetchHistory();
    expect(history.events?.some((e) => e.activityTaskScheduledEventAttributes)).toBe(false);
  });

  it('tests extra quantitative traits in the same genotype pass and records each', async () => {
    const spec = ldlSpec(release.releaseId, {
      studyId: 'multi-trait',
      extraTraits: [{ type: 'measurement', name: 'HbA1c' }],
    });
    const workflowId = await runIdOf(engine.config, spec);
    const result = (await engine.client.workflow.execute('phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    })) as StudyResult;
    expect(result.gwas!.traits!.map((t) => t.phenotype)).toEqual(['pheno.LDL', 'HbA1c']);
    const perPhenotype = await rows<{ phenotype: string; n: bigint }>(
      'SELECT phenotype, count(*) AS n FROM gwas_results WHERE run_id = $1 GROUP BY 1 ORDER BY 1',
      [workflowId],
    );
    expect(perPhenotype.map((r) => r.phenotype)).toEqual(['HbA1c', 'pheno.LDL']);
    expect(perPhenotype[0].n).toBe(perPhenotype[1].n);
    expect(await count('SELECT count(*) FROM gwas_phenotypes WHERE run_id = $1', [workflowId])).toBe(2);
    // Lead loci and the PheWAS follow the main phenotype (LDL's planted loci).
    expect(result.gwas!.leadLoci.length).toBeGreaterThan(0);

    // A binary extra trait is refused before any genotype is read, naming the field.
    const bad = ldlSpec(release.releaseId, {
      studyId: 'multi-trait-bad',
      extraTraits: [{ type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' }],
    });
    const err = await engine.client.workflow
      .execute('phenotypeFirstStudy', {
        workflowId: await runIdOf(engine.config, bad),
        taskQueue: engine.taskQueue,
        args: [bad],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as Error & { cause?: { cause?: Error } }).cause?.cause?.message)).toContain(
      'extra traits must be quantitative',
    );
  });

  it('cancelling a running study stops it and removes its partial results', async () => {
    const spec = ldlSpec(release.releaseId, {
      studyId: 'test-cancel',
      gwas: { shardVariants: 100, maxParallelShards: 1 },
    });
    const workflowId = await runIdOf(engine.config, spec);
    const handle = await engine.client.workflow.start('phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    for (;;) {
      const p = (await handle.query('progress').catch(() => null)) as StudyProgress | null;
      if (p && p.phase === 'gwas' && p.shardsDone >= 2) break;
      if (p && (p.phase === 'completed' || p.phase === 'failed'))
        throw new Error(`study ended first: ${p.phase}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(existsSync(join(engine.dataDir, 'runs', workflowId))).toBe(false);
    expect(await count('SELECT count(*) FROM gwas_results WHERE run_id = $1', [workflowId])).toBe(0);
    // The run is on record as cancelled, with no result rows.
    expect(
      await count(`SELECT count(*) FROM runs WHERE run_id = $1 AND status = 'cancelled'`, [workflowId]),
    ).toBe(1);
    expect(await count('SELECT count(*) FROM phewas_results WHERE run_id = $1', [workflowId])).toBe(0);
  });
});

describe('ingestRelease', () => {
  it('answers the progress query with its phase and shards', async () => {
    const handle = engine.client.workflow.getHandle(
      `ingest-${release.releaseId}-${release.fingerprint.slice(0, 12)}`,
    );
    const p = (await handle.query('progress')) as StudyProgress;
    expect(p.phase).toBe('completed');
    expect(p.shardsTotal).toBeGreaterThan(0);
    expect(p.shardsDone).toBe(p.shardsTotal);
  });
});

describe('genotypeFirstStudy', () => {
  it('builds masks and burden scores, tests the traits and runs the burden PheWAS', async () => {
    const spec = lmnaSpec(release.releaseId);
    const workflowId = await runIdOf(engine.config, spec);
    const handle = await engine.client.workflow.start('genotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    });
    const result = (await handle.result()) as StudyResult;
    await maybeRecordHistory(handle, 'genotypeFirstStudy-v1');
    expect(result.burden!.masks[0]).toMatchObject({ gene: 'LMNA', mask: 'pLoF', aafBin: '0.01' });
    expect(result.burden!.masks[0].nVariants).toBeGreaterThan(0);
    expect(result.burden!.masks[0].nCarriers).toBeGreaterThan(0);
    expect(result.phewas).toHaveLength(1);
    expect(await count('SELECT count(*) FROM burden_results WHERE run_id = $1', [workflowId])).toBe(1);
    expect(
      await count('SELECT count(*) FROM phewas_results WHERE run_id = $1', [workflowId]),
    ).toBeGreaterThan(10);
  });

  it('records its phecode maps (sha256 per file) and per-phase timings, and the viewer finds its gene', async () => {
    const spec = lmnaSpec(release.releaseId);
    const workflowId = await runIdOf(engine.config, spec);
    const [run] = await rows<{ phecode_maps_json: string; timings_json: string | null }>(
      'SELECT CAST(phecode_maps_json AS VARCHAR) AS phecode_maps_json, CAST(timings_json AS VARCHAR) AS timings_json FROM runs WHERE run_id = $1',
      [workflowId],
    );
    const maps = JSON.parse(run.phecode_maps_json) as Record<
      string,
      { folder: string; sha256: string; files: { name: string; sha256: string }[] }
    >;
    expect(Object.keys(maps)).toEqual(['X']);
    expect(maps.X.folder).toBe(spec.phewas.maps);
    expect(maps.X.files.map((f) => f.name)).toContain('phecodeX_R_map.csv');
    const { createHash } = await import('node:crypto');
    const { readFile } = await import('node:fs/promises');
    const mapFile = join(spec.phewas.maps as string, 'phecodeX_R_map.csv');
    expect(maps.X.files.find((f) => f.name === 'phecodeX_R_map.csv')?.sha256).toBe(
      createHash('sha256')
        .update(await readFile(mapFile))
        .digest('hex'),
    );
    const timings = JSON.parse(run.timings_json as string) as {
      phases: Record<string, { ms: number; n: number }>;
      wallMs: number;
    };
    for (const phase of ['materializeAnalysis', 'buildBurden', 'buildRunPhenome'])
      expect(timings.phases[phase]?.n, phase).toBeGreaterThanOrEqual(1);
    expect(timings.wallMs).toBeGreaterThan(0);

    const hits = await search(engine.config, 'LMNA');
    expect(hits).toEqual([expect.objectContaining({ type: 'gene', id: 'LMNA' })]);
    const gene = await geneResults(engine.config, 'LMNA');
    expect(gene.phewas.filter((p) => p.run_id === workflowId).length).toBeGreaterThan(10);
    expect((await variantsInGene(engine.config, 'LMNA')).length).toBeGreaterThan(0);
  });
});

describe('a new release', () => {
  it('is a new run of the same study, next to the old one', async () => {
    const second = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
      seed: 4,
      releaseId: 'test-release-2',
    });
    const spec = ldlSpec(second.releaseId);
    const workflowId = await runIdOf(engine.config, spec);
    const result = (await engine.client.workflow.execute('phenotypeFirstStudy', {
      workflowId,
      taskQueue: engine.taskQueue,
      args: [spec],
    })) as StudyResult;
    expect(result.reused).toBe(false);
    expect(result.releaseFingerprint).toBe(second.fingerprint);
    expect(await count('SELECT count(DISTINCT run_id) FROM runs WHERE study_id = $1', ['test-ldl'])).toBe(2);
  });
});
