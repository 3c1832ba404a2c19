/**
 * Variant consequence annotations from INFO: VEP `CSQ` (field order from the header's
 * `Format:`) and SnpEff `ANN` (fixed order: Allele | Annotation | Annotation_Impact |
 * Gene_Name | …). For each ALT allele the most severe consequence is kept, with its gene
 * symbol and impact. Severity follows the Ensembl calculated-consequence ranking
 * (https://www.ensembl.org/info/genome/variation/prediction/predicted_data.html).
 */

/** Sequence Ontology terms, most severe first (Ensembl VEP order). */
const SO_ORDER = [
  'transcript_ablation',
  'splice_acceptor_variant',
  'splice_donor_variant',
  'stop_gained',
  'frameshift_variant',
  'stop_lost',
  'start_lost',
  'transcript_amplification',
  'feature_elongation',
  'feature_truncation',
  'inframe_insertion',
  'inframe_deletion',
  'missense_variant',
  'protein_altering_variant',
  'splice_donor_5th_base_variant',
  'splice_region_variant',
  'splice_donor_region_variant',
  'splice_polypyrimidine_tract_variant',
  'incomplete_terminal_codon_variant',
  'start_retained_variant',
  'stop_retained_variant',
  'synonymous_variant',
  'coding_sequence_variant',
  'mature_miRNA_variant',
  '5_prime_UTR_variant',
  '3_prime_UTR_variant',
  'non_coding_transcript_exon_variant',
  'intron_variant',
  'NMD_transcript_variant',
  'non_coding_transcript_variant',
  'coding_transcript_variant',
  'upstream_gene_variant',
  'downstream_gene_variant',
  'TFBS_ablation',
  'TFBS_amplification',
  'TF_binding_site_variant',
  'regulatory_region_ablation',
  'regulatory_region_amplification',
  'regulatory_region_variant',
  'intergenic_variant',
  'sequence_variant',
];
const RANK = new Map(SO_ORDER.map((t, i) => [t, i]));
/** SnpEff spellings that differ from VEP's. */
const SNPEFF_ALIASES: Record<string, string> = {
  '5_prime_UTR_premature_start_codon_gain_variant': '5_prime_UTR_variant',
  exon_loss_variant: 'transcript_ablation',
  intragenic_variant: 'intron_variant',
  conservative_inframe_insertion: 'inframe_insertion',
  disruptive_inframe_insertion: 'inframe_insertion',
  conservative_inframe_deletion: 'inframe_deletion',
  disruptive_inframe_deletion: 'inframe_deletion',
};

function termRank(term: string): number {
  return RANK.get(SNPEFF_ALIASES[term] ?? term) ?? SO_ORDER.length;
}

export interface AlleleAnnotation {
  gene: string | null;
  consequence: string | null;
  impact: string | null;
  /** Numeric CSQ scores by column name (cadd, revel), max over entries; absent when none. */
  scores: Record<string, number>;
  rank: number;
}

/** CSQ sub-fields kept as numeric score columns, by column name. */
export const CSQ_SCORE_FIELDS: Record<string, string[]> = {
  cadd: ['CADD_PHRED'],
  revel: ['REVEL', 'REVEL_score', 'REVEL_SCORE'],
};

/**
 * VEP writes alleles without the base shared by REF and every ALT (and `-` for empty).
 * Returns the VEP spelling of each ALT allele.
 */
export function vepAlleles(ref: string, alts: string[]): string[] {
  const shared =
    alts.every((a) => a.length > 0 && ref.length > 0 && a[0] === ref[0]) &&
    alts.some((a) => a.length !== ref.length);
  return alts.map((a) => (shared ? a.slice(1) || '-' : a));
}

export interface CsqLayout {
  allele: number;
  consequence: number;
  symbol: number;
  gene: number;
  impact: number;
  alleleNum: number;
  scores: Array<{ column: string; index: number }>;
}

export function csqLayout(fields: string[]): CsqLayout {
  const idx = (name: string) => fields.indexOf(name);
  const scores: Array<{ column: string; index: number }> = [];
  for (const [column, names] of Object.entries(CSQ_SCORE_FIELDS)) {
    const index = fields.findIndex((f) => names.includes(f));
    if (index >= 0) scores.push({ column, index });
  }
  return {
    allele: idx('Allele'),
    consequence: idx('Consequence'),
    symbol: idx('SYMBOL'),
    gene: idx('Gene'),
    impact: idx('IMPACT'),
    alleleNum: idx('ALLELE_NUM'),
    scores,
  };
}

function mostSevere(terms: string): { term: string; rank: number } {
  let best = '';
  let rank = Number.POSITIVE_INFINITY;
  for (const t of terms.split('&')) {
    const r = termRank(t);
    if (r < rank) {
      rank = r;
      best = t;
    }
  }
  return { term: best, rank };
}

function empty(): AlleleAnnotation {
  return { gene: null, consequence: null, impact: null, scores: {}, rank: Number.POSITIVE_INFINITY };
}

/**
 * Most severe VEP consequence per ALT allele.
 * @param value the CSQ INFO value (comma-separated entries)
 * @returns one annotation per ALT allele, in ALT order
 */
export function parseCsq(value: string, layout: CsqLayout, ref: string, alts: string[]): AlleleAnnotation[] {
  const out = alts.map(empty);
  const spelled = vepAlleles(ref, alts);
  for (const entry of value.split(',')) {
    const f = entry.split('|');
    let a = -1;
    if (layout.alleleNum >= 0 && f[layout.alleleNum]) a = Number(f[layout.alleleNum]) - 1;
    else if (layout.allele >= 0) {
      a = spelled.indexOf(f[layout.allele]);
      if (a < 0) a = alts.indexOf(f[layout.allele]);
    }
    if (a < 0 || a >= alts.length) continue;
    const target = out[a];
    for (const s of layout.scores) {
      const v = Number(f[s.index]);
      if (f[s.index] && Number.isFinite(v))
        target.scores[s.column] = Math.max(target.scores[s.column] ?? v, v);
    }
    if (layout.consequence < 0) continue;
    const { term, rank } = mostSevere(f[layout.consequence] ?? '');
    if (rank < target.rank) {
      target.rank = rank;
      target.consequence = term || null;
      target.gene = (layout.symbol >= 0 && f[layout.symbol]) || (layout.gene >= 0 && f[layout.gene]) || null;
      target.impact = (layout.impact >= 0 && f[layout.impact]) || null;
    }
  }
  return out;
}

/** Most severe SnpEff `ANN` consequence per ALT allele (fields: Allele|Annotation|Impact|Gene_Name|…). */
export function parseAnn(value: string, alts: string[]): AlleleAnnotation[] {
  const out = alts.map(empty);
  for (const entry of value.split(',')) {
    const f = entry.split('|');
    const a = alts.indexOf(f[0]);
    if (a < 0) continue;
    const { term, rank } = mostSevere(f[1] ?? '');
    const target = out[a];
    if (rank < target.rank) {
      target.rank = rank;
      target.consequence = term || null;
      target.impact = f[2] || null;
      target.gene = f[3] || null;
    }
  }
  return out;
}
