/**
 * Bad input: each case fails with an InputError naming file, line and field; the release
 * is not registered and nothing half-written is left in the data folder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { listReleases } from '../../engine/release.js';
import {
  CONDITIONS_CSV,
  FIXTURE_VCF,
  ingestInProcess,
  makeReleaseFolder,
  PERSONS_TSV,
  type ReleaseFolderOptions,
  readText,
  repeatedVcfLines,
  tempDir,
  testConfig,
} from './helpers.js';

async function expectRejected(
  options: ReleaseFolderOptions,
  where: { file: string; line?: number; field: string },
  message: RegExp,
  extra: { shardsPerFile?: number; minShardBytes?: number } = {},
) {
  const data = tempDir('data');
  const config = testConfig(data);
  const { manifestPath } = makeReleaseFolder(options);
  const err = await ingestInProcess(config, { manifestPath, ...extra }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  const e = err as InputError;
  expect(e.message).toMatch(message);
  expect(e.location.file).toBe(where.file);
  if (where.line !== undefined) expect(e.location.line).toBe(where.line);
  expect(e.location.field).toBe(where.field);
  // Not registered, nothing left behind.
  expect(await listReleases(config)).toEqual([]);
  const releases = join(data, 'releases');
  expect(existsSync(releases) ? readdirSync(releases) : []).toEqual([]);
}

function vcfLines(): string[] {
  return readText(FIXTURE_VCF).trimEnd().split('\n');
}

describe('bad input is reported with file, line and field', () => {
  it('a malformed genotype in a VCF line', async () => {
    const lines = vcfLines();
    const n = lines.findIndex((l) => l.startsWith('1\t13116'));
    lines[n] = lines[n].replace('./.:0', '0/x:0');
    await expectRejected(
      { vcfText: `${lines.join('\n')}\n` },
      { file: 'calls.vcf', line: n + 1, field: 'HG00097:GT' },
      /bad GT/,
    );
  });

  it('a malformed line deep inside a sharded bgzipped VCF', async () => {
    const out = repeatedVcfLines();
    const bad = out.length - 40;
    out[bad] = out[bad].split('\t').slice(0, 6).join('\t'); // truncated record
    await expectRejected(
      { vcfText: `${out.join('\n')}\n`, bgzip: true },
      { file: 'calls.vcf.gz', line: bad + 1, field: 'FILTER' },
      /expected at least 8 tab-separated columns/,
      { shardsPerFile: 4, minShardBytes: 0 },
    );
  });

  it('a VCF sample missing from persons', async () => {
    const persons = PERSONS_TSV.split('\n')
      .filter((l) => !l.startsWith('NA12891'))
      .join('\n');
    const chromLine = vcfLines().findIndex((l) => l.startsWith('#CHROM')) + 1;
    await expectRejected(
      { personsText: persons },
      { file: 'calls.vcf', line: chromLine, field: 'NA12891' },
      /sample NA12891 is not in persons/,
    );
  });

  it('a bad date in conditions', async () => {
    const rows = CONDITIONS_CSV.split('\n');
    rows[3] = 'HG00097,I10,ICD10CM,2015-13-45';
    await expectRejected(
      { conditionsText: rows.join('\n') },
      { file: 'conditions.csv', line: 4, field: 'date' },
      /calendar date/,
    );
  });

  it('a date in the future and a date before birth', async () => {
    const rows = CONDITIONS_CSV.split('\n');
    rows[2] = 'HG00096,E11.9,ICD10CM,2999-01-01';
    await expectRejected(
      { conditionsText: rows.join('\n') },
      { file: 'conditions.csv', line: 3, field: 'date' },
      /in the future/,
    );
    rows[2] = 'HG00096,E11.9,ICD10CM,1949-06-01';
    await expectRejected(
      { conditionsText: rows.join('\n') },
      { file: 'conditions.csv', line: 3, field: 'date' },
      /before birth/,
    );
  });

  it('a wrong column name', async () => {
    await expectRejected(
      {
        manifestPatch: {
          persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id', columns: { sex: 'SEX' } },
        },
      },
      { file: 'persons.tsv', line: 1, field: 'SEX' },
      /no column 'SEX'/,
    );
  });

  it('an unknown manifest field is named', async () => {
    const data = tempDir('data');
    const { manifestPath } = makeReleaseFolder({
      manifestPatch: { persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id', idColum: 'x' } },
    });
    const err = (await ingestInProcess(testConfig(data), { manifestPath }).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.location.field).toBe('persons.idColum');
  });
});

describe('EHR normalisation and quarantine', () => {
  it('quarantines bad rows with reasons and reports unknown codes', async () => {
    const rows = CONDITIONS_CSV.split('\n');
    rows.push('HG00097,I10,ICD10CM,2015-13-45', 'NOBODY,I10,ICD10CM,2015-01-01');
    const data = tempDir('data');
    const config = testConfig(data);
    const { manifestPath } = makeReleaseFolder({ conditionsText: rows.join('\n') });
    const res = await ingestInProcess(config, { manifestPath, quarantine: true });
    expect(res.nRejects).toBe(2);
    expect(res.nConditions).toBe(7);
    await withCompute(config, async (conn) => {
      const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRowsJson();
      const dir = res.dataPath;
      expect(await q(`SELECT table_name, line, field FROM '${dir}/rejects.parquet' ORDER BY line`)).toEqual([
        ['conditions', '9', 'date'],
        ['conditions', '10', 'person_id'],
      ]);
      expect(await q(`SELECT code, vocabulary, n_rows FROM '${dir}/unknown_codes.parquet'`)).toEqual([
        ['XYZ123', 'ICD10CM', '1'],
      ]);
      expect(await q(`SELECT code, vocabulary FROM '${dir}/conditions.parquet' ORDER BY code`)).toEqual([
        ['250.00', 'ICD9CM'],
        ['250.00', 'ICD9CM'],
        ['E11.9', 'ICD10CM'],
        ['E849.0', 'ICD9CM'],
        ['I10', 'ICD10CM'],
        ['V70.0', 'ICD9CM'],
        ['XYZ123', 'ICD10CM'],
      ]);
      expect(
        await q(`SELECT person_id, height, bmi FROM '${dir}/tables/pheno.parquet' ORDER BY person_id`),
      ).toEqual([
        ['HG00096', 180.5, null],
        ['HG00097', 165, 22.1],
        ['NA12878', null, 25],
      ]);
      expect(
        await q(
          `SELECT person_id, sex, birth_year, ancestry FROM '${dir}/persons.parquet' WHERE person_id = 'P0008'`,
        ),
      ).toEqual([['P0008', 'U', 1990, null]]);
      expect(await q(`SELECT name, value FROM '${dir}/measurements.parquet' ORDER BY name`)).toEqual([
        ['HbA1c', 6.1],
        ['LDL', 131.5],
      ]);
    });
  });
});

describe('bad binary genotype files are refused, named, and leave nothing behind', () => {
  /** A release folder whose genotypes are `name` (made by plink2 from the fixture VCF), then `edit`ed. */
  async function binary(
    kind: 'bed' | 'pgen' | 'bgen',
    edit: (dir: string) => void,
    where: { file: string; field: string },
    message: RegExp,
  ) {
    const data = tempDir('data');
    const config = testConfig(data);
    const { dir, manifestPath } = makeReleaseFolder({ manifestPatch: { genotypes: [`g.${kind}`] } });
    const out =
      kind === 'bed'
        ? ['--make-bed']
        : kind === 'pgen'
          ? ['--make-pgen']
          : ['--export', 'bgen-1.2', 'ref-first'];
    execFileSync('plink2', ['--vcf', 'calls.vcf', '--max-alleles', '2', ...out, '--out', 'g', '--silent'], {
      cwd: dir,
    });
    edit(dir);
    const err = await ingestInProcess(config, { manifestPath }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    const e = err as InputError;
    expect(e.message).toMatch(message);
    expect(e.location.file).toBe(where.file);
    expect(e.location.field).toBe(where.field);
    expect(await listReleases(config)).toEqual([]);
    const releases = join(data, 'releases');
    expect(existsSync(releases) ? readdirSync(releases) : []).toEqual([]);
  }

  it('a truncated .bed', async () => {
    await binary(
      'bed',
      (dir) => truncateSync(join(dir, 'g.bed'), statSync(join(dir, 'g.bed')).size - 3),
      { file: 'g.bed', field: 'file size' },
      /bytes/,
    );
  });

  it('a BGEN whose flags name an unsupported layout', async () => {
    await binary(
      'bgen',
      (dir) => {
        const path = join(dir, 'g.bgen');
        const b = readFileSync(path);
        const flagsAt = 4 + 16; // offset u32, then the header block: length, M, N, magic, flags
        b.writeUInt32LE(((b.readUInt32LE(flagsAt) & ~0x3c) | (3 << 2)) >>> 0, flagsAt);
        writeFileSync(path, b);
      },
      { file: 'g.bgen', field: 'header, byte 20' },
      /layout 3/,
    );
  });

  it('duplicate sample ids in a .psam', async () => {
    await binary(
      'pgen',
      (dir) => {
        const path = join(dir, 'g.psam');
        const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
        lines[2] = lines[2].replace(/^\S+/, lines[1].split('\t')[0]);
        writeFileSync(path, `${lines.join('\n')}\n`);
      },
      { file: 'g.psam', field: 'IID' },
      /duplicate/,
    );
  });

  it('a .fam sample that is not a person', async () => {
    await binary(
      'bed',
      (dir) => {
        const path = join(dir, 'g.fam');
        writeFileSync(path, readFileSync(path, 'utf8').replace('NA12878', 'NOBODY1'));
      },
      { file: 'g.bed', field: 'NOBODY1' },
      /sample NOBODY1 is not in persons/,
    );
  });
});
