/**
 * A small synthetic release, generated and ingested once per test file, plus study specs for
 * it — for the study workflow and fault tests.
 */
import { join, resolve } from 'node:path';
import type { Client } from '@temporalio/client';
import { loadManifest, releaseFingerprint } from '../../engine/release.js';
import { type StudySpec, studySpecSchema } from '../../schemas/study.js';
import { generateBiobank } from '../../synth/index.js';
import type { IngestReleaseResult } from '../../workflows/ingest-release.js';

const MAPS = resolve(__dirname, '../../data/demo-phecode-map');

export interface StudyFixture {
  manifestPath: string;
  releaseId: string;
  fingerprint: string;
}

/** Generate a small synthetic biobank under `dir` and ingest it through `ingestRelease`. */
export async function ingestSyntheticRelease(
  client: Client,
  taskQueue: string,
  dir: string,
  opts: { persons?: number; variants?: number; seed?: number; releaseId?: string } = {},
): Promise<StudyFixture> {
  const synth = await generateBiobank({
    size: 'custom',
    persons: opts.persons ?? 800,
    variants: opts.variants ?? 3000,
    seed: opts.seed ?? 3,
    releaseId: opts.releaseId ?? 'test-release',
    out: join(dir, `synth-${opts.seed ?? 3}`),
    ifExists: 'reuse',
  });
  return ingestManifest(client, taskQueue, synth.manifestPath);
}

/** Ingest a release manifest through `ingestRelease`, with the content-derived workflow id. */
export async function ingestManifest(
  client: Client,
  taskQueue: string,
  manifestPath: string,
): Promise<StudyFixture> {
  const loaded = await loadManifest(manifestPath);
  const fingerprint = await releaseFingerprint(loaded);
  const result = (await client.workflow.execute('ingestRelease', {
    workflowId: `ingest-${loaded.manifest.releaseId}-${fingerprint.slice(0, 12)}`,
    taskQueue,
    args: [{ manifestPath }],
  })) as IngestReleaseResult;
  return { manifestPath, releaseId: result.releaseId, fingerprint: result.fingerprint };
}

export function ldlSpec(releaseId: string, overrides: Record<string, unknown> = {}): StudySpec {
  return studySpecSchema.parse({
    studyId: 'test-ldl',
    kind: 'phenotype-first',
    release: releaseId,
    phenotype: { type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' },
    covariates: ['age', 'sex', 'PC1', 'PC2'],
    gwas: { shardVariants: 300, maxParallelShards: 2 },
    phewas: { phecodeVersion: '1.2', maps: join(MAPS, 'v1.2'), minCases: 10, leadLoci: { p: 1e-6, max: 3 } },
    ...overrides,
  });
}

export function lmnaSpec(releaseId: string): StudySpec {
  return studySpecSchema.parse({
    studyId: 'test-lmna',
    kind: 'genotype-first',
    release: releaseId,
    genes: ['LMNA'],
    masks: [
      {
        name: 'pLoF',
        consequences: [
          'stop_gained',
          'frameshift_variant',
          'splice_acceptor_variant',
          'splice_donor_variant',
          'start_lost',
        ],
        aafBins: [0.01],
      },
    ],
    covariates: ['age', 'sex'],
    traits: [{ type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' }],
    phewas: { phecodeVersion: 'X', maps: join(MAPS, 'X'), minCases: 10 },
  });
}
