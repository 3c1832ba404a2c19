/** Helpers for the ingest tests: a release folder around the hand-written fixture VCF. */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIngestActivities } from '../../activities/ingest.js';
import type { EngineConfig } from '../../temporal.config.js';
import { loadConfig } from '../../temporal.config.js';
import { type IngestReleaseInput, runIngestSteps } from '../../workflows/ingest-release.js';

export const FIXTURE_VCF = join(import.meta.dirname, '..', 'fixtures', 'vcf', 'small.vcf');
export const FIXTURE_SAMPLES = ['HG00096', 'HG00097', 'HG00099', 'HG00100', 'NA12878', 'NA12891', 'NA12892'];

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `biobank-${prefix}-`));
}

export function testConfig(dataDir: string): EngineConfig {
  return loadConfig({ BIOBANK_DATA_DIR: dataDir, BIOBANK_DUCKDB_THREADS: '1', BIOBANK_DUCKDB_MEMORY: '1GB' });
}

export interface ReleaseFolderOptions {
  releaseId?: string;
  vcfText?: string;
  /** bgzip (and tabix) the VCF. */
  bgzip?: boolean;
  personsText?: string;
  conditionsText?: string;
  manifestPatch?: Record<string, unknown>;
}

export const PERSONS_TSV = [
  'person_id\tsex\tbirth_year\tancestry',
  'HG00096\tM\t1950\tEUR',
  'HG00097\tF\t1961\tEUR',
  'HG00099\tF\t1972\tEUR',
  'HG00100\tF\t1980\tEUR',
  'NA12878\tF\t1975\tEUR',
  'NA12891\tM\t1940\tEUR',
  'NA12892\tF\t1942\tEUR',
  'P0008\tU\t1990\tNA',
].join('\n');

export const CONDITIONS_CSV = [
  'person_id,code,vocabulary,date',
  'HG00096,E119,ICD10CM,2010-03-04',
  'HG00096,250.00,ICD9CM,1999-12-31',
  'HG00097,i10,ICD10CM,2015-01-02',
  'NA12878,25000,ICD9CM,2001-06-07',
  'NA12891,V700,ICD9CM,1990-01-01',
  'NA12892,E8490,ICD9CM,1985-05-05',
  'HG00100,XYZ123,ICD10CM,2020-02-02',
].join('\n');

export const LABS_CSV = [
  'person_id,name,loinc,value,unit,date',
  'HG00096,LDL,13457-7,131.5,mg/dL,2012-01-01',
  'HG00097,HbA1c,4548-4,6.1,%,2013-02-02',
].join('\n');

export const PHENO_TXT = [
  'FID IID height bmi',
  '0 HG00096 180.5 -9',
  '0 HG00097 165 22.1',
  '0 NA12878 NA 25',
].join('\n');

/** A release folder with the fixture VCF (or `vcfText`), EHR tables and a manifest. */
export function makeReleaseFolder(options: ReleaseFolderOptions = {}): {
  dir: string;
  manifestPath: string;
  vcf: string;
} {
  const dir = tempDir('release');
  let vcf = join(dir, 'calls.vcf');
  if (options.vcfText !== undefined) writeFileSync(vcf, options.vcfText);
  else copyFileSync(FIXTURE_VCF, vcf);
  if (options.bgzip) {
    execFileSync('bgzip', ['-f', vcf]);
    vcf = `${vcf}.gz`;
    execFileSync('tabix', ['-p', 'vcf', vcf]);
  }
  writeFileSync(join(dir, 'persons.tsv'), options.personsText ?? PERSONS_TSV);
  writeFileSync(join(dir, 'conditions.csv'), options.conditionsText ?? CONDITIONS_CSV);
  writeFileSync(join(dir, 'labs.csv'), LABS_CSV);
  writeFileSync(join(dir, 'pheno.txt'), PHENO_TXT);
  const manifest = {
    releaseId: options.releaseId ?? 'fixture-1',
    genotypes: [vcf.slice(dir.length + 1)],
    persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
    conditions: { path: 'conditions.csv', format: 'csv', idColumn: 'person_id' },
    measurements: { path: 'labs.csv', format: 'csv', idColumn: 'person_id' },
    tables: [
      { name: 'pheno', path: 'pheno.txt', format: 'whitespace', idColumn: 'IID', missing: ['NA', '-9'] },
    ],
    ...options.manifestPatch,
  };
  const manifestPath = join(dir, 'release.json');
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
  return { dir, manifestPath, vcf };
}

/** Run the ingest protocol in-process (same steps as the workflow, activities called directly). */
export function ingestInProcess(config: EngineConfig, input: IngestReleaseInput) {
  return runIngestSteps(createIngestActivities(config), input);
}

/** Run a shell pipeline and return stdout. */
export function sh(cmd: string): string {
  return execFileSync('bash', ['-o', 'pipefail', '-c', cmd], { encoding: 'utf8', maxBuffer: 256 << 20 });
}

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/**
 * The fixture VCF's chromosome-1 records repeated `reps` times at shifted positions: a file
 * large enough to split into several shards (and BGZF blocks). Returns its lines.
 */
export function repeatedVcfLines(reps = 300): string[] {
  const lines = readText(FIXTURE_VCF).trimEnd().split('\n');
  const out = lines.filter((l) => l.startsWith('#'));
  const body = lines.filter((l) => !l.startsWith('#') && l.startsWith('1\t'));
  for (let rep = 0; rep < reps; rep++)
    for (const l of body) {
      const f = l.split('\t');
      f[1] = String(Number(f[1]) + rep * 1_000_000);
      out.push(f.join('\t'));
    }
  return out;
}
