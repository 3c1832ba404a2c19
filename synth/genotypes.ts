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
 *
 * Memory: one block of haplotypes (variants × 2N bytes) and one VCF line; nothing grows
 * with the number of variants except small per-variant summaries kept for truth.json.
 */
import { BgzfWriter } from './bgzf.js';
import { CHROM_LENGTHS, GENES, type GenomePlan } from './genome.js';
import type { Persons } from './persons.js';
import { Rng } from './prng.js';
import { TabixIndexBuilder } from './tabix.js';

const BASES = ['A', 'C', 'G', 'T'] as const;
export const CSQ_FORMAT = 'Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|CANONICAL';
export const PLOF_CONSEQUENCES = [
  'stop_gained',
  'frameshift_variant',
  'splice_donor_variant',
  'splice_acceptor_variant',
  'start_lost',
] as const;

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
}

type Annot = {
  consequence: string;
  impact: string;
  cadd: number;
  revel?: number;
};

function geneAnnotation(rng: Rng, forcePlof: boolean): Annot {
  const u = forcePlof ? 0 : rng.float();
  if (u < 0.16) {
    const c = PLOF_CONSEQUENCES[rng.int(PLOF_CONSEQUENCES.length)];
    return { consequence: c, impact: 'HIGH', cadd: rng.uniform(25, 48) };
  }
  if (u < 0.6)
    return {
      consequence: 'missense_variant',
      impact: 'MODERATE',
      cadd: rng.uniform(5, 34),
      revel: rng.beta(0.8, 2),
    };
  if (u < 0.82) return { consequence: 'synonymous_variant', impact: 'LOW', cadd: rng.uniform(0, 14) };
  if (u < 0.9) return { consequence: 'splice_region_variant', impact: 'LOW', cadd: rng.uniform(3, 20) };
  if (u < 0.95) return { consequence: '3_prime_UTR_variant', impact: 'MODIFIER', cadd: rng.uniform(0, 12) };
  return { consequence: 'intron_variant', impact: 'MODIFIER', cadd: rng.uniform(0, 10) };
}

function fmt(x: number, digits: number): string {
  return String(Number(x.toFixed(digits)));
}

/** Write the genotype VCF(s). Resolves once every file is closed. */
export async function writeGenotypes(opts: GenotypeOptions): Promise<GenotypeResult> {
  const { persons, plan, seed } = opts;
  const n = persons.n;
  const nHap = 2 * n;
  const nPop = 3;
  // Haplotype indices per ancestry group.
  const popHaps: Int32Array[] = [];
  for (let k = 0; k < nPop; k++) {
    let c = 0;
    for (let i = 0; i < n; i++) if (persons.ancestry[i] === k) c++;
    const arr = new Int32Array(2 * c);
    let o = 0;
    for (let i = 0; i < n; i++)
      if (persons.ancestry[i] === k) {
        arr[o++] = 2 * i;
        arr[o++] = 2 * i + 1;
      }
    popHaps.push(arr);
  }
  const hapPop = new Uint8Array(nHap);
  for (let i = 0; i < n; i++) hapPop[2 * i] = hapPop[2 * i + 1] = persons.ancestry[i];

  const maxBlock = plan.blocks.reduce((m, b) => Math.max(m, b.nVariants), 0);
  const hap = new Uint8Array(maxBlock * nHap);
  const missing = new Uint8Array(maxBlock * n);
  const founderOf = new Uint8Array(nHap);
  const nextRec = new Float64Array(nHap);
  const nextMut = new Float64Array(nHap);
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
  const F = opts.fst;
  const alpha = (1 - F) / F;
  const pMin = 1 / (4 * n);
  const popShare = popHaps.map((h) => Math.max(1, h.length) / nHap);
  const popCum = [popShare[0], popShare[0] + popShare[1], 1];

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
  const causalChroms = new Set(plan.blocks.filter((b) => b.causal).map((b) => b.chrom));

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
      hap.fill(0, 0, V * nHap);
      missing.fill(0, 0, V * n);

      // --- draw the block's variants ---
      const common = new Uint8Array(V);
      const annots: (Annot | undefined)[] = new Array(V);
      const popFreq = new Float64Array(V * nPop);
      const missRate = new Float64Array(V);
      const pCommon = block.causal ? 0.6 : 0.3;
      const nPlofBurden = isBurden ? Math.max(6, Math.round(V * 0.25)) : 0;
      for (let j = 0; j < V; j++) {
        if (isGene) {
          const a = geneAnnotation(
            rng,
            j % Math.max(1, Math.floor(V / Math.max(1, nPlofBurden))) === 0 && isBurden,
          );
          annots[j] = a;
          let p: number;
          if (isBurden && PLOF_CONSEQUENCES.includes(a.consequence as (typeof PLOF_CONSEQUENCES)[number])) {
            p = 0; // set below, once the pLoF count is known
          } else {
            const hi = a.impact === 'HIGH' ? 0.002 : a.impact === 'MODERATE' ? 0.01 : 0.03;
            p = Math.exp(rng.uniform(Math.log(pMin), Math.log(hi)));
          }
          for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = p;
        } else if (rng.float() < pCommon) {
          common[j] = 1;
        } else {
          const p = Math.exp(rng.uniform(Math.log(pMin), Math.log(0.05)));
          if (p >= 0.005) {
            for (let k = 0; k < nPop; k++)
              popFreq[j * nPop + k] = rng.beta((p * (1 - F)) / F, ((1 - p) * (1 - F)) / F);
          } else {
            // Very rare variants are mostly private to the group where they arose.
            const origin = rng.pickCumulative(popCum);
            for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = k === origin ? p / popShare[k] : 0.05 * p;
          }
        }
        const u = rng.float();
        missRate[j] =
          block.causal || isBurden
            ? 0
            : u < 0.85
              ? 0
              : u < 0.99
                ? rng.uniform(0, 0.02)
                : rng.uniform(0.05, 0.2);
      }
      if (isBurden) {
        const plofIdx: number[] = [];
        for (let j = 0; j < V; j++)
          if (PLOF_CONSEQUENCES.includes(annots[j]!.consequence as (typeof PLOF_CONSEQUENCES)[number]))
            plofIdx.push(j);
        const each = opts.burdenCarrierFreq / (2 * Math.max(1, plofIdx.length));
        for (const j of plofIdx) {
          const p = each * rng.uniform(0.5, 1.5);
          for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = p;
        }
      }

      // Founder haplotypes for the block's common variants.
      const commonIdx: number[] = [];
      for (let j = 0; j < V; j++) if (common[j]) commonIdx.push(j);
      if (commonIdx.length > 0) {
        const H = 4 + rng.int(5);
        const Vc = commonIdx.length;
        const founders = new Uint8Array(H * Vc);
        for (let c = 0; c < Vc; c++) {
          const p = rng.uniform(0.05, 0.5);
          let ones = 0;
          for (let f = 0; f < H; f++) ones += founders[f * Vc + c] = rng.float() < p ? 1 : 0;
          if (ones === 0 || ones === H) {
            const f = rng.int(H);
            founders[f * Vc + c] ^= 1;
          }
          if (rng.float() < 0.1) for (let f = 0; f < H; f++) founders[f * Vc + c] ^= 1;
        }
        const w0 = rng.dirichlet(new Array(H).fill(1.5));
        const cums = [0, 1, 2].map(() => {
          const w = rng.dirichlet(w0.map((x) => Math.max(1e-3, x * alpha)));
          const cum = new Float64Array(H);
          let s = 0;
          for (let f = 0; f < H; f++) cum[f] = s += w[f];
          return cum;
        });
        const rho = rng.uniform(0.01, 0.08);
        const mu = 0.002;
        for (let h = 0; h < nHap; h++) {
          founderOf[h] = rng.pickCumulative(cums[hapPop[h]]);
          nextRec[h] = 1 + rng.skip(rho);
          nextMut[h] = rng.skip(mu);
        }
        for (let c = 0; c < Vc; c++) {
          const row = commonIdx[c] * nHap;
          for (let h = 0; h < nHap; h++) {
            if (nextRec[h] <= c) {
              founderOf[h] = rng.pickCumulative(cums[hapPop[h]]);
              nextRec[h] = c + 1 + rng.skip(rho);
            }
            let a = founders[founderOf[h] * Vc + c];
            if (nextMut[h] <= c) {
              a ^= 1;
              nextMut[h] = c + 1 + rng.skip(mu);
            }
            hap[row + h] = a;
          }
        }
      }
      // Independent (rare) variants: jump from carrier allele to carrier allele.
      for (let j = 0; j < V; j++) {
        if (common[j]) continue;
        const row = j * nHap;
        for (let k = 0; k < nPop; k++) {
          const p = popFreq[j * nPop + k];
          const haps = popHaps[k];
          if (p <= 0) continue;
          for (let t = rng.skip(p); t < haps.length; t += 1 + rng.skip(p)) hap[row + haps[t]] = 1;
        }
      }
      // Variants drawn with no copy become singletons, except ~10% kept monomorphic (as in a
      // subset of a larger call set). Planted and burden-gene variants always segregate.
      for (let j = 0; j < V; j++) {
        if (common[j]) continue;
        const row = j * nHap;
        let any = 0;
        for (let h = 0; h < nHap && !any; h++) any = hap[row + h];
        if (!any && (isBurden || rng.float() < 0.9)) hap[row + rng.int(nHap)] = 1;
      }
      for (let j = 0; j < V; j++) {
        const m = missRate[j];
        if (m <= 0) continue;
        for (let i = rng.skip(m); i < n; i += 1 + rng.skip(m)) missing[j * n + i] = 1;
      }

      // --- allele counts, planted variant choice ---
      const ac = new Int32Array(V);
      const an = new Int32Array(V);
      for (let j = 0; j < V; j++) {
        let a = 0;
        let called = 0;
        const row = j * nHap;
        const mrow = j * n;
        if (missRate[j] <= 0) {
          for (let h = row; h < row + nHap; h++) a += hap[h];
          ac[j] = a;
          an[j] = nHap;
          continue;
        }
        for (let i = 0; i < n; i++) {
          if (missing[mrow + i]) continue;
          called++;
          a += hap[row + 2 * i] + hap[row + 2 * i + 1];
        }
        ac[j] = a;
        an[j] = 2 * called;
      }
      let causalJ = -1;
      if (block.causal) {
        let best = Number.POSITIVE_INFINITY;
        for (let j = 0; j < V; j++) {
          if (!common[j] || an[j] === 0) continue;
          const af = ac[j] / an[j];
          const maf = Math.min(af, 1 - af);
          const score = Math.abs(maf - 0.3);
          if (score < best) {
            best = score;
            causalJ = j;
          }
        }
        if (causalJ < 0) throw new Error(`planted block ${block.index} has no common variant`);
      }

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
        const id = `${block.chrom}:${pos}:${ref}:${alt}`;
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
            const row = j * nHap;
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
        const row = j * nHap;
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
        if (
          !isGene &&
          !block.causal &&
          !nullTaken &&
          common[j] &&
          maf >= 0.05 &&
          !causalChroms.has(block.chrom)
        ) {
          result.nullCandidates.push(ref0);
          nullTaken = true;
        }
      }
      if (geneCarrier) {
        let c = 0;
        for (let i = 0; i < n; i++) c += geneCarrier[i];
        gene!.plofCarriers = c;
        if (isBurden) result.burdenCarrier.set(geneCarrier);
      }
      await opts.onBlock?.(block.index + 1, plan.blocks.length);
    }
    for (const w of writers) await w.close();
    if (opts.tabixIndex)
      for (let f = 0; f < writers.length; f++) await indexes[f].finish(`${opts.paths[f]}.tbi`, writers[f]);
  } catch (err) {
    for (const w of writers) await w.abort();
    throw err;
  }
  return result;
}
