/**
 * The viewer's search: rsid, chr:pos, a full variant id, a phecode, or a gene symbol. Variants
 * are looked up in the runs' GWAS results and in the meta runs' `meta_results` (a variant of a
 * meta-analysis need not be in any local GWAS), and a full variant id also in the PheWAS and
 * PheWAS meta-analysis rows.
 */
import {
  findVariants,
  knownGene,
  knownPhecode,
  phewasForPredictor,
  variantGwasRows,
} from '../report/data.js';
import { findMetaVariants, metaVariantRows } from '../report/data-meta.js';
import { metaPhewasForPredictor } from '../report/data-meta-phewas.js';
import type { EngineConfig } from '../temporal.config.js';
import { GENE, links, VARIANT_ID } from './routes-common.js';

const RSID = /^rs[0-9]{1,12}$/i;
const CHR_POS = /^(?:chr)?([0-9]{1,2}|X|Y|MT?)[:_\s-]([0-9][0-9,]{0,14})$/i;
const PHECODE_LIKE = /^([0-9]{3}(\.[0-9]{1,2})?|[A-Z]{2}_[0-9]{3}(\.[0-9]{1,2})?)$/i;

export interface SearchHit {
  type: 'variant' | 'gene' | 'phecode';
  id: string;
  label: string;
  url: string;
}

/** Resolve a search: rsid, chr:pos, a full variant id, a phecode, or a gene symbol. */
export async function search(config: EngineConfig, raw: string): Promise<SearchHit[]> {
  const q = raw.trim();
  if (q === '' || q.length > 200) return [];
  const variantHits = (vs: { variant_id: string; rsid: string | null }[]): SearchHit[] =>
    vs.map((v) => ({
      type: 'variant',
      id: v.variant_id,
      label: v.rsid ? `${v.variant_id} (${v.rsid})` : v.variant_id,
      url: links.variant?.(v.variant_id) as string,
    }));
  if (RSID.test(q)) return variantHits(await findVariants(config, { rsid: q.toLowerCase() }));
  const cp = CHR_POS.exec(q);
  if (cp) {
    const chrom = cp[1].toUpperCase();
    const at = { chrom, pos: Number(cp[2].replaceAll(',', '')) };
    const [gwas, meta] = await Promise.all([findVariants(config, at), findMetaVariants(config, at)]);
    const seen = new Set(gwas.map((v) => v.variant_id));
    return variantHits([...gwas, ...meta.filter((v) => !seen.has(v.variant_id))]);
  }
  if (VARIANT_ID.test(q)) {
    const rows = await variantGwasRows(config, q);
    const found =
      rows.length > 0 ||
      (await phewasForPredictor(config, q)).length > 0 ||
      (await metaVariantRows(config, q)).length > 0 ||
      (await metaPhewasForPredictor(config, q)).length > 0;
    return found ? variantHits([{ variant_id: q, rsid: rows[0]?.rsid ?? null }]) : [];
  }
  const hits: SearchHit[] = [];
  if (PHECODE_LIKE.test(q) && (await knownPhecode(config, q)))
    hits.push({ type: 'phecode', id: q, label: `phecode ${q}`, url: links.phecode?.(q) as string });
  if (GENE.test(q)) {
    for (const g of [...new Set([q, q.toUpperCase()])])
      if (await knownGene(config, g)) {
        hits.push({ type: 'gene', id: g, label: `gene ${g}`, url: links.gene?.(g) as string });
        break;
      }
  }
  return hits;
}
