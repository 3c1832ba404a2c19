/**
 * The meta-analysis core: k summary-statistics tables with labels in, per-variant meta-analysis
 * Parquet out. Nothing here knows where the tables came from (sites' files, strata of a study),
 * so stratified studies reuse it.
 *
 * Per chromosome (so memory stays bounded: one chromosome's k × m matrices at a time):
 *  1. DuckDB joins the k inputs on (chrom, pos, allele pair up to order and strand) — a sort on
 *     the key that yields one column per variant (ingest/sumstats.ts `loadMetaMatrix`);
 *  2. stats/meta.ts aligns alleles (`alignAlleles`: swapped alleles flip β, strand flips are
 *     resolved, A/T and C/G SNPs with EAF within (ambiguousMaf, 1 − ambiguousMaf) or unknown are
 *     dropped) and meta-analyses the aligned β/SE (`metaAnalyse`: fixed IVW, sample-size z,
 *     DerSimonian–Laird, Q, I², direction, k). The formulas and their references are in
 *     stats/meta.ts;
 *  3. the rows go back to DuckDB through data chunks and are written as Parquet:
 *     `parts/<i>.parquet` (meta_results columns without run_id), `sig/<i>.parquet` (every input's
 *     aligned β and SE for variants with p below `significantP`: lead loci, forest plots and
 *     leave-one-out need no second pass over the inputs), `dropped/<i>.parquet` (each entry the
 *     alignment dropped, with its reason), `insig/<i>.parquet` (every input's own significant
 *     variants: the input's p below `significantP`, read by DuckDB from the input's Parquet, with
 *     the variant's pooled statistics and the number of inputs significant there; meta/loci.ts
 *     clumps them into each input's own lead loci) and, with `leaveOneOutAll`, `loo/<i>.parquet`.
 *     `parts/<i>.json` is written last and marks the chromosome done: a resumed run skips it.
 *
 * A sample size per entry comes from the file's `n` column, else the input's n as given; the
 * sample-size z is NULL (status in stats/meta.ts) where an input has neither. Methods left out
 * of `methods` leave their columns NULL. Variants whose every entry was dropped keep a row
 * (status `no_inputs`, statistics NULL) so a drop is never silent.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  VARCHAR,
} from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, exists } from '../engine/fsutil.js';
import { alleleKeySql, loadMetaMatrix } from '../ingest/sumstats.js';
import type { META_METHODS } from '../schemas/meta.js';
import {
  ALIGN,
  alignAlleles,
  alignDrops,
  applyAlignment,
  LOO_STATUS,
  META_STATUS,
  metaAnalyse,
  metaLeaveOneOut,
} from '../stats/meta.js';
import { chromRankSql, lambdaGcOf } from './inputs.js';

/** One input of the core: a normalised summary-statistics Parquet (ingest/sumstats.ts columns). */
export interface MetaCoreInput {
  label: string;
  parquet: string;
  /** Sample size as given, used where the file has no per-variant n. */
  n: number | null;
}

export interface MetaCoreOptions {
  /** Folder for the parts (created; a resumed run reuses finished chromosomes). */
  outDir: string;
  ambiguousMaf: number;
  /** Infer A/T and C/G SNPs' strand from their allele frequencies (stats/meta.ts); default false. */
  inferStrand?: boolean;
  methods: readonly (typeof META_METHODS)[number][];
  /** Variants with fixed-effect p below this keep their per-input detail (`sig/`). */
  significantP: number;
  /** Also write leave-one-out rows for every variant (`loo/`). */
  leaveOneOutAll: boolean;
  /** Called after each chromosome (heartbeats, progress). */
  onChrom?: (done: number, total: number, chrom: string) => void;
}

/** What one chromosome produced (`parts/<i>.json`). */
export interface ChromSummary {
  chrom: string;
  m: number;
  analysed: number;
  byK: number[];
  strandAmbiguous: number[];
  alleleMismatch: number[];
  nSignificant: number;
}

export interface MetaCoreSummary {
  chroms: ChromSummary[];
  nVariants: number;
  nAnalysed: number;
  byK: number[];
  alignDropped: { strand_ambiguous: number; allele_mismatch: number }[];
  /** Globs of the written parts. */
  partsGlob: string;
  sigGlob: string;
  /** Every input's own significant variants, with the pooled statistics there (`insig/`). */
  inputSigGlob: string;
  droppedGlob: string;
  looGlob: string | null;
  lambdaGc: number | null;
  nSignificant: number;
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

export interface Column {
  name: string;
  type: DuckDBType;
  sql: string;
  get: (r: number) => DuckDBValue;
}

/** Create TEMP table `table` and fill it with `n` rows from column getters, in data chunks. */
export async function appendColumns(
  conn: DuckDBConnection,
  table: string,
  n: number,
  cols: Column[],
): Promise<void> {
  await conn.run(`DROP TABLE IF EXISTS ${sqlIdent(table)}`);
  await conn.run(
    `CREATE TEMP TABLE ${sqlIdent(table)} (${cols.map((c) => `${sqlIdent(c.name)} ${c.sql}`).join(', ')})`,
  );
  if (n === 0) return;
  const app = await conn.createAppender(table, 'main', 'temp');
  const types = cols.map((c) => c.type);
  const size = 2048;
  try {
    for (let start = 0; start < n; start += size) {
      const len = Math.min(size, n - start);
      const chunk = DuckDBDataChunk.create(types, len);
      for (let c = 0; c < cols.length; c++) {
        const values = new Array<DuckDBValue>(len);
        const get = cols[c].get;
        for (let r = 0; r < len; r++) values[r] = get(start + r);
        chunk.setColumnValues(c, values);
      }
      app.appendDataChunk(chunk);
    }
    app.flushSync();
  } finally {
    app.closeSync();
  }
}

const dbl = (name: string, get: (r: number) => number | null): Column => ({
  name,
  type: DOUBLE,
  sql: 'DOUBLE',
  get,
});
const int = (name: string, get: (r: number) => number | null): Column => ({
  name,
  type: INTEGER,
  sql: 'INTEGER',
  get,
});
const str = (name: string, get: (r: number) => string | null): Column => ({
  name,
  type: VARCHAR,
  sql: 'VARCHAR',
  get,
});

async function copyTo(conn: DuckDBConnection, select: string, target: string): Promise<void> {
  await atomicProduce(target, (tmp) =>
    conn.run(`COPY (${select}) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 16384)`),
  );
}

/** The chromosomes of the inputs, in genome order. */
async function chromosomes(conn: DuckDBConnection, inputs: readonly MetaCoreInput[]): Promise<string[]> {
  const files = `[${inputs.map((x) => sqlString(x.parquet)).join(', ')}]`;
  const rows = (
    await conn.runAndReadAll(
      `SELECT chrom FROM (SELECT DISTINCT chrom FROM read_parquet(${files})) ORDER BY ${chromRankSql('chrom')}, chrom`,
    )
  ).getRows();
  return rows.map((r) => String(r[0]));
}

/**
 * Every input's own significant variants on the chromosome (its p below the threshold; p written
 * as 0 counts as −log10 p = ∞), as (input, column of the chromosome's matrices). One filtered
 * scan of each input's Parquet, then one join to the variants table on `loadMetaMatrix`'s key.
 */
async function inputSignificant(
  conn: DuckDBConnection,
  views: readonly string[],
  variants: string,
  threshold: number,
): Promise<{ i: number; j: number; p: number; nlp: number }[]> {
  const nlp = `coalesce(neg_log10_p, CASE WHEN p = 0 THEN 'inf'::DOUBLE ELSE -log10(p) END)`;
  const own = views
    .map(
      (
        view,
        i,
      ) => `SELECT * FROM (SELECT ${i} AS input, chrom, pos, effect_allele, other_allele, p, ${nlp} AS nlp
        FROM ${sqlIdent(view)} WHERE p IS NOT NULL) WHERE nlp > ${threshold}`,
    )
    .join(' UNION ALL ');
  const rows = (
    await conn.runAndReadAll(
      `SELECT x.input, v.vid, x.p, x.nlp FROM (${own}) x JOIN ${sqlIdent(variants)} v
         ON v.chrom = x.chrom AND v.pos = x.pos AND v.allele_key = ${alleleKeySql('x.effect_allele', 'x.other_allele')}
       ORDER BY x.input, v.vid`,
    )
  ).getRows();
  return rows.map((r) => ({ i: Number(r[0]), j: Number(r[1]), p: Number(r[2]), nlp: Number(r[3]) }));
}

/** Meta-analyse one chromosome and write its parts. */
async function analyseChrom(
  conn: DuckDBConnection,
  inputs: readonly MetaCoreInput[],
  chrom: string,
  part: string,
  options: MetaCoreOptions,
): Promise<ChromSummary> {
  const k = inputs.length;
  const views = inputs.map((_, i) => `meta_in_${i}`);
  const variants = 'meta_variants';
  for (let i = 0; i < k; i++)
    await conn.run(
      `CREATE OR REPLACE TEMP VIEW ${views[i]} AS SELECT * FROM read_parquet(${sqlString(inputs[i].parquet)}) WHERE chrom = ${sqlString(chrom)}`,
    );
  await conn.run(`DROP TABLE IF EXISTS ${variants}`);
  const mx = await loadMetaMatrix(conn, views, variants);
  const { m, alleles } = mx;
  const posRows = (await conn.runAndReadAll(`SELECT pos FROM ${variants} ORDER BY vid`)).getRows();
  const pos = Float64Array.from(posRows, (r) => Number(r[0]));
  // per-entry n: the file's, else the input's as given
  for (let i = 0; i < k; i++) {
    const given = inputs[i].n ?? Number.NaN;
    for (let j = 0; j < m; j++) if (Number.isNaN(mx.n[i * m + j])) mx.n[i * m + j] = given;
  }
  const maf = options.ambiguousMaf;
  const al = alignAlleles(
    { k, m, effect: mx.effect, other: mx.other, eaf: mx.eaf },
    { ambiguousEaf: [maf, 1 - maf], inferStrand: options.inferStrand ?? false },
  );
  const aligned = applyAlignment({ k, m, beta: mx.beta, se: mx.se, n: mx.n, eaf: mx.eaf }, al);
  const res = metaAnalyse(aligned);
  // alleles of each row: the reference's, else (every entry dropped) the first entry's
  const eff = new Int32Array(m);
  const oth = new Int32Array(m);
  for (let j = 0; j < m; j++) {
    eff[j] = al.refEffect[j];
    oth[j] = al.refOther[j];
    for (let i = 0; i < k && eff[j] < 0; i++) {
      eff[j] = mx.effect[i * m + j];
      oth[j] = mx.other[i * m + j];
    }
  }
  const allele = (c: number) => (c >= 0 ? alleles[c] : null);
  const nMethod = options.methods.includes('sample-size');
  const reMethod = options.methods.includes('random');
  await appendColumns(conn, 'meta_out', m, [
    dbl('pos', (j) => pos[j]),
    str('effect_allele', (j) => allele(eff[j])),
    str('other_allele', (j) => allele(oth[j])),
    int('k', (j) => res.nInputs[j]),
    str('direction', (j) => res.direction[j]),
    dbl('beta', (j) => num(res.beta[j])),
    dbl('se', (j) => num(res.se[j])),
    dbl('z', (j) => num(res.z[j])),
    dbl('p', (j) => num(res.p[j])),
    dbl('neg_log10_p', (j) => num(res.mlog10p[j])),
    dbl('z_n', (j) => (nMethod ? num(res.zN[j]) : null)),
    dbl('p_n', (j) => (nMethod ? num(res.pN[j]) : null)),
    dbl('beta_random', (j) => (reMethod ? num(res.betaRe[j]) : null)),
    dbl('se_random', (j) => (reMethod ? num(res.seRe[j]) : null)),
    dbl('p_random', (j) => (reMethod ? num(res.pRe[j]) : null)),
    dbl('tau2', (j) => (reMethod ? num(res.tau2[j]) : null)),
    dbl('q', (j) => num(res.q[j])),
    dbl('q_p', (j) => num(res.qP[j])),
    dbl('i2', (j) => num(res.i2[j])),
    dbl('n', (j) => num(res.nTotal[j])),
    str('status', (j) => META_STATUS[res.status[j]]),
  ]);
  const dir = options.outDir;
  const c = sqlString(chrom);
  await copyTo(
    conn,
    `SELECT ${c} AS chrom, CAST(pos AS BIGINT) AS pos, * EXCLUDE (pos) FROM meta_out ORDER BY pos, effect_allele, other_allele`,
    join(dir, 'parts', `${part}.parquet`),
  );
  // per-input detail of significant variants
  const threshold = -Math.log10(options.significantP);
  const sig: number[] = [];
  for (let j = 0; j < m; j++) if (res.mlog10p[j] > threshold) sig.push(j);
  const at = (r: number) => (r % k) * m + sig[Math.floor(r / k)];
  await appendColumns(conn, 'meta_sig', sig.length * k, [
    dbl('pos', (r) => pos[sig[Math.floor(r / k)]]),
    str('effect_allele', (r) => allele(eff[sig[Math.floor(r / k)]])),
    str('other_allele', (r) => allele(oth[sig[Math.floor(r / k)]])),
    int('input_index', (r) => r % k),
    str('label', (r) => inputs[r % k].label),
    dbl('beta', (r) => num(aligned.beta[at(r)])),
    dbl('se', (r) => num(aligned.se[at(r)])),
    str('aligned', (r) => ALIGN[al.action[at(r)]]),
  ]);
  await copyTo(
    conn,
    `SELECT ${c} AS chrom, CAST(pos AS BIGINT) AS pos, * EXCLUDE (pos) FROM meta_sig ORDER BY pos, input_index`,
    join(dir, 'sig', `${part}.parquet`),
  );
  // every input's own significant variants, with the pooled row there
  const own = await inputSignificant(conn, views, variants, threshold);
  const nSig = new Int32Array(m);
  for (const r of own) nSig[r.j]++;
  const ownJ = (r: number) => own[r].j;
  const ownAt = (r: number) => own[r].i * m + own[r].j;
  await appendColumns(conn, 'meta_insig', own.length, [
    dbl('pos', (r) => pos[ownJ(r)]),
    str('effect_allele', (r) => allele(eff[ownJ(r)])),
    str('other_allele', (r) => allele(oth[ownJ(r)])),
    int('input_index', (r) => own[r].i),
    str('label', (r) => inputs[own[r].i].label),
    dbl('beta', (r) => num(aligned.beta[ownAt(r)])),
    dbl('se', (r) => num(aligned.se[ownAt(r)])),
    dbl('p', (r) => own[r].p),
    dbl('neg_log10_p', (r) => own[r].nlp),
    dbl('meta_beta', (r) => num(res.beta[ownJ(r)])),
    dbl('meta_p', (r) => num(res.p[ownJ(r)])),
    dbl('meta_neg_log10_p', (r) => num(res.mlog10p[ownJ(r)])),
    int('meta_k', (r) => res.nInputs[ownJ(r)]),
    dbl('q_p', (r) => num(res.qP[ownJ(r)])),
    dbl('i2', (r) => num(res.i2[ownJ(r)])),
    str('direction', (r) => res.direction[ownJ(r)]),
    int('n_inputs_significant', (r) => nSig[ownJ(r)]),
  ]);
  await copyTo(
    conn,
    `SELECT ${c} AS chrom, CAST(pos AS BIGINT) AS pos, * EXCLUDE (pos) FROM meta_insig ORDER BY input_index, pos`,
    join(dir, 'insig', `${part}.parquet`),
  );
  // dropped entries, with the input's own alleles
  const drops: number[] = [];
  for (let t = 0; t < k * m; t++) if (alignDrops(al.action[t])) drops.push(t);
  await appendColumns(conn, 'meta_drop', drops.length, [
    dbl('pos', (r) => pos[drops[r] % m]),
    str('effect_allele', (r) => allele(mx.effect[drops[r]])),
    str('other_allele', (r) => allele(mx.other[drops[r]])),
    str('label', (r) => inputs[Math.floor(drops[r] / m)].label),
    dbl('eaf', (r) => num(mx.eaf[drops[r]])),
    str('reason', (r) => ALIGN[al.action[drops[r]]]),
  ]);
  await copyTo(
    conn,
    `SELECT ${c} AS chrom, CAST(pos AS BIGINT) AS pos, * EXCLUDE (pos) FROM meta_drop ORDER BY pos, label`,
    join(dir, 'dropped', `${part}.parquet`),
  );
  if (options.leaveOneOutAll) {
    const loo = metaLeaveOneOut(aligned);
    // loo entries are input-major: left-out input i, variant j at i·m + j
    await appendColumns(conn, 'meta_loo', k * m, [
      dbl('pos', (t) => pos[t % m]),
      str('effect_allele', (t) => allele(eff[t % m])),
      str('other_allele', (t) => allele(oth[t % m])),
      str('left_out', (t) => inputs[Math.floor(t / m)].label),
      dbl('beta', (t) => num(loo.beta[t])),
      dbl('se', (t) => num(loo.se[t])),
      dbl('p', (t) => num(loo.p[t])),
      dbl('q_p', (t) => num(loo.qP[t])),
      dbl('i2', (t) => num(loo.i2[t])),
      str('status', (t) => LOO_STATUS[loo.status[t]]),
    ]);
    await copyTo(
      conn,
      `SELECT ${c} AS chrom, CAST(pos AS BIGINT) AS pos, * EXCLUDE (pos) FROM meta_loo ORDER BY pos, left_out`,
      join(dir, 'loo', `${part}.parquet`),
    );
  }
  for (const t of ['meta_out', 'meta_sig', 'meta_insig', 'meta_drop', 'meta_loo', variants])
    await conn.run(`DROP TABLE IF EXISTS ${t}`);
  for (const v of views) await conn.run(`DROP VIEW IF EXISTS ${v}`);
  const byK = new Array<number>(k + 1).fill(0);
  let analysed = 0;
  for (let j = 0; j < m; j++) {
    byK[res.nInputs[j]]++;
    if (res.nInputs[j] > 0) analysed++;
  }
  return {
    chrom,
    m,
    analysed,
    byK,
    strandAmbiguous: Array.from(al.dropped.strand_ambiguous),
    alleleMismatch: Array.from(al.dropped.allele_mismatch),
    nSignificant: sig.length,
  };
}

/**
 * Meta-analyse k inputs into `options.outDir` (see the module comment). Resumable: chromosomes
 * whose summary exists are not redone.
 */
export async function analyseMeta(
  conn: DuckDBConnection,
  inputs: readonly MetaCoreInput[],
  options: MetaCoreOptions,
): Promise<MetaCoreSummary> {
  const k = inputs.length;
  if (k < 1) throw new RangeError('analyseMeta: no inputs');
  const dir = options.outDir;
  for (const sub of ['parts', 'sig', 'insig', 'dropped', ...(options.leaveOneOutAll ? ['loo'] : [])])
    await mkdir(join(dir, sub), { recursive: true });
  const chroms = await chromosomes(conn, inputs);
  const summaries: ChromSummary[] = [];
  for (let c = 0; c < chroms.length; c++) {
    const part = String(c).padStart(3, '0');
    const done = join(dir, 'parts', `${part}.json`);
    let s: ChromSummary | undefined;
    // a chromosome done before `insig/` existed is redone
    if ((await exists(done)) && (await exists(join(dir, 'insig', `${part}.parquet`)))) {
      const prev = JSON.parse(await readFile(done, 'utf8')) as ChromSummary;
      if (prev.chrom === chroms[c]) s = prev;
    }
    if (!s) {
      s = await analyseChrom(conn, inputs, chroms[c], part, options);
      await atomicWriteFile(done, JSON.stringify(s));
    }
    summaries.push(s);
    options.onChrom?.(c + 1, chroms.length, chroms[c]);
  }
  // parts of chromosomes no longer present (a changed input under the same folder) go
  for (const sub of ['parts', 'sig', 'insig', 'dropped', 'loo']) {
    if (!(await exists(join(dir, sub)))) continue;
    for (const f of await readdir(join(dir, sub))) {
      const n = Number(f.slice(0, 3));
      if (Number.isInteger(n) && n >= chroms.length) await rm(join(dir, sub, f), { force: true });
    }
  }
  const byK = new Array<number>(k + 1).fill(0);
  const alignDropped = inputs.map(() => ({ strand_ambiguous: 0, allele_mismatch: 0 }));
  let nVariants = 0;
  let nAnalysed = 0;
  let nSignificant = 0;
  for (const s of summaries) {
    nVariants += s.m;
    nAnalysed += s.analysed;
    nSignificant += s.nSignificant;
    s.byK.forEach((v, i) => {
      byK[i] += v;
    });
    for (let i = 0; i < k; i++) {
      alignDropped[i].strand_ambiguous += s.strandAmbiguous[i];
      alignDropped[i].allele_mismatch += s.alleleMismatch[i];
    }
  }
  const partsGlob = join(dir, 'parts', '*.parquet');
  const lambdaGc =
    summaries.length > 0
      ? await lambdaGcOf(conn, `read_parquet(${sqlString(partsGlob)})`, `p IS NOT NULL`)
      : null;
  return {
    chroms: summaries,
    nVariants,
    nAnalysed,
    byK,
    alignDropped,
    partsGlob,
    sigGlob: join(dir, 'sig', '*.parquet'),
    inputSigGlob: join(dir, 'insig', '*.parquet'),
    droppedGlob: join(dir, 'dropped', '*.parquet'),
    looGlob: options.leaveOneOutAll ? join(dir, 'loo', '*.parquet') : null,
    lambdaGc,
    nSignificant,
  };
}
