/**
 * `generateBiobank`: a complete synthetic biobank release in one folder, deterministic in
 * the seed. See `docs`-style notes in each module: persons.ts, genome.ts, genotypes.ts,
 * planted.ts, phenotypes.ts, ehr.ts, labs.ts, and families.ts for the opt-in sibships and
 * polygenic trait (without `families` the output is what it was before they existed).
 *
 * Output (written to a temp folder next to `out`, renamed into place when complete):
 * `manifest.json` (the release manifest), `persons.tsv`, `conditions.parquet`, `labs.csv`,
 * `pheno.txt`, `chr1-22.vcf.gz` (or `chr<N>.vcf.gz` per chromosome) and `truth.json`.
 *
 * Memory: genotypes stream block by block; everything else is per person (a few typed
 * arrays and the EHR rows), never per person × variant.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { canonicalJson } from '../engine/fsutil.js';
import { generateConditions, generateVisits } from './ehr.js';
import { applyFamiliesToPersons, checkFamilyOptions, type FamilyOptions, planFamilies } from './families.js';
import { GENES, planGenome } from './genome.js';
import { writeGenotypes } from './genotypes.js';
import { writeLabs, writePheno } from './labs.js';
import { ANCESTRIES, dayOf, generatePersons, isoOf } from './persons.js';
import { codesReaching, DEMO_PHECODE_MAP_DIR, loadCodePools } from './phecodes.js';
import { computePhenotypes } from './phenotypes.js';
import {
  BURDEN_CARRIER_FREQ,
  BURDEN_GENE,
  LDL_ANCESTRY_SPECIFIC,
  PLANTED_BINARY,
  PLANTED_BURDEN,
  PLANTED_TIME_TO_EVENT,
  POLYGENIC_TRAIT,
  plantedVariantKeys,
} from './planted.js';
import { Rng } from './prng.js';
import { buildTruth } from './truth.js';

/** Bumped whenever the output for given options changes, so `ifExists: reuse` regenerates. */
export const GENERATOR_VERSION = 4;

export const SIZES = {
  demo: { persons: 2500, variants: 10_000 },
  bench: { persons: 10_000, variants: 100_000 },
  large: { persons: 100_000, variants: 1_000_000 },
} as const;
export type SizeName = keyof typeof SIZES | 'custom';

export interface SynthOptions {
  /** Output folder (created; must not exist unless `ifExists` says otherwise). */
  out: string;
  size?: SizeName;
  /** Overrides the preset (required for `custom`). */
  persons?: number;
  variants?: number;
  seed?: number;
  /** Folder of real phecode maps (v1.2 layout); default: the shipped demo map. */
  phecodeMaps?: string;
  /** Default `demo-2026-11` for the demo size, else `synth-<size>-s<seed>`. */
  releaseId?: string;
  /** Write one VCF per chromosome instead of one for all. */
  splitChromosomes?: boolean;
  /** What to do when `out` exists: fail (default), replace it, or reuse it when it was made with the same options. */
  ifExists?: 'error' | 'overwrite' | 'reuse';
  /**
   * zlib level for the BGZF blocks. Default 4: on genotype text it is 2.5× faster than
   * bgzip's 6 for about 13% more bytes (measured on the demo VCF: 0.44 vs 1.13 ms per block).
   */
  compressionLevel?: number;
  /** Write a tabix index (`.tbi`) next to each VCF (default true). */
  tabixIndex?: boolean;
  /** Drift between ancestry groups (default 0.07). */
  fst?: number;
  /** Extract date; codes and measurements are never later. Default 2026-06-30. */
  extractDate?: string;
  /**
   * Planted relatedness (families.ts): a share of the persons in full sibships of `size`
   * (default 4; parents not sampled), plus a polygenic trait (pheno.txt column HEIGHT, h² 0.5,
   * truth.json `polygenic`). Absent: no relatives, no HEIGHT, output as before.
   */
  families?: FamilyOptions;
  onProgress?: (phase: string, done: number, total: number) => void;
}

export interface SynthCounts {
  persons: number;
  variants: number;
  conditions: number;
  measurements: number;
  phenoRows: number;
  genotypeFiles: number;
}

export interface SynthResult {
  out: string;
  manifestPath: string;
  truthPath: string;
  counts: SynthCounts;
  /** True when an existing folder made with the same options was returned. */
  reused: boolean;
}

export class SynthError extends Error {
  override name = 'SynthError';
}

function resolveSize(o: SynthOptions): { size: SizeName; persons: number; variants: number } {
  const size = o.size ?? 'demo';
  const preset = size === 'custom' ? undefined : SIZES[size];
  if (!preset && (o.persons === undefined || o.variants === undefined))
    throw new SynthError("size 'custom' needs both persons and variants");
  const persons = o.persons ?? preset!.persons;
  const variants = o.variants ?? preset!.variants;
  if (!Number.isInteger(persons) || persons < 50)
    throw new SynthError(`persons must be an integer ≥ 50, got ${persons}`);
  if (!Number.isInteger(variants) || variants < 1000)
    throw new SynthError(`variants must be an integer ≥ 1000, got ${variants}`);
  return { size, persons, variants };
}

async function existsPath(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Remove temp folders of `out` left by generator processes that no longer run (killed runs). */
async function removeStaleTemps(out: string): Promise<void> {
  const prefix = `.${basename(out)}.tmp-`;
  const entries = await readdir(dirname(out)).catch(() => [] as string[]);
  for (const name of entries) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    let alive = pid === process.pid;
    if (!alive && Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive) await rm(join(dirname(out), name), { recursive: true, force: true });
  }
}

/**
 * Candidate LD blocks for the ancestry-specific LDL variant (planted.ts), on their own random
 * stream and after every other block assignment, so nothing else moves: blocks of ≥ 12 variants
 * outside genes, holding no planted or polygenic effect, on a chromosome that holds a planted
 * non-LDL variant (chromosomes without planted loci supply truth.json's null variants), at least
 * 2 Mb from every planted block. Falls back to any such block when that leaves none.
 */
function pickAncestrySpecificBlocks(seed: number, blocks: ReturnType<typeof planGenome>['blocks']): number[] {
  const rng = new Rng(seed, 'ancestry-specific-blocks');
  const planted = blocks.filter((b) => b.causal);
  const ldl = new Set(plantedVariantKeys().filter((k) => k.startsWith('LDL_')));
  const hostChroms = new Set(planted.filter((b) => !ldl.has(b.causal!)).map((b) => b.chrom));
  const far = (b: (typeof blocks)[number]) =>
    planted.every((c) => c.chrom !== b.chrom || Math.abs(c.start - b.start) > 2_000_000);
  const free = blocks.filter((b) => b.gene < 0 && !b.causal && !b.polygenic && b.nVariants >= 12 && far(b));
  let pool = free.filter((b) => hostChroms.has(b.chrom));
  if (pool.length === 0) pool = free;
  const want = Math.min(LDL_ANCESTRY_SPECIFIC.candidateBlocks, pool.length);
  for (let k = 0; k < want; k++) {
    const j = k + rng.int(pool.length - k);
    [pool[k], pool[j]] = [pool[j], pool[k]];
  }
  return pool.slice(0, want).map((b) => b.index);
}

/** Generate a synthetic biobank release. */
export async function generateBiobank(options: SynthOptions): Promise<SynthResult> {
  const { size, persons: nPersons, variants: nVariants } = resolveSize(options);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new SynthError(`seed must be a non-negative integer, got ${seed}`);
  const out = resolve(options.out);
  const extractDate = options.extractDate ?? '2026-06-30';
  const extractDay = dayOf(extractDate);
  if (!Number.isFinite(extractDay) || extractDay * 86_400_000 > Date.now())
    throw new SynthError(`extract date must be a valid date not in the future, got ${extractDate}`);
  const mapsDir = options.phecodeMaps ? resolve(options.phecodeMaps) : DEMO_PHECODE_MAP_DIR;
  const releaseId = options.releaseId ?? (size === 'demo' ? 'demo-2026-11' : `synth-${size}-s${seed}`);
  const fst = options.fst ?? 0.07;
  let families: { share: number; size: number } | undefined;
  if (options.families) {
    try {
      families = { share: options.families.share, size: checkFamilyOptions(options.families, nPersons) };
    } catch (err) {
      throw new SynthError((err as Error).message);
    }
  }
  const generator = {
    version: GENERATOR_VERSION,
    seed,
    size,
    persons: nPersons,
    variants: nVariants,
    releaseId,
    fst,
    extractDate,
    splitChromosomes: options.splitChromosomes ?? false,
    tabixIndex: options.tabixIndex ?? true,
    phecodeMaps: options.phecodeMaps ? mapsDir : 'demo',
    // Only with families, so the settings (and truth.json) without them are unchanged.
    ...(families ? { families } : {}),
  };
  const manifestPath = join(out, 'manifest.json');
  const truthPath = join(out, 'truth.json');

  if (await existsPath(out)) {
    const mode = options.ifExists ?? 'error';
    if (mode === 'reuse') {
      const truth = await readFile(truthPath, 'utf8')
        .then((t) => JSON.parse(t) as { generator: unknown; counts: SynthCounts })
        .catch(() => undefined);
      if (truth && canonicalJson(truth.generator) === canonicalJson(generator))
        return { out, manifestPath, truthPath, counts: truth.counts, reused: true };
    } else if (mode === 'error') {
      throw new SynthError(`output folder ${out} already exists (use --force to replace it)`);
    }
  }

  const progress = options.onProgress ?? (() => {});
  const planted = [...PLANTED_BINARY, ...PLANTED_BURDEN];
  const pools = loadCodePools(mapsDir, planted);
  // The time-to-event phecode's codes, looked up on their own: the background pools keep them
  // (so every other row is generated as before) and generateConditions drops them there.
  const timeToEventPool = loadCodePools(mapsDir, [PLANTED_TIME_TO_EVENT]).planted.get(
    PLANTED_TIME_TO_EVENT.key,
  )!;
  // Background codes that reach it (in 1.2 or X) are dropped, except those of the other planted
  // pools (with the full maps a code can reach two; the other planted rows stay as they were).
  const inPlanted = new Set([...pools.planted.values()].flatMap((p) => [...p.icd10, ...p.icd9]));
  const reach = codesReaching(mapsDir, PLANTED_TIME_TO_EVENT);
  const timeToEventReserved = {
    icd10: reach.icd10.filter((c) => !inPlanted.has(c)),
    icd9: reach.icd9.filter((c) => !inPlanted.has(c)),
  };

  await removeStaleTemps(out);
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp, { recursive: true });
  try {
    // --- persons and genome plan ---
    const persons = generatePersons(seed, nPersons, extractDay);
    const familyPlan = families ? planFamilies(seed, nPersons, families) : undefined;
    if (familyPlan) applyFamiliesToPersons(seed, persons, familyPlan, extractDay);
    const plan = planGenome(seed, nVariants);
    const pick = new Rng(seed, 'planted-blocks');
    // Each planted common variant gets its own LD block, on distinct chromosomes (not 1,
    // which holds the burden gene) while there are enough of them.
    const canHost = (b: (typeof plan.blocks)[number]) => b.gene < 0 && b.nVariants >= 12 && !b.causal;
    const chromPool = plan.chroms.filter(
      (c) => c !== '1' && plan.blocks.some((b) => b.chrom === c && canHost(b)),
    );
    const keys = plantedVariantKeys();
    if (families) keys.push(...POLYGENIC_TRAIT.large.map((v) => v.key));
    for (const key of keys) {
      if (chromPool.length === 0) chromPool.push(...new Set(plan.blocks.filter(canHost).map((b) => b.chrom)));
      if (chromPool.length === 0) throw new SynthError(`too few variants to plant ${key}`);
      const chrom = chromPool.splice(pick.int(chromPool.length), 1)[0];
      const eligible = plan.blocks.filter((b) => b.chrom === chrom && canHost(b));
      eligible[pick.int(eligible.length)].causal = key;
    }
    if (families) {
      // Small effects of the polygenic trait: one in each of a random share of the other blocks.
      const free = plan.blocks.filter((b) => b.gene < 0 && !b.causal);
      const want = Math.min(POLYGENIC_TRAIT.maxSmall, Math.round(POLYGENIC_TRAIT.blockShare * free.length));
      const polyPick = new Rng(seed, 'polygenic-blocks');
      for (let k = 0; k < want; k++) {
        const j = k + polyPick.int(free.length - k);
        [free[k], free[j]] = [free[j], free[k]];
        free[k].polygenic = true;
      }
    }
    const ancestryBlocks = pickAncestrySpecificBlocks(seed, plan.blocks);
    const burdenGene = GENES.findIndex((g) => g.symbol === BURDEN_GENE);
    if (!plan.blocks.some((b) => b.gene === burdenGene))
      throw new SynthError('too few variants for the burden gene');

    // --- genotypes ---
    const vcfNames = generator.splitChromosomes
      ? plan.chroms.map((c) => `chr${c}.vcf.gz`)
      : ['chr1-22.vcf.gz'];
    const geno = await writeGenotypes({
      seed,
      plan,
      persons,
      fst,
      dsFraction: 0.05,
      burdenGene,
      burdenCarrierFreq: BURDEN_CARRIER_FREQ,
      paths: vcfNames.map((f) => join(tmp, f)),
      compressionLevel: options.compressionLevel ?? 4,
      tabixIndex: options.tabixIndex ?? true,
      source: `biobank-synth v${GENERATOR_VERSION} seed=${seed} size=${size}`,
      fileDate: extractDate.replaceAll('-', ''),
      families: familyPlan,
      ancestrySpecific: {
        key: LDL_ANCESTRY_SPECIFIC.key,
        ancestry: LDL_ANCESTRY_SPECIFIC.ancestry,
        targetMaf: LDL_ANCESTRY_SPECIFIC.targetMaf,
        blocks: ancestryBlocks,
      },
      onBlock: (done, total) => {
        if (done % 64 === 0 || done === total) progress('genotypes', done, total);
      },
    });

    // --- phenotypes, EHR, labs ---
    progress('ehr', 0, 1);
    // A release too small to hold a candidate block (e.g. 1,000 variants) gets no
    // ancestry-specific effect: truth.json then has no `ancestrySpecific`.
    const phenotypes = computePhenotypes(
      seed,
      persons,
      geno.causal,
      geno.burdenCarrier,
      geno.polygenic,
      geno.ancestrySpecific,
    );
    const visits = generateVisits(seed, persons, extractDay);
    const {
      rows,
      planted: plantedCounts,
      timeToEvent,
    } = generateConditions(seed, persons, visits, pools, phenotypes, extractDay, {
      carriers: geno.burdenCarrier,
      pool: timeToEventPool,
      reserved: timeToEventReserved,
    });

    const personLines = ['person_id\tsex\tbirth_date\tbirth_year\tancestry'];
    for (let i = 0; i < nPersons; i++) {
      const birth = isoOf(persons.birthDay[i]);
      personLines.push(
        `${persons.ids[i]}\t${persons.sex[i] === 1 ? 'M' : 'F'}\t${birth}\t${birth.slice(0, 4)}\t${ANCESTRIES[persons.ancestry[i]]}`,
      );
    }
    await writeFile(join(tmp, 'persons.tsv'), `${personLines.join('\n')}\n`);

    const csvPath = join(tmp, '.conditions.csv');
    {
      const parts: string[] = ['person_id,code,vocabulary,date'];
      for (let r = 0; r < rows.person.length; r++)
        parts.push(
          `${persons.ids[rows.person[r]]},${rows.codes[rows.code[r]]},${rows.vocabularies[rows.code[r]]},${isoOf(rows.day[r])}`,
        );
      await writeFile(csvPath, `${parts.join('\n')}\n`);
    }
    const db = await DuckDBInstance.create(':memory:', { threads: '1', preserve_insertion_order: 'true' });
    try {
      const conn = await db.connect();
      try {
        await conn.run(
          `COPY (SELECT person_id, code, vocabulary, date FROM read_csv(${sqlString(csvPath)}, header = true, ` +
            `columns = {'person_id': 'VARCHAR', 'code': 'VARCHAR', 'vocabulary': 'VARCHAR', 'date': 'DATE'})) ` +
            `TO ${sqlString(join(tmp, 'conditions.parquet'))} (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
        );
      } finally {
        conn.closeSync();
      }
    } finally {
      db.closeSync();
    }
    await rm(csvPath);

    progress('labs', 0, 1);
    const nMeasurements = await writeLabs(
      seed,
      join(tmp, 'labs.csv'),
      persons,
      visits,
      phenotypes,
      extractDay,
    );
    const nPheno = await writePheno(seed, join(tmp, 'pheno.txt'), persons, phenotypes);

    // --- manifest and truth ---
    const manifest = {
      releaseId,
      genotypes: vcfNames,
      persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
      conditions: { path: 'conditions.parquet', format: 'parquet', idColumn: 'person_id' },
      measurements: { path: 'labs.csv', format: 'csv', idColumn: 'person_id' },
      tables: [
        { name: 'pheno', path: 'pheno.txt', format: 'whitespace', idColumn: 'IID', missing: ['NA', '-9'] },
      ],
    };
    const counts: SynthCounts = {
      persons: nPersons,
      variants: geno.nVariants,
      conditions: rows.person.length,
      measurements: nMeasurements,
      phenoRows: nPheno,
      genotypeFiles: vcfNames.length,
    };
    const truth = await buildTruth({
      generator,
      counts,
      extractDate,
      fst,
      phecodeMaps: options.phecodeMaps,
      pools,
      geno,
      phenotypes,
      plantedCounts,
      timeToEvent,
      nPersons,
      persons,
      families: familyPlan,
    });
    await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await writeFile(join(tmp, 'truth.json'), `${JSON.stringify(truth, null, 2)}\n`);

    // --- move into place ---
    if (await existsPath(out)) {
      const trash = `${tmp}.old`;
      await rename(out, trash);
      await rename(tmp, out);
      await rm(trash, { recursive: true, force: true });
    } else {
      await mkdir(dirname(out), { recursive: true });
      await rename(tmp, out);
    }
    progress('done', 1, 1);
    return { out, manifestPath, truthPath, counts, reused: false };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}
