/**
 * Streaming genotype simulation, written as a bgzipped VCF.
 *
 * Model (per LD block, see `genome.ts` for the layout):
 * - **Population structure (Balding–Nichols).** Three ancestry groups descend from one
 *   ancestral population with drift F (default 0.07). A rare variant with ancestral
 *   frequency p has group frequency p_k ~ Beta(p(1−F)/F, (1−p)(1−F)/F) (Balding & Nichols,
 *   1995) for p ≥ 0.005. For founder haplotypes, group k's haplotype weights are Dirichlet(w·(1−F)/F)
 *   around the block's ancestral weights w, which gives the same expected F_ST.
 * - **LD blocks.** Common variants of a block are carried by 4–8 founder haplotypes.
 *   Each person's two haplotypes copy founders drawn from their group's weights, switch
 *   founder with probability ρ per variant (recombination) and flip alleles with probability
 *   μ (mutation), so neighbouring variants correlate and correlation decays along the block.
 *   Events are drawn by geometric skips, so the cost is one comparison per allele.
 * - **Allele-frequency spectrum.** About 70% of variants are rare/low-frequency with
 *   ancestral p log-uniform on [1/(4N), 0.05] (density ∝ 1/p, the neutral-equilibrium
 *   shape), alleles drawn independently per haplotype; below p = 0.005 a variant is
 *   private to one group (frequency p/share there, 5% of p elsewhere), as rare variants
 *   mostly are. A variant drawn with no copy becomes a singleton, except 10% kept
 *   monomorphic (as sites of a larger call set are in a subset). The other 30% are the
 *   founder-borne common variants (founder allele frequency 0.05–0.5, ALT major for 10%).
 *   At the demo size about 60% of variants have MAF < 1% and 28% MAF ≥ 5%.
 * - **Genes.** Gene blocks hold rare coding variants annotated as pLoF, missense,
 *   synonymous, splice-region or intronic in a VEP-style CSQ field with CADD (all) and
 *   REVEL (missense) scores. Their frequencies do not differ by ancestry.
 * - **Missing calls.** Most variants have none; 14% have up to 2%; 1% have 5–20% (FILTER
 *   `LowCallRate` when the call rate is below 0.95). Planted variants have no missing calls.
 * - **Families (opt-in, families.ts).** Sibships' unsampled parents are drawn as founders
 *   after the sampled haplotypes in the block buffer (rows of `stride` haplotypes); children
 *   copy them with crossovers. Polygenic blocks add their causal variant's standardised
 *   dosage, times a N(0, 1) weight, to a per-person score (the polygenic trait's small effects).
 *
 * Memory: one block of haplotypes (variants × (2N + 4·families) bytes) and one VCF line; nothing grows
 * with the number of variants except small per-variant summaries kept for truth.json.
 */
import { variantId } from '../schemas/results.js';
import { BgzfWriter } from './bgzf.js';
import { type FamilyPlan, familyGenotypes } from './families.js';
import { CHROM_LENGTHS, GENES, type GenomePlan } from './genome.js';
import { type BlockModel, drawBlock } from './genotype-block.js';
import type { Persons } from './persons.js';
import { Rng } from './prng.js';
import { TabixIndexBuilder } from './tabix.js';

export { PLOF_CONSEQUENCES } from './genotype-block.js';

const BASES = ['A', 'C', 'G', 'T'] as const;
export const CSQ_FORMAT = 'Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|CANONICAL';

export interface GenotypeOptions {
  seed: number;
  plan: GenomePlan;
  persons: Persons;
  /** Balding–Nichols drift between ancestry groups. */
  fst: number;
  /** Share of records written with FORMAT GT:DS. */
  dsFraction: number;
  /** Gene (index into GENES) whose pLoF carriers are returned. */
  burdenGene: number;
  /** Carrier frequency targeted for the burden gene's pLoF variants. */
  burdenCarrierFreq: number;
  /** One VCF for all chromosomes (`[path]`) or one per chromosome (same order as plan.chroms). */
  paths: string[];
  compressionLevel: number;
  /** Also write `<path>.tbi` for each VCF. */
  tabixIndex: boolean;
  source: string;
  fileDate: string;
  onBlock?: (done: number, total: number) => void | Promise<void>;
  /** Sibships (families.ts): children's haplotypes are copied from unsampled parents'. */
  families?: FamilyPlan;
  /**
   * Capture one existing common variant for an ancestry-specific effect: over the candidate
   * blocks, the variant with no missing call whose MAF in `ancestry` is closest to `targetMaf`
   * (overall MAF ≥ 0.05). Nothing is drawn for it, so the VCF does not change.
   */
  ancestrySpecific?: { key: string; ancestry: number; targetMaf: number; blocks: number[] };
}

export interface VariantRef {
  id: string;
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
  /** ALT frequency among called genotypes. */
  af: number;
}

export interface CausalVariant extends VariantRef {
  key: string;
  /** ALT allele count per person (no missing calls). */
  dosage: Uint8Array;
}

export interface GeneSummary {
  symbol: string;
  chrom: string;
  plof: string[];
  missense: string[];
  other: number;
  plofCarriers: number;
}

/** A small-effect causal variant of the polygenic trait, with its effect per standardised ALT count. */
export interface PolygenicVariant extends VariantRef {
  /** Unscaled weight (standard normal); the trait scales all weights by one factor. */
  weight: number;
}

/** First and last position of an LD block holding a causal variant. */
export interface BlockSpan {
  chrom: string;
  start: number;
  end: number;
  /** Planted key of a large effect, else absent (a polygenic block). */
  key?: string;
}

/** The variant captured for the ancestry-specific effect, with its block and per-group ALT frequencies. */
export interface AncestrySpecificVariant extends CausalVariant {
  block: BlockSpan;
  /** ALT frequency per ancestry group (persons.ts `ANCESTRIES` order). */
  afByAncestry: number[];
}

/** The polygenic trait's small effects: Σ_j weight_j · z_ij per person, z the standardised ALT count. */
export interface PolygenicScore {
  score: Float64Array;
  variants: PolygenicVariant[];
  /** Spans of every block with a causal variant (polygenic and planted), in genome order. */
  spans: BlockSpan[];
}

export interface GenotypeResult {
  nVariants: number;
  /** Counts by minor allele frequency bin. */
  spectrum: { monomorphic: number; below0_001: number; below0_01: number; below0_05: number; common: number };
  nWithDs: number;
  nLowCallRate: number;
  causal: CausalVariant[];
  /** Common variants on chromosomes without planted loci. */
  nullCandidates: VariantRef[];
  genes: GeneSummary[];
  /** 1 where the person carries ≥ 1 pLoF allele in the burden gene. */
  burdenCarrier: Uint8Array;
  burdenPlof: string[];
  /** With families only: the polygenic blocks' causal variants and their score. */
  polygenic?: PolygenicScore;
  /** With `ancestrySpecific`: the captured variant (undefined when no candidate had one). */
  ancestrySpecific?: AncestrySpecificVariant;
}

function fmt(x: number, digits: number): string {
  return String(Number(x.toFixed(digits)));
}

/** Adds weight · z (the standardised ALT count of the variant in `row`) to the score. */
function addPolygenic(
  poly: PolygenicScore,
  v: VariantRef,
  hap: Uint8Array,
  row: number,
  n: number,
  weight: number,
): void {
  let s = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = hap[row + 2 * i] + hap[row + 2 * i + 1];
    s += d;
    ss += d * d;
  }
  const mean = s / n;
  const sd = Math.sqrt(ss / n - mean * mean);
  if (!(sd > 0)) return; // cannot happen for MAF ≥ 0.05, but a constant column carries no effect
  const b = weight / sd;
  for (let i = 0; i < n; i++) poly.score[i] += b * (hap[row + 2 * i] + hap[row + 2 * i + 1] - mean);
  poly.variants.push({ ...v, weight });
}

/**
 * Picks the ancestry-specific variant among the common variants of the candidate blocks as
 * they are written (no random draws). Ties keep the first in genome order.
 */
class AncestryCapture {
  readonly blocks: Set<number>;
  private best: { v: VariantRef; score: number; dosage: Uint8Array; afs: number[]; span: number } | undefined;
  private readonly spans: BlockSpan[] = [];
  private readonly counts = new Float64Array(3);
  private readonly sums = new Float64Array(3);

  constructor(
    private readonly o: NonNullable<GenotypeOptions['ancestrySpecific']>,
    private readonly persons: Persons,
  ) {
    this.blocks = new Set(o.blocks);
    for (let i = 0; i < persons.n; i++) this.counts[persons.ancestry[i]] += 2;
  }

  extendSpan(chrom: string, pos: number, first: boolean): void {
    if (first) this.spans.push({ chrom, start: pos, end: pos });
    else this.spans[this.spans.length - 1].end = pos;
  }

  consider(v: VariantRef, hap: Uint8Array, row: number): void {
    const n = this.persons.n;
    const anc = this.persons.ancestry;
    this.sums.fill(0);
    for (let i = 0; i < n; i++) this.sums[anc[i]] += hap[row + 2 * i] + hap[row + 2 * i + 1];
    const afs = Array.from(this.sums, (s, k) => (this.counts[k] > 0 ? s / this.counts[k] : 0));
    const af = afs[this.o.ancestry];
    if (Math.min(v.af, 1 - v.af) < 0.05) return;
    const score = Math.abs(Math.min(af, 1 - af) - this.o.targetMaf);
    if (this.best && score >= this.best.score) return;
    const dosage = new Uint8Array(n);
    for (let i = 0; i < n; i++) dosage[i] = hap[row + 2 * i] + hap[row + 2 * i + 1];
    this.best = { v, score, dosage, afs, span: this.spans.length - 1 };
  }

  result(): AncestrySpecificVariant | undefined {
    const b = this.best;
    if (!b) return undefined;
    return {
      ...b.v,
      key: this.o.key,
      dosage: b.dosage,
      block: { ...this.spans[b.span] },
      afByAncestry: b.afs,
    };
  }
}

/** Write the genotype VCF(s). Resolves once every file is closed. */
export async function writeGenotypes(opts: GenotypeOptions): Promise<GenotypeResult> {
  const { persons, plan, seed } = opts;
  const n = persons.n;
  const nHap = 2 * n;
  const nPop = 3;
  const fam = opts.families ? familyGenotypes(seed, n, opts.families) : undefined;
  // Sampled haplotypes first, then (families) each family's father's and mother's two.
  const stride = nHap + (fam ? 4 * fam.plan.nFamilies : 0);
  const hapPop = new Uint8Array(stride);
  for (let i = 0; i < n; i++) hapPop[2 * i] = hapPop[2 * i + 1] = persons.ancestry[i];
  if (fam)
    for (let k = 0; k < fam.plan.nFamilies; k++)
      hapPop.fill(persons.ancestry[fam.plan.start[k]], nHap + 4 * k, nHap + 4 * k + 4);
  const founderHaps = fam ? fam.founderHaps : Int32Array.from({ length: nHap }, (_, h) => h);
  // Founder haplotype indices per ancestry group.
  const popHaps: Int32Array[] = [];
  for (let k = 0; k < nPop; k++) popHaps.push(founderHaps.filter((h) => hapPop[h] === k));

  const maxBlock = plan.blocks.reduce((m, b) => Math.max(m, b.nVariants), 0);
  const hap = new Uint8Array(maxBlock * stride);
  const missing = new Uint8Array(maxBlock * n);
  const founderOf = new Uint8Array(stride);
  const nextRec = new Float64Array(stride);
  const nextMut = new Float64Array(stride);
  const line = Buffer.allocUnsafe(n * 6 + 8192);
  // Fast path for records without DS or missing calls: one 32-bit store per genotype,
  // "\t0|0", "\t0|1", … looked up by the two haplotype bytes read as one 16-bit value.
  const hap16 = new Uint16Array(hap.buffer, hap.byteOffset, hap.length >>> 1);
  const geno = new Uint8Array(4 * n + 4);
  const geno32 = new Uint32Array(geno.buffer, 0, n);
  const gtWord = new Uint32Array(1 << 16);
  for (const a of [0, 1])
    for (const b of [0, 1]) {
      const idx = new Uint16Array(Uint8Array.from([a, b]).buffer)[0];
      gtWord[idx] = new Uint32Array(Uint8Array.from([9, 48 + a, 124, 48 + b]).buffer)[0];
    }
  const popShare = popHaps.map((h) => Math.max(1, h.length) / founderHaps.length);
  const model: BlockModel = {
    n,
    nHap,
    stride,
    founderHaps,
    families: fam,
    popHaps,
    hapPop,
    popShare,
    popCum: [popShare[0], popShare[0] + popShare[1], 1],
    fst: opts.fst,
    pMin: 1 / (4 * n),
    burdenGene: opts.burdenGene,
    burdenCarrierFreq: opts.burdenCarrierFreq,
    hap,
    missing,
    founderOf,
    nextRec,
    nextMut,
  };

  const result: GenotypeResult = {
    nVariants: 0,
    spectrum: { monomorphic: 0, below0_001: 0, below0_01: 0, below0_05: 0, common: 0 },
    nWithDs: 0,
    nLowCallRate: 0,
    causal: [],
    nullCandidates: [],
    genes: [],
    burdenCarrier: new Uint8Array(n),
    burdenPlof: [],
  };
  const polyRng = new Rng(seed, 'polygenic-effects');
  const polygenic: PolygenicScore | undefined = fam
    ? { score: new Float64Array(n), variants: [], spans: [] }
    : undefined;
  result.polygenic = polygenic;
  const causalChroms = new Set(plan.blocks.filter((b) => b.causal).map((b) => b.chrom));
  const anc = opts.ancestrySpecific ? new AncestryCapture(opts.ancestrySpecific, persons) : undefined;

  const header = [
    '##fileformat=VCFv4.2',
    `##fileDate=${opts.fileDate}`,
    `##source=${opts.source}`,
    '##reference=GRCh38 (synthetic alleles; coordinates only)',
    ...plan.chroms.map((c, i) => `##contig=<ID=${c},length=${CHROM_LENGTHS[i]},assembly=GRCh38>`),
    '##FILTER=<ID=PASS,Description="All filters passed">',
    '##FILTER=<ID=LowCallRate,Description="Call rate below 0.95">',
    '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in called genotypes">',
    '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency in called genotypes">',
    `##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. Format: ${CSQ_FORMAT}">`,
    '##INFO=<ID=CADD,Number=A,Type=Float,Description="CADD PHRED-scaled score (synthetic)">',
    '##INFO=<ID=REVEL,Number=A,Type=Float,Description="REVEL missense pathogenicity score (synthetic)">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=DS,Number=A,Type=Float,Description="Alternate allele dosage">',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...persons.ids].join('\t'),
  ].join('\n');
  const headerBytes = Buffer.from(`${header}\n`, 'latin1');

  const writers: BgzfWriter[] = [];
  const indexes = opts.paths.map(() => new TabixIndexBuilder());
  try {
    for (const p of opts.paths) {
      const w = await BgzfWriter.create(p, { level: opts.compressionLevel });
      writers.push(w);
      await w.write(headerBytes);
    }
    let chromRng: Rng | undefined;
    let currentChrom = '';
    let pos = 0;
    let gene: GeneSummary | undefined;
    for (const block of plan.blocks) {
      if (block.chrom !== currentChrom) {
        currentChrom = block.chrom;
        chromRng = new Rng(seed, `genotypes:chr${block.chrom}`);
        pos = 0;
      }
      const rng = chromRng!;
      const fileIdx = writers.length === 1 ? 0 : plan.chroms.indexOf(block.chrom);
      const writer = writers[fileIdx];
      const index = indexes[fileIdx];
      const V = block.nVariants;
      const isGene = block.gene >= 0;
      const isBurden = block.gene === opts.burdenGene;
      const { common, annots, ac, an, causalJ, polyJ } = drawBlock(model, block, rng);

      // --- positions, alleles, annotation; write the records ---
      if (isGene) {
        gene = {
          symbol: GENES[block.gene].symbol,
          chrom: block.chrom,
          plof: [],
          missense: [],
          other: 0,
          plofCarriers: 0,
        };
        result.genes.push(gene);
      }
      const geneCarrier = isGene ? new Uint8Array(n) : undefined;
      pos = Math.max(pos + 1, block.start);
      let nullTaken = false;
      for (let j = 0; j < V; j++) {
        if (j > 0) pos += 1 + rng.int(2 * block.spacing - 1);
        const annot = annots[j];
        const refBase = BASES[rng.int(4)];
        let ref: string = refBase;
        let alt: string = BASES[(BASES.indexOf(refBase) + 1 + rng.int(3)) % 4];
        if (annot?.consequence === 'frameshift_variant') {
          if (rng.float() < 0.5) alt = ref + BASES[rng.int(4)];
          else {
            ref = refBase + BASES[rng.int(4)];
            alt = refBase;
          }
        }
        const id = variantId({ chrom: block.chrom, pos, ref, alt });
        const af = an[j] > 0 ? ac[j] / an[j] : 0;
        const maf = Math.min(af, 1 - af);
        const sp = result.spectrum;
        if (ac[j] === 0 || ac[j] === an[j]) sp.monomorphic++;
        else if (maf < 0.001) sp.below0_001++;
        else if (maf < 0.01) sp.below0_01++;
        else if (maf < 0.05) sp.below0_05++;
        else sp.common++;
        const ref0: VariantRef = { id, chrom: block.chrom, pos, ref, alt, af };
        let csq: string;
        let scores: string;
        if (annot && isGene) {
          const g = GENES[block.gene];
          const tx = `ENST${String(900000000 + block.gene * 1000 + 1).padStart(11, '0')}`;
          csq = `${alt}|${annot.consequence}|${annot.impact}|${g.symbol}|${g.ensemblId}|Transcript|${tx}|protein_coding|YES`;
          scores = `;CADD=${fmt(annot.cadd, 3)}${annot.revel !== undefined ? `;REVEL=${fmt(annot.revel, 3)}` : ''}`;
          const isPlof = annot.impact === 'HIGH';
          if (isPlof) gene!.plof.push(id);
          else if (annot.consequence === 'missense_variant') gene!.missense.push(id);
          else gene!.other++;
          if (isPlof) {
            const row = j * stride;
            for (let i = 0; i < n; i++)
              if (!missing[j * n + i] && hap[row + 2 * i] | hap[row + 2 * i + 1]) geneCarrier![i] = 1;
            if (isBurden) result.burdenPlof.push(id);
          }
        } else {
          csq = `${alt}|intergenic_variant|MODIFIER||||||`;
          scores = `;CADD=${fmt(rng.uniform(0, 9), 3)}`;
        }
        const callRate = an[j] / nHap;
        const filter = callRate < 0.95 ? 'LowCallRate' : 'PASS';
        if (filter !== 'PASS') result.nLowCallRate++;
        const withDs = rng.float() < opts.dsFraction;
        if (withDs) result.nWithDs++;
        const fixed = `${block.chrom}\t${pos}\t${id}\t${ref}\t${alt}\t.\t${filter}\tAC=${ac[j]};AN=${an[j]};AF=${fmt(af, 6)};CSQ=${csq}${scores}\t${withDs ? 'GT:DS' : 'GT'}`;
        const row = j * stride;
        const mrow = j * n;
        const recordStart = writer.uncompressedBytes;
        if (!withDs && an[j] === nHap) {
          const o = line.write(fixed, 0, 'latin1');
          const first = writer.write(line, 0, o);
          if (first) await first;
          const base = row >>> 1;
          for (let i = 0; i < n; i++) geno32[i] = gtWord[hap16[base + i]];
          geno[4 * n] = 10;
          const rest = writer.write(geno, 0, 4 * n + 1);
          if (rest) await rest;
        } else {
          let o = line.write(fixed, 0, 'latin1');
          for (let i = 0; i < n; i++) {
            line[o] = 9;
            if (missing[mrow + i]) {
              line[o + 1] = 46;
              line[o + 2] = 47;
              line[o + 3] = 46;
              o += 4;
              if (withDs) {
                line[o] = 58;
                line[o + 1] = 46;
                o += 2;
              }
            } else {
              const a = hap[row + 2 * i];
              const b = hap[row + 2 * i + 1];
              line[o + 1] = 48 + a;
              line[o + 2] = 124;
              line[o + 3] = 48 + b;
              o += 4;
              if (withDs) {
                line[o] = 58;
                line[o + 1] = 48 + a + b;
                o += 2;
              }
            }
          }
          line[o++] = 10;
          const pending = writer.write(line, 0, o);
          if (pending) await pending;
        }
        result.nVariants++;
        index.add(block.chrom, pos - 1, pos - 1 + ref.length, recordStart, writer.uncompressedBytes);

        if (j === causalJ) {
          const dosage = new Uint8Array(n);
          for (let i = 0; i < n; i++) dosage[i] = hap[row + 2 * i] + hap[row + 2 * i + 1];
          result.causal.push({ ...ref0, key: block.causal!, dosage });
        }
        if (anc?.blocks.has(block.index)) {
          anc.extendSpan(block.chrom, pos, j === 0);
          if (common[j] && an[j] === nHap) anc.consider(ref0, hap, row);
        }
        if (j === polyJ && polygenic) addPolygenic(polygenic, ref0, hap, row, n, polyRng.normal());
        if (polygenic && (block.polygenic || block.causal)) {
          if (j === 0) polygenic.spans.push({ chrom: block.chrom, start: pos, end: pos, key: block.causal });
          else polygenic.spans[polygenic.spans.length - 1].end = pos;
        }
        if (
          !isGene &&
          !block.causal &&
          !block.polygenic &&
          !nullTaken &&
          common[j] &&
          maf >= 0.05 &&
          !causalChroms.has(block.chrom)
        ) {
          result.nullCandidates.push(ref0);
          nullTaken = true;
        }
      }
      // A polygenic block without a common variant holds no causal variant after all.
      if (polygenic && block.polygenic && !block.causal && polyJ < 0) polygenic.spans.pop();
      if (geneCarrier) {
        let c = 0;
        for (let i = 0; i < n; i++) c += geneCarrier[i];
        gene!.plofCarriers = c;
        if (isBurden) result.burdenCarrier.set(geneCarrier);
      }
      await opts.onBlock?.(block.index + 1, plan.blocks.length);
    }
    result.ancestrySpecific = anc?.result();
    for (const w of writers) await w.close();
    if (opts.tabixIndex)
      for (let f = 0; f < writers.length; f++) await indexes[f].finish(`${opts.paths[f]}.tbi`, writers[f]);
  } catch (err) {
    for (const w of writers) await w.abort();
    throw err;
  }
  return result;
}
