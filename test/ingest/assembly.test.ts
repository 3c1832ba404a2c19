/**
 * The genome assembly belongs to the release: read from the VCF header (`##reference`,
 * `##contig=<…,assembly=…>`) or the manifest, recorded in `releases`, and a disagreement is bad
 * input naming the manifest field.
 */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { listReleases } from '../../engine/release.js';
import { normalizeAssembly, parseVcfHeader } from '../../ingest/vcf/header.js';
import { FIXTURE_VCF, ingestInProcess, makeReleaseFolder, readText, tempDir, testConfig } from './helpers.js';

const header = (extra: string[]) => [
  '##fileformat=VCFv4.2',
  ...extra,
  '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1',
];

/** The fixture VCF with extra header lines after ##fileformat. */
function vcfWith(extra: string[]): string {
  const lines = readText(FIXTURE_VCF).trimEnd().split('\n');
  return `${[lines[0], ...extra, ...lines.slice(1)].join('\n')}\n`;
}

describe('genome assembly', () => {
  it('is read from ##reference and ##contig assembly, in the usual spellings', () => {
    expect(
      parseVcfHeader(header(['##reference=file:///ref/Homo_sapiens_assembly38.fasta']), 'a.vcf').assembly,
    ).toBe('GRCh38');
    expect(parseVcfHeader(header(['##contig=<ID=1,length=249250621,assembly=b37>']), 'a.vcf').assembly).toBe(
      'GRCh37',
    );
    expect(parseVcfHeader(header(['##contig=<ID=1,length=248956422>']), 'a.vcf').assembly).toBeNull();
    expect(['hg19', 'GRCh37.p13', 'hs37d5.fa.gz', 'hg38', 'GRCh38', 'NCBI38'].map(normalizeAssembly)).toEqual(
      ['GRCh37', 'GRCh37', 'GRCh37', 'GRCh38', 'GRCh38', 'GRCh38'],
    );
    expect(normalizeAssembly('CHM13')).toBeUndefined();
    expect(() =>
      parseVcfHeader(header(['##reference=hg19.fa', '##contig=<ID=1,assembly=GRCh38>']), 'a.vcf'),
    ).toThrow(/two genome assemblies: GRCh37 and GRCh38/);
  });

  it('from the header, or the manifest, is recorded in releases; a disagreement is refused', async () => {
    const config = testConfig(tempDir('asm'));
    const fromHeader = makeReleaseFolder({ releaseId: 'asm-h', vcfText: vcfWith(['##reference=hg38.fa']) });
    await ingestInProcess(config, { manifestPath: fromHeader.manifestPath });
    const fromManifest = makeReleaseFolder({ releaseId: 'asm-m', manifestPatch: { assembly: 'hg19' } });
    await ingestInProcess(config, { manifestPath: fromManifest.manifestPath });
    const none = makeReleaseFolder({ releaseId: 'asm-none' });
    await ingestInProcess(config, { manifestPath: none.manifestPath });
    const byId = Object.fromEntries((await listReleases(config)).map((r) => [r.release_id, r.assembly]));
    expect(byId).toEqual({ 'asm-h': 'GRCh38', 'asm-m': 'GRCh37', 'asm-none': null });

    const clash = makeReleaseFolder({
      releaseId: 'asm-clash',
      vcfText: vcfWith(['##reference=hg38.fa']),
      manifestPatch: { assembly: 'GRCh37' },
    });
    const err = await ingestInProcess(config, { manifestPath: clash.manifestPath }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.location).toMatchObject({ file: clash.manifestPath, field: 'assembly' });
    expect(err.message).toMatch(/the manifest says GRCh37 but calls\.vcf names GRCh38/);
    expect((await listReleases(config)).map((r) => r.release_id)).not.toContain('asm-clash');
  });
});
