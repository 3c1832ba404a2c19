/**
 * The synthetic genome: chromosome lengths (GRCh38), a gene table, and the plan of LD
 * blocks along each chromosome. The plan is cheap (a few numbers per block), so it is
 * built up front even for a million variants; genotypes are generated block by block.
 */
import { Rng } from './prng.js';

/** GRCh38 autosome lengths, written in the VCF header as `##contig`. */
export const CHROM_LENGTHS: readonly number[] = [
  248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717,
  133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285, 58617616,
  64444167, 46709983, 50818468,
];

export interface GeneSpec {
  symbol: string;
  ensemblId: string;
  chrom: string;
  /** Approximate GRCh38 start; only used to place the gene's block. */
  start: number;
}

/**
 * Genes whose blocks carry coding variants (pLoF, missense, synonymous, …). Symbols and
 * approximate positions are those of real genes so reports read naturally; the variants
 * themselves are synthetic. `LMNA` is the planted burden gene by default.
 */
export const GENES: readonly GeneSpec[] = [
  { symbol: 'PCSK9', ensemblId: 'ENSG00000169174', chrom: '1', start: 55039548 },
  { symbol: 'ANGPTL3', ensemblId: 'ENSG00000132855', chrom: '1', start: 62597487 },
  { symbol: 'FLG', ensemblId: 'ENSG00000143631', chrom: '1', start: 152302165 },
  { symbol: 'GBA1', ensemblId: 'ENSG00000177628', chrom: '1', start: 155234452 },
  { symbol: 'LMNA', ensemblId: 'ENSG00000160789', chrom: '1', start: 156082573 },
  { symbol: 'APOB', ensemblId: 'ENSG00000084674', chrom: '2', start: 21001429 },
  { symbol: 'MSH2', ensemblId: 'ENSG00000095002', chrom: '2', start: 47403067 },
  { symbol: 'TTN', ensemblId: 'ENSG00000155657', chrom: '2', start: 178525989 },
  { symbol: 'SCN5A', ensemblId: 'ENSG00000183873', chrom: '3', start: 38548057 },
  { symbol: 'SLC2A9', ensemblId: 'ENSG00000109667', chrom: '4', start: 9771153 },
  { symbol: 'ABCG2', ensemblId: 'ENSG00000118777', chrom: '4', start: 88090150 },
  { symbol: 'HMGCR', ensemblId: 'ENSG00000113161', chrom: '5', start: 75336329 },
  { symbol: 'LPA', ensemblId: 'ENSG00000198670', chrom: '6', start: 160531482 },
  { symbol: 'GCK', ensemblId: 'ENSG00000106633', chrom: '7', start: 44143213 },
  { symbol: 'CFTR', ensemblId: 'ENSG00000001626', chrom: '7', start: 117287120 },
  { symbol: 'SLC30A8', ensemblId: 'ENSG00000164756', chrom: '8', start: 116950273 },
  { symbol: 'IL33', ensemblId: 'ENSG00000137033', chrom: '9', start: 6215805 },
  { symbol: 'TCF7L2', ensemblId: 'ENSG00000148737', chrom: '10', start: 112950247 },
  { symbol: 'KCNQ1', ensemblId: 'ENSG00000053918', chrom: '11', start: 2444684 },
  { symbol: 'MYBPC3', ensemblId: 'ENSG00000134571', chrom: '11', start: 47331406 },
  { symbol: 'ATM', ensemblId: 'ENSG00000149311', chrom: '11', start: 108222484 },
  { symbol: 'APOC3', ensemblId: 'ENSG00000110245', chrom: '11', start: 116829907 },
  { symbol: 'HNF1A', ensemblId: 'ENSG00000135100', chrom: '12', start: 120978543 },
  { symbol: 'BRCA2', ensemblId: 'ENSG00000139618', chrom: '13', start: 32315474 },
  { symbol: 'MYH7', ensemblId: 'ENSG00000092054', chrom: '14', start: 23412740 },
  { symbol: 'TSHR', ensemblId: 'ENSG00000165409', chrom: '14', start: 80954989 },
  { symbol: 'PKD1', ensemblId: 'ENSG00000008710', chrom: '16', start: 2088708 },
  { symbol: 'TP53', ensemblId: 'ENSG00000141510', chrom: '17', start: 7661779 },
  { symbol: 'BRCA1', ensemblId: 'ENSG00000012048', chrom: '17', start: 43044295 },
  { symbol: 'TTR', ensemblId: 'ENSG00000118271', chrom: '18', start: 31591766 },
  { symbol: 'LDLR', ensemblId: 'ENSG00000130164', chrom: '19', start: 11089462 },
  { symbol: 'APOE', ensemblId: 'ENSG00000130203', chrom: '19', start: 44905796 },
  { symbol: 'CHEK2', ensemblId: 'ENSG00000183765', chrom: '22', start: 28687743 },
];

/** One LD block: a run of nearby variants generated together. */
export interface BlockPlan {
  /** 0-based index over the whole genome, in genome order. */
  index: number;
  chrom: string;
  /** Position of the block's first variant. */
  start: number;
  /** Mean spacing between consecutive variants, bp. */
  spacing: number;
  nVariants: number;
  /** Index into `GENES` for a gene block (coding variants), else -1. */
  gene: number;
  /** Set when a planted common causal variant lives in this block. */
  causal?: string;
  /** Set (families only) when one small-effect causal variant of the polygenic trait lives here. */
  polygenic?: boolean;
}

export interface GenomePlan {
  chroms: string[];
  blocks: BlockPlan[];
  nVariants: number;
}

/** Variants per gene block for a genome of `nVariants`. */
export function geneBlockSize(nVariants: number): number {
  return Math.max(16, Math.min(120, Math.round(nVariants * 0.0025)));
}

/**
 * Lay out `nVariants` over chromosomes 1–22 (proportional to length): gene blocks at the
 * genes' positions, and regular LD blocks of 8–48 variants spread along each chromosome.
 */
export function planGenome(seed: number, nVariants: number, chromCount = 22): GenomePlan {
  const rng = new Rng(seed, 'genome-plan');
  const chroms = Array.from({ length: chromCount }, (_, i) => String(i + 1));
  const lengths = CHROM_LENGTHS.slice(0, chromCount);
  const totalLength = lengths.reduce((a, b) => a + b, 0);
  const genesPerChrom = chroms.map((c) =>
    GENES.map((g, i) => (g.chrom === c ? i : -1)).filter((i) => i >= 0),
  );
  const perGene = geneBlockSize(nVariants);
  // Share of variants per chromosome; largest-remainder rounding so the total is exact.
  const raw = lengths.map((l) => (nVariants * l) / totalLength);
  const counts = raw.map(Math.floor);
  let missing = nVariants - counts.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; missing > 0; k++, missing--) counts[order[k % order.length][1]]++;

  const blocks: BlockPlan[] = [];
  for (let ci = 0; ci < chroms.length; ci++) {
    const chrom = chroms[ci];
    const len = lengths[ci];
    let budget = counts[ci];
    const specs: { anchor: number; n: number; gene: number }[] = [];
    for (const g of genesPerChrom[ci]) {
      const n = Math.min(perGene, Math.floor(budget / 2));
      if (n < 4) continue;
      specs.push({ anchor: GENES[g].start, n, gene: g });
      budget -= n;
    }
    const sizes: number[] = [];
    while (budget > 0) {
      const n = Math.min(budget, 8 + rng.int(41));
      sizes.push(n);
      budget -= n;
    }
    const margin = 1_000_000;
    const usable = len - 2 * margin;
    sizes.forEach((n, k) => {
      const anchor = margin + Math.floor(((k + 0.5 + 0.4 * (rng.float() - 0.5)) * usable) / sizes.length);
      specs.push({ anchor, n, gene: -1 });
    });
    specs.sort((a, b) => a.anchor - b.anchor || a.gene - b.gene);
    const nChrom = counts[ci];
    // Mean spacing so that the worst case (2 × spacing per step) fits in 80% of the chromosome, at most 1.5 kb.
    const meanSpacing = Math.max(2, Math.min(1500, Math.floor((0.4 * len) / Math.max(1, nChrom))));
    let cursor = 10_000;
    for (const s of specs) {
      const spacing = s.gene >= 0 ? Math.max(2, Math.min(400, meanSpacing)) : meanSpacing;
      const start = Math.max(s.anchor, cursor + 1000);
      blocks.push({ index: blocks.length, chrom, start, spacing, nVariants: s.n, gene: s.gene });
      // Each step is at most 2 × spacing, so the block ends before this bound.
      cursor = start + 2 * spacing * s.n;
    }
    if (cursor >= len) throw new Error(`synthetic genome plan overflows chromosome ${chrom}`);
  }
  return { chroms, blocks, nVariants };
}
