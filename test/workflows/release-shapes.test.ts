/**
 * Releases of other shapes than the synthetic one, through real ingest and study workflows on
 * the real Temporal server: every table the manifest marks optional is optional in every code
 * path, and a study that needs what a release lacks fails at once (non-retryable, one attempt,
 * before any GWAS shard), naming the field.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import { exportGwasSsf } from '../../export/gwas-ssf.js';
import { type StudySpec, studySpecSchema, workflowTypeFor } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestManifest, ldlSpec, lmnaSpec } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let synthDir: string;
let baseManifest: Record<string, unknown>;

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  const synth = await generateBiobank({
    size: 'custom',
    persons: 700,
    variants: 1500,
    seed: 5,
    releaseId: 'shape-base',
    out: join(engine.dataDir, 'synth'),
    ifExists: 'reuse',
  });
  synthDir = join(engine.dataDir, 'synth');
  baseManifest = JSON.parse(await readFile(synth.manifestPath, 'utf8'));
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

/** Write a manifest of another shape beside the synthetic files and ingest it. */
async function ingestShape(releaseId: string, edit: (m: Record<string, unknown>) => void): Promise<string> {
  const m = structuredClone(baseManifest);
  m.releaseId = releaseId;
  edit(m);
  const path = join(synthDir, `${releaseId}.json`);
  await writeFile(path, JSON.stringify(m, null, 2));
  return (await ingestManifest(engine.client, engine.taskQueue, path)).releaseId;
}

/** Start a study of either kind on the test queue. */
async function start(spec: StudySpec) {
  const workflowId = await runIdOf(engine.config, spec);
  const { handle } = await startOrAttach(engine.client, workflowTypeFor(spec), {
    workflowId,
    taskQueue: engine.taskQueue,
    args: [spec],
  });
  return handle;
}

async function run(spec: StudySpec): Promise<StudyResult> {
  return (await (await start(spec)).result()) as StudyResult;
}

/** Run a study that must fail at once; returns the failure's message and the activities that ran. */
async function refused(spec: StudySpec): Promise<{ message: string; activities: string[]; seconds: number }> {
  const t0 = Date.now();
  const handle = await start(spec);
  const err = await handle.result().catch((e) => e);
  const seconds = (Date.now() - t0) / 1000;
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const messages: string[] = [];
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) messages.push((e as Error).message);
  const history = await handle.fetchHistory();
  const activities = (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? '');
  const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
  expect(attempts.every((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) === 1)).toBe(true);
  return { message: messages.join(' | '), activities, seconds };
}

/** PheWAS rows of a run with a p-value (phecodes that were tested). */
async function phewasRows(runId: string): Promise<number> {
  return withEngineDb(
    engine.config,
    async (conn) =>
      Number(
        (
          await conn.runAndReadAll(
            'SELECT count(*) FROM phewas_results WHERE run_id = $1 AND p IS NOT NULL',
            [runId],
          )
        ).getRows()[0][0],
      ),
    { readOnly: true },
  );
}

describe('release shapes', () => {
  it('no measurements table: a column-trait study completes; a measurement phenotype is refused at once', async () => {
    const releaseId = await ingestShape('shape-no-labs', (m) => {
      delete m.measurements;
    });
    const result = await run(ldlSpec(releaseId, { studyId: 'shape-no-labs' }));
    expect(result.gwas!.nTested).toBeGreaterThan(100);
    expect(result.gwas!.leadLoci.length).toBeGreaterThan(0);
    // The synthetic VCF header names GRCh38: the GWAS-SSF export takes it from the release.
    const out = join(engine.dataDir, 'ssf-no-labs');
    await exportGwasSsf(engine.config, { runId: result.runId, out });
    const meta = await readFile(join(out, `${result.runId}_LDL.tsv-meta.yaml`), 'utf8').catch(async () => {
      const { readdir } = await import('node:fs/promises');
      const yaml = (await readdir(out)).find((f) => f.endsWith('.yaml')) as string;
      return readFile(join(out, yaml), 'utf8');
    });
    expect(meta).toMatch(/genome_assembly: GRCh38/);

    const r = await refused(
      ldlSpec(releaseId, { studyId: 'shape-no-labs-meas', phenotype: { type: 'measurement', name: 'LDL' } }),
    );
    expect(r.message).toMatch(/field phenotype\.name: release 'shape-no-labs' has no measurements table/);
    expect(r.activities).toEqual(['prepareRun']);
    expect(r.seconds).toBeLessThan(30);

    const chrom = await refused(
      ldlSpec(releaseId, { studyId: 'shape-no-labs-chrom', gwas: { chromosomes: ['chrZZ'] } }),
    );
    expect(chrom.message).toMatch(
      /field gwas\.chromosomes\.0: chromosome "chrZZ" is not in release 'shape-no-labs' \(it has: /,
    );
    expect(chrom.activities).toEqual(['prepareRun']);
  });

  it('no extra tables: a genotype-first study without user traits completes; a missing table is named', async () => {
    const releaseId = await ingestShape('shape-no-tables', (m) => {
      m.tables = [];
    });
    const spec = lmnaSpec(releaseId);
    const result = await run(studySpecSchema.parse({ ...spec, studyId: 'shape-no-tables', traits: [] }));
    expect(await phewasRows(result.runId)).toBeGreaterThan(0);

    const r = await refused(ldlSpec(releaseId, { studyId: 'shape-no-tables-col' }));
    expect(r.message).toMatch(
      /field phenotype\.column: unknown user table "pheno" \(the release has: none\)/,
    );
    expect(r.activities).toEqual(['prepareRun']);
  });

  it('an empty conditions table: studies complete, with no phecode to test', async () => {
    const empty = join(synthDir, 'empty');
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, 'conditions.csv'), 'person_id,code,vocabulary,date\n');
    const releaseId = await ingestShape('shape-empty-conditions', (m) => {
      m.conditions = { path: 'empty/conditions.csv', format: 'csv', idColumn: 'person_id' };
    });
    const result = await run(ldlSpec(releaseId, { studyId: 'shape-empty-conditions' }));
    expect(result.gwas!.nTested).toBeGreaterThan(100);
    expect(await phewasRows(result.runId)).toBe(0);
  });

  it('no conditions table (genotype-only): a PheWAS is refused at once; a GWAS alone completes', async () => {
    const releaseId = await ingestShape('shape-genotype-only', (m) => {
      delete m.conditions;
    });
    const r = await refused(ldlSpec(releaseId, { studyId: 'shape-genotype-only' }));
    expect(r.message).toMatch(
      /release 'shape-genotype-only' has no conditions table \(a genotype-only release\)/,
    );
    expect(r.activities).toEqual(['prepareRun']);
    expect(r.seconds).toBeLessThan(30);

    const g = await refused(
      studySpecSchema.parse({ ...lmnaSpec(releaseId), studyId: 'shape-genotype-only-g' }),
    );
    expect(g.message).toMatch(/has no conditions table/);

    const spec = ldlSpec(releaseId, { studyId: 'shape-genotype-only-gwas' });
    const gwasOnly = studySpecSchema.parse({
      ...spec,
      phewas: { ...spec.phewas, leadLoci: { ...spec.phewas.leadLoci, max: 0 } },
    });
    const result = await run(gwasOnly);
    expect(result.gwas!.nTested).toBeGreaterThan(100);
    expect(result.phewas ?? []).toHaveLength(0);
  });
});
