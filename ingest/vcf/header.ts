/**
 * VCF header: meta lines (`##INFO=<…>`, `##FORMAT=<…>`) and the `#CHROM` line. Parsed once
 * per file; everything per record lives in `record.ts`.
 */
import { InputError } from '../../engine/errors.js';
import { CATALOG_VARIANT_COLUMNS } from '../../schemas/release.js';

export interface InfoDef {
  id: string;
  number: string;
  type: string;
  description: string;
}

export interface VcfHeader {
  /** Sample ids in column order (sample_idx = position). */
  samples: string[];
  /** INFO definitions by id. */
  info: Map<string, InfoDef>;
  /** FORMAT ids declared in the header. */
  format: Set<string>;
  /** VEP `CSQ` field order from the header's `Format:` description, if CSQ is declared. */
  csqFields: string[] | null;
  /** True when SnpEff `ANN` is declared. */
  hasAnn: boolean;
  /** 1-based line number of the `#CHROM` line. */
  chromLine: number;
  /** Number of header lines (all lines starting with '#'). */
  headerLines: number;
  /** GRCh37/GRCh38 from `##reference` or `##contig=<…,assembly=…>`, null when the header names none. */
  assembly: string | null;
}

const FIXED = ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO'];

/** Parse `key=value,key="quoted, value"` from inside `<…>`. */
function parseStructured(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length) {
    const eq = body.indexOf('=', i);
    if (eq < 0) break;
    const key = body.slice(i, eq).trim();
    let value: string;
    let j = eq + 1;
    if (body[j] === '"') {
      let k = j + 1;
      let text = '';
      while (k < body.length && body[k] !== '"') {
        if (body[k] === '\\' && k + 1 < body.length) k++;
        text += body[k];
        k++;
      }
      value = text;
      j = k + 1;
    } else {
      const comma = body.indexOf(',', j);
      const end = comma < 0 ? body.length : comma;
      value = body.slice(j, end);
      j = end;
    }
    out[key] = value;
    i = body[j] === ',' ? j + 1 : j;
  }
  return out;
}

/**
 * Parse the header lines (each without its newline).
 * @param lines every line starting with `#`, in order, the `#CHROM` line last
 * @param file file name for error messages
 */
export function parseVcfHeader(lines: string[], file: string): VcfHeader {
  const assemblies = new Set<string>();
  const info = new Map<string, InfoDef>();
  const format = new Set<string>();
  if (lines.length === 0 || !lines[0].startsWith('##fileformat=VCF')) {
    throw new InputError('not a VCF file: the first line must be ##fileformat=VCFv4.x', {
      file,
      line: 1,
      field: 'fileformat',
    });
  }
  let chrom: string[] | null = null;
  let chromLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('##INFO=<') || line.startsWith('##FORMAT=<')) {
      const isInfo = line.startsWith('##INFO');
      const body = line.slice(isInfo ? 8 : 10, line.lastIndexOf('>'));
      const kv = parseStructured(body);
      if (!kv.ID) throw new InputError('header definition without ID', { file, line: i + 1, field: 'ID' });
      if (isInfo)
        info.set(kv.ID, {
          id: kv.ID,
          number: kv.Number ?? '.',
          type: kv.Type ?? 'String',
          description: kv.Description ?? '',
        });
      else format.add(kv.ID);
    } else if (line.startsWith('##reference=')) {
      const a = normalizeAssembly(line.slice('##reference='.length));
      if (a) assemblies.add(a);
    } else if (line.startsWith('##contig=<')) {
      const kv = parseStructured(line.slice(10, line.lastIndexOf('>')));
      const a = kv.assembly ? normalizeAssembly(kv.assembly) : undefined;
      if (a) assemblies.add(a);
    } else if (line.startsWith('#CHROM')) {
      chrom = line.split('\t');
      chromLine = i + 1;
      for (let c = 0; c < FIXED.length; c++) {
        if (chrom[c] !== FIXED[c])
          throw new InputError(`expected column ${FIXED[c]}, found ${chrom[c] ?? 'nothing'}`, {
            file,
            line: chromLine,
            field: `column ${c + 1}`,
          });
      }
      if (chrom.length > 8 && chrom[8] !== 'FORMAT')
        throw new InputError(`expected column FORMAT, found ${chrom[8]}`, {
          file,
          line: chromLine,
          field: 'column 9',
        });
    }
  }
  if (!chrom) throw new InputError('no #CHROM header line', { file, line: lines.length, field: '#CHROM' });
  const samples = chrom.slice(9);
  const seen = new Set<string>();
  for (const s of samples) {
    if (seen.has(s)) throw new InputError(`duplicate sample id ${s}`, { file, line: chromLine, field: s });
    seen.add(s);
  }
  const csq = info.get('CSQ');
  let csqFields: string[] | null = null;
  if (csq) {
    const m = /Format:\s*([^"]+)$/.exec(csq.description);
    if (!m) throw new InputError('CSQ header lacks "Format: …"', { file, field: 'INFO/CSQ' });
    csqFields = m[1].trim().split('|');
  }
  if (assemblies.size > 1)
    throw new InputError(`the header names two genome assemblies: ${[...assemblies].join(' and ')}`, {
      file,
      field: '##reference/##contig assembly',
    });
  return {
    samples,
    info,
    format,
    csqFields,
    hasAnn: info.has('ANN'),
    chromLine,
    headerLines: lines.length,
    assembly: [...assemblies][0] ?? null,
  };
}

/**
 * The genome assembly a name refers to, as GRCh37 or GRCh38, or undefined when it names neither.
 * Recognises the names in `##reference` (a FASTA path or URL such as
 * `Homo_sapiens_assembly38.fasta`, `hs37d5.fa.gz`, `GRCh38_full_analysis_set…`, `file:///…/hg19.fa`)
 * and in `##contig=<…,assembly=…>` (`GRCh38`, `hg38`, `b37`, `GRCh37.p13`, `NCBI37`).
 */
export function normalizeAssembly(name: string): 'GRCh37' | 'GRCh38' | undefined {
  const s = name.toLowerCase();
  if (/grch38|hg38|assembly38|\bb38\b|ncbi38|hs38/.test(s)) return 'GRCh38';
  if (/grch37|hg19|assembly19|human_g1k_v37|\bb37\b|ncbi37|hs37|\bv37\b/.test(s)) return 'GRCh37';
  return undefined;
}

/** INFO ids that clash with computed variant columns or are bookkeeping, not scores. */
const NOT_SCORES = new Set(['AF', 'AC', 'AN', 'NS', 'DP', 'END', 'MQ', 'MQ0', 'BQ', 'SB', 'SVLEN']);
/** Columns the ingest computes itself: an INFO score may not take one of these names. */
const RESERVED_COLUMNS = new Set<string>([...CATALOG_VARIANT_COLUMNS, 'n_called']);

export interface ScoreColumn {
  /** INFO id in the VCF. */
  infoId: string;
  /** Column name in variants.parquet (lower case, `[a-z0-9_]`). */
  column: string;
  /** `A` when one value per ALT allele, `1` when one per record. */
  perAllele: boolean;
}

/**
 * Numeric INFO annotations kept as DOUBLE columns: Float/Integer INFO fields with
 * Number=1 or Number=A (scores such as CADD_PHRED, REVEL), except the standard tags that
 * the engine recomputes. Column name = lower-cased id with other characters as `_`.
 */
export function scoreColumns(header: VcfHeader): ScoreColumn[] {
  const out: ScoreColumn[] = [];
  for (const def of header.info.values()) {
    if (def.type !== 'Float' && def.type !== 'Integer') continue;
    if (def.number !== '1' && def.number !== 'A') continue;
    if (NOT_SCORES.has(def.id.toUpperCase())) continue;
    let column = def.id.toLowerCase().replace(/[^a-z0-9_]/g, '_');
    if (!/^[a-z]/.test(column)) column = `info_${column}`;
    if (RESERVED_COLUMNS.has(column)) column = `info_${column}`;
    out.push({ infoId: def.id, column, perAllele: def.number === 'A' });
  }
  return out;
}
