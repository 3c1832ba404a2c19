/** `biobank synth`: write a deterministic synthetic biobank release (see synth/). */
import { InputError } from '../../engine/errors.js';
import { generateBiobank, SIZES, type SizeName, SynthError } from '../../synth/index.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

const SIZE_NAMES = ['demo', 'bench', 'large', 'custom'] as const;

function wholeNumber(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new CliError(`--${name} must be a whole number, got '${raw}'`, EXIT.usage);
  return Number(raw);
}

export const synthCommand: Command = {
  name: 'synth',
  summary: 'generate a deterministic synthetic biobank release (VCF, EHR, labs, truth)',
  usage: `
Usage: biobank synth --out <folder> [--size demo|bench|large|custom] [--persons N --variants N]
                     [--seed S] [--phecode-maps <folder>] [--release-id ID]
                     [--split-chromosomes] [--families SHARE [--family-size N]]
                     [--force | --reuse]

Writes a release folder: manifest.json (for 'biobank release add'), persons.tsv,
conditions.parquet (ICD-9-CM/ICD-10-CM codes with dates), labs.csv (LDL, HbA1c),
pheno.txt (PLINK-style FID IID LDL HbA1c BMI batch), a bgzipped VCF with LD blocks,
ancestry structure and VEP-style CSQ annotations, and truth.json (the planted effects).
The same seed and options always give the same bytes.

Sizes (persons × variants): demo ${SIZES.demo.persons} × ${SIZES.demo.variants}, bench ${SIZES.bench.persons} × ${SIZES.bench.variants},
large ${SIZES.large.persons} × ${SIZES.large.variants}; custom needs --persons and --variants.

Options:
  --out DIR             output folder (written to a temp folder, then renamed)
  --size NAME           demo (default), bench, large or custom
  --persons N           number of persons (overrides the preset)
  --variants N          number of variants (overrides the preset)
  --seed S              seed, a whole number (default 1)
  --phecode-maps DIR    draw ICD codes from real phecode maps (the v1.2 folder, or a folder
                        holding v1.2/ and X/); default: the engine's small demo map
  --release-id ID       releaseId in manifest.json (default demo-2026-11 for demo,
                        else synth-<size>-s<seed>)
  --split-chromosomes   one VCF per chromosome (chr1.vcf.gz … chr22.vcf.gz)
  --families SHARE      plant relatedness: this share (0–1] of the persons are in full
                        sibships (parents not sampled), and pheno.txt gets a polygenic
                        trait HEIGHT (h² 0.5; truth.json 'families' and 'polygenic')
  --family-size N       siblings per family, 2–12 (default 4; needs --families)
  --force               replace an existing output folder
  --reuse               keep an existing folder made with the same options (else regenerate it)`,
  examples: [
    'biobank synth --out ./demo-release',
    'biobank synth --size bench --seed 7 --out /data/synth-bench',
    'biobank synth --size custom --persons 5000 --variants 50000 --out ./s --phecode-maps data/phecode/v1.2',
    'biobank synth --size custom --persons 3000 --variants 20000 --families 0.8 --out ./fam',
  ],
  async run(argv) {
    const { values } = parse(argv, {
      out: { type: 'string' },
      size: { type: 'string', default: 'demo' },
      persons: { type: 'string' },
      variants: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'phecode-maps': { type: 'string' },
      'release-id': { type: 'string' },
      'split-chromosomes': { type: 'boolean', default: false },
      families: { type: 'string' },
      'family-size': { type: 'string' },
      force: { type: 'boolean', default: false },
      reuse: { type: 'boolean', default: false },
    });
    if (!values.out) throw new CliError('--out <folder> is required', EXIT.usage);
    const size = values.size as SizeName;
    if (!SIZE_NAMES.includes(size))
      throw new CliError(`--size must be one of ${SIZE_NAMES.join(', ')}`, EXIT.usage);
    if (values.force && values.reuse)
      throw new CliError('use either --force or --reuse, not both', EXIT.usage);
    const persons = wholeNumber('persons', values.persons);
    const variants = wholeNumber('variants', values.variants);
    const seed = wholeNumber('seed', values.seed) ?? 1;
    if (size === 'custom' && (persons === undefined || variants === undefined))
      throw new CliError('--size custom needs --persons and --variants', EXIT.usage);
    const familySize = wholeNumber('family-size', values['family-size']);
    if (familySize !== undefined && values.families === undefined)
      throw new CliError('--family-size needs --families', EXIT.usage);
    let families: { share: number; size?: number } | undefined;
    if (values.families !== undefined) {
      const share = Number(values.families);
      if (!/^(0?\.\d+|1(\.0*)?)$/.test(values.families) || !(share > 0))
        throw new CliError(`--families must be a share in (0, 1], got '${values.families}'`, EXIT.usage);
      families = familySize === undefined ? { share } : { share, size: familySize };
    }
    const t0 = Date.now();
    let lastLine = '';
    try {
      const result = await generateBiobank({
        out: values.out,
        size,
        persons,
        variants,
        seed,
        phecodeMaps: values['phecode-maps'],
        releaseId: values['release-id'],
        splitChromosomes: values['split-chromosomes'],
        families,
        ifExists: values.force ? 'overwrite' : values.reuse ? 'reuse' : 'error',
        onProgress(phase, done, total) {
          const line = phase === 'genotypes' ? `genotypes: block ${done}/${total}` : phase;
          if (line === lastLine) return;
          lastLine = line;
          if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
          else if (phase !== 'genotypes' || done === total) process.stderr.write(`${line}\n`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
      const c = result.counts;
      console.log(
        `${result.reused ? 'Reused' : 'Wrote'} ${result.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ` +
          `${c.persons} persons, ${c.variants} variants in ${c.genotypeFiles} VCF file(s), ` +
          `${c.conditions} condition rows, ${c.measurements} measurements.`,
      );
      console.log(`Manifest: ${result.manifestPath}`);
      console.log(`Truth:    ${result.truthPath}`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof SynthError) throw new CliError(err.message, EXIT.usage);
      if (err instanceof InputError) throw err;
      throw err;
    }
  },
};
