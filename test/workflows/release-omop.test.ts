/**
 * An OMOP CDM release through the real ingest and study workflows: the synthetic biobank's EHR
 * converted to CDM tables (integer person ids, source concepts, LOINC and UCUM concepts), its
 * VCF samples linked to persons by `person_source_value`. A burden PheWAS on it gives the same
 * rows as on the flat-table release of the same events; a sample without a person is refused,
 * naming it, and nothing is registered.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { findRelease } from '../../engine/release.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import { type StudySpec, studySpecSchema, workflowTypeFor } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { toCdm } from '../helpers/omop-cdm.js';
import { ingestManifest, lmnaSpec } from '../helpers/study-fixture.js';

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
    releaseId: 'omop-flat',
    out: join(engine.dataDir, 'synth'),
    ifExists: 'reuse',
  });
  synthDir = join(engine.dataDir, 'synth');
  baseManifest = JSON.parse(await readFile(synth.manifestPath, 'utf8'));
  await mkdir(join(synthDir, 'omop'), { recursive: true });
  await withCompute(engine.config, (conn) => toCdm(conn, synthDir));
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function ingest(releaseId: string, edit: (m: Record<string, unknown>) => void): Promise<string> {
  const m = structuredClone(baseManifest);
  m.releaseId = releaseId;
  edit(m);
  const path = join(synthDir, `${releaseId}.json`);
  await writeFile(path, JSON.stringify(m, null, 2));
  return (await ingestManifest(engine.client, engine.taskQueue, path)).releaseId;
}

const omop = (m: Record<string, unknown>) => {
  delete m.persons;
  delete m.conditions;
  delete m.measurements;
  m.tables = [];
  m.ehr = { format: 'omop', path: 'omop', sampleId: 'person_source_value' };
};

/** The LMNA burden PheWAS without the user-table trait (its ids are sample ids, not OMOP ids). */
function burdenSpec(releaseId: string): StudySpec {
  const { traits: _traits, ...rest } = lmnaSpec(releaseId) as StudySpec & { traits?: unknown };
  return studySpecSchema.parse({ ...rest, studyId: `omop-${releaseId}` });
}

async function phewasRows(releaseId: string) {
  const spec = burdenSpec(releaseId);
  const { handle } = await startOrAttach(engine.client, workflowTypeFor(spec), {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  });
  const result = (await handle.result()) as StudyResult;
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT phecode, n_cases, n_controls, beta, se, p, test, status FROM phewas_results
           WHERE run_id = $1 ORDER BY phecode`,
          [result.runId],
        )
      ).getRowObjectsJson(),
    { readOnly: true },
  );
}

describe('an OMOP CDM release', () => {
  it('links samples by person_source_value; its burden PheWAS equals the flat-table release', async () => {
    await ingest('omop-flat', (m) => {
      m.tables = [];
    });
    await ingest('omop-cdm', omop);
    const release = await findRelease(engine.config, 'omop-cdm');
    const samples = await withCompute(engine.config, async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT sample_id, person_id FROM read_parquet('${join(release!.data_path, 'samples.parquet')}') ORDER BY sample_idx LIMIT 3`,
        )
      ).getRows(),
    );
    // P0000001 is OMOP person 1.
    for (const [sample, person] of samples)
      expect(String(sample)).toBe(`P${String(person).padStart(7, '0')}`);
    const flat = await phewasRows('omop-flat');
    const cdm = await phewasRows('omop-cdm');
    expect(flat.filter((r) => r.p !== null).length).toBeGreaterThan(20);
    expect(cdm).toEqual(flat);
  }, 600_000);

  it('a genotype sample with no person is refused, naming it, and nothing is registered', async () => {
    const person = join(synthDir, 'omop', 'person.csv');
    const text = await readFile(person, 'utf8');
    const lines = text.trimEnd().split('\n');
    const dropped = lines.pop() as string;
    await writeFile(person, `${lines.join('\n')}\n`);
    try {
      const err = await ingest('omop-unlinked', omop).catch((e) => e);
      const messages: string[] = [];
      for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) messages.push((e as Error).message);
      const sample = dropped.split(',').at(-1);
      expect(messages.join(' | ')).toContain(`sample ${sample} has no person in the OMOP folder`);
      expect(await findRelease(engine.config, 'omop-unlinked')).toBeNull();
    } finally {
      await writeFile(person, text);
      await rm(join(synthDir, 'omop-unlinked.json'), { force: true });
    }
  }, 300_000);
});
