/**
 * `biobank meta check spec.json` as a user runs it (a new process, no server): a good spec
 * lists each input and exits 0; a ragged line in one input exits 2 with an error naming the
 * file and the line, and nothing is written to the data folder.
 */
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBiobank } from '../helpers/cli.js';
import { tempDir } from '../ingest/helpers.js';
import { writeMetaFixture } from './fixture.js';

let dir: string;
let data: string;

beforeAll(() => {
  dir = tempDir('meta-cli');
  data = join(dir, 'data');
  writeMetaFixture(dir);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('biobank meta check', () => {
  it('accepts the three inputs and prints what each holds', async () => {
    const r = await runBiobank(['meta', 'check', join(dir, 'meta.json')], { BIOBANK_DATA_DIR: data });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/site A: .*siteA\.tsv\.gz \(gwas-ssf, gzipped\)/);
    expect(r.stdout).toMatch(/site B: .*\(plink2\).*dropped \d+ not_additive_test/);
    expect(r.stdout).toMatch(/ok: 3 inputs; run id ldl-meta-[0-9a-f]{16}/);
  }, 30_000);

  it('refuses a ragged line naming file and line, exit 2, nothing written', async () => {
    const file = join(dir, 'siteC.regenie');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines[6] = lines[6].split(' ').slice(0, -2).join(' ');
    writeFileSync(file, lines.join('\n'));
    const r = await runBiobank(['meta', 'check', join(dir, 'meta.json')], { BIOBANK_DATA_DIR: data });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('siteC.regenie');
    expect(r.stderr).toMatch(/line 7\b/);
    expect(existsSync(data) ? readdirSync(data) : []).toEqual([]);
  }, 30_000);

  it('refuses a bad spec naming the field', async () => {
    writeFileSync(
      join(dir, 'bad.json'),
      JSON.stringify({ metaId: 'x', inputs: [{ path: 'a', label: 'a' }] }),
    );
    const r = await runBiobank(['meta', 'check', join(dir, 'bad.json')], { BIOBANK_DATA_DIR: data });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('at least two inputs');
  }, 30_000);
});
