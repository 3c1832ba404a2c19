/** The genotype reader of each binary format (the contract: genotype-reader.ts). */
import type { GenotypeFormat, GenotypeOptions } from '../schemas/release.js';
import { openBgenReader } from './bgen/reader.js';
import type { GenotypeReader } from './genotype-reader.js';
import { openPgenReader } from './pgen/reader.js';
import { openBedReader } from './plink1/reader.js';

/** Open the reader of a `.bed`, `.pgen` or `.bgen` input (paths relative to `baseDir`). */
export function openGenotypeReader(
  format: Exclude<GenotypeFormat, 'vcf'>,
  baseDir: string,
  input: GenotypeOptions,
): Promise<GenotypeReader> {
  switch (format) {
    case 'bed':
      return openBedReader(baseDir, input);
    case 'pgen':
      return openPgenReader(baseDir, input);
    case 'bgen':
      return openBgenReader(baseDir, input);
  }
}
