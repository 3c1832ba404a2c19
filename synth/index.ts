/** The synthetic biobank generator (`biobank synth`). */

export {
  GENERATOR_VERSION,
  generateBiobank,
  SIZES,
  type SizeName,
  type SynthCounts,
  SynthError,
  type SynthOptions,
  type SynthResult,
} from './generate.js';
export { type GenotypeResult, writeGenotypes } from './genotypes.js';
export { DEMO_PHECODE_MAP_DIR } from './phecodes.js';
