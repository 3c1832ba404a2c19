/**
 * Each input's own lead loci (`meta_input_loci`, meta/loci.ts `metaInputLoci` over the `insig/`
 * parts meta/run.ts writes) and the report's "significant in only one input" table built on them.
 *
 * Three sites (GWAS-SSF, seeded RNG): null variants on chromosomes 1–3 and planted loci:
 *  - `solo` (1:3,000,000): genome-wide significant at AFR only (z ≈ 8.3), null elsewhere with
 *    smaller SEs, so the pooled p is not significant (≈ 0.005); `soloNear` (200 kb away, AFR
 *    z ≈ 6.7) is claimed by it; `soloFar` (750 kb away, AFR z = 6) is a lead of its own;
 *  - `double` (2:2,000,000): significant at EUR and EAS (z = 10), null at AFR; EAS writes it with
 *    the alleles swapped;
 *  - `single` (3:2,000,000): significant at EUR only, and in the pooled analysis.
 *
 * The expectations are computed independently at test time: each site's own p (2·pnorm(−|β/SE|))
 * and the fixed-effect meta-analysis (β, p, Cochran's Q p, I²) by R metafor `rma(method = "FE")`
 * on the aligned truth; the input loci by a naive greedy clumping written here (p ascending, each
 * unclaimed significant variant claims every unclaimed one within ±500 kb on its chromosome).
 * `clumpLoci` is also checked against the same naive clumping on random dense data.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetaActivities } from '../../activities/meta.js';
import { withEngineDb } from '../../engine/duckdb.js';
import { runDir } from '../../engine/results.js';
import { clumpLoci } from '../../meta/loci.js';
import { readMetaSpec } from '../../meta/spec.js';
import { metaRunData } from '../../report/data-meta.js';
import { pTwoSidedNormal } from '../../stats/distributions.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';
import { rng } from '../helpers/rng.js';
import { tempDir } from '../ingest/helpers.js';
import { runR } from '../stats/fixture.js';

const SITES = ['EUR', 'AFR', 'EAS'] as const;
const LEAD_P = 5e-8;
const WINDOW = 500_000;

interface Planted {
  chrom: string;
  pos: number;
  effect: string;
  other: string;
  beta: number[];
  se: number[];
  /** per site: written with the alleles swapped. */
  swapped?: boolean[];
}

const PLANTED: Record<'solo' | 'soloNear' | 'soloFar' | 'double' | 'single', Planted> = {
  solo: {
    chrom: '1',
    pos: 3_000_000,
    effect: 'T',
    other: 'C',
    beta: [0.01, 0.5, -0.01],
    se: [0.03, 0.06, 0.03],
  },
  soloNear: {
    chrom: '1',
    pos: 3_200_000,
    effect: 'G',
    other: 'A',
    beta: [0, 0.4, 0],
    se: [0.03, 0.06, 0.03],
  },
  soloFar: {
    chrom: '1',
    pos: 3_750_000,
    effect: 'A',
    other: 'C',
    beta: [0.02, 0.36, 0],
    se: [0.03, 0.06, 0.03],
  },
  double: {
    chrom: '2',
    pos: 2_000_000,
    effect: 'C',
    other: 'T',
    beta: [0.3, 0, 0.3],
    se: [0.03, 0.03, 0.03],
    swapped: [false, false, true],
  },
  single: {
    chrom: '3',
    pos: 2_000_000,
    effect: 'G',
    other: 'T',
    beta: [0.5, 0.02, 0.02],
    se: [0.03, 0.03, 0.03],
  },
};

const PAIRS: [string, string][] = [
  ['A', 'G'],
  ['C', 'T'],
  ['G', 'A'],
  ['T', 'C'],
  ['A', 'C'],
  ['G', 'T'],
];

/** A variant in the reference orientation with each site's β and SE. */
interface Variant {
  chrom: string;
  pos: number;
  effect: string;
  other: string;
  beta: number[];
  se: number[];
  swapped: boolean[];
}

const vid = (v: { chrom: string; pos: number; other: string; effect: string }) =>
  `${v.chrom}:${v.pos}:${v.other}:${v.effect}`;

let dir: string;
let config: EngineConfig;
let runId: string;
let variants: Variant[];
let html: string;
let table: Record<string, unknown>[];
/** R: per variant × site the own p; per variant with a significant site the FE meta-analysis. */
let own: Map<string, number[]>;
let fe: Map<string, { beta: number; p: number; qp: number | null; i2: number | null }>;

function writeFixture(seed = 2024): Variant[] {
  const { next, normal } = rng(seed);
  const out: Variant[] = [];
  for (const chrom of ['1', '2', '3'])
    for (let j = 1; j <= 150; j++) {
      const [effect, other] = PAIRS[j % PAIRS.length];
      const se = SITES.map(() => 0.02 + 0.06 * next());
      out.push({
        chrom,
        pos: 10_000 * j,
        effect,
        other,
        beta: se.map((s) => s * normal()),
        se,
        swapped: [false, false, false],
      });
    }
  for (const p of Object.values(PLANTED)) out.push({ ...p, swapped: p.swapped ?? [false, false, false] });
  SITES.forEach((_, s) => {
    const lines = [
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value',
      ...out.map((v) => {
        const b = v.swapped[s] ? -v.beta[s] : v.beta[s];
        const [e, o] = v.swapped[s] ? [v.other, v.effect] : [v.effect, v.other];
        return [
          v.chrom,
          v.pos,
          e,
          o,
          b,
          v.se[s],
          v.swapped[s] ? 0.7 : 0.3,
          pTwoSidedNormal(b / v.se[s]),
        ].join('\t');
      }),
    ];
    writeFileSync(join(dir, `${SITES[s]}.tsv`), `${lines.join('\n')}\n`);
  });
  writeFileSync(
    join(dir, 'meta.json'),
    JSON.stringify({
      metaId: 'input-loci-meta',
      trait: 'LDL',
      inputs: SITES.map((label) => ({ path: join(dir, `${label}.tsv`), label, n: 10_000 })),
    }),
  );
  return out;
}

const R_SCRIPT = (d: string) => `
suppressPackageStartupMessages(library(metafor))
d <- read.csv(${JSON.stringify(join(d, 'truth.csv'))}, colClasses = c(variant = "character"))
d$p <- 2 * pnorm(-abs(d$beta / d$se))
f <- function(df) { for (c in names(df)) if (is.numeric(df[[c]])) df[[c]] <- sprintf('%.17g', df[[c]]); df }
write.csv(f(d[, c("variant", "site", "p")]), ${JSON.stringify(join(d, 'own.csv'))}, row.names = FALSE, quote = FALSE)
out <- list()
for (v in unique(d$variant[d$p < ${LEAD_P}])) {
  s <- d[d$variant == v, ]
  m <- rma(yi = s$beta, sei = s$se, method = "FE")
  out[[length(out) + 1]] <- data.frame(variant = v, beta = m$beta[1], p = m$pval, qp = m$QEp, i2 = m$I2)
}
write.csv(f(do.call(rbind, out)), ${JSON.stringify(join(d, 'fe.csv'))}, row.names = FALSE, quote = FALSE)
`;

function readCsv(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, c) => [cols[c], v])));
}

/** The cells of the body rows of the table with class `cls`, as text. */
function tableRows(page: string, cls: string): string[][] {
  const m = new RegExp(`<table class="${cls}">([\\s\\S]*?)</table>`).exec(page);
  if (!m) return [];
  const body = m[1].split('<tbody>')[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
    [...r[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => c[1].replace(/<[^>]+>/g, '').trim()),
  );
}

interface Sig {
  chrom: string;
  pos: number;
  nlp: number;
}

/** Naive greedy distance clumping: leads (indices into `rows`) and each lead's claimed members. */
function naiveClump(rows: Sig[], threshold: number, window: number): { lead: number; members: number[] }[] {
  const order = rows
    .map((_, i) => i)
    .filter((i) => rows[i].nlp > threshold)
    .sort(
      (a, b) =>
        rows[b].nlp - rows[a].nlp ||
        (rows[a].chrom < rows[b].chrom ? -1 : rows[a].chrom > rows[b].chrom ? 1 : 0) ||
        rows[a].pos - rows[b].pos,
    );
  const claimed = new Set<number>();
  const out: { lead: number; members: number[] }[] = [];
  for (const i of order) {
    if (claimed.has(i)) continue;
    const members = order.filter(
      (j) =>
        !claimed.has(j) && rows[j].chrom === rows[i].chrom && Math.abs(rows[j].pos - rows[i].pos) <= window,
    );
    for (const j of members) claimed.add(j);
    out.push({ lead: i, members });
  }
  return out;
}

beforeAll(async () => {
  dir = tempDir('meta-input-loci');
  variants = writeFixture();
  const lines = ['variant,site,beta,se'];
  for (const v of variants)
    for (const [i, s] of SITES.entries()) lines.push(`${vid(v)},${s},${v.beta[i]},${v.se[i]}`);
  writeFileSync(join(dir, 'truth.csv'), `${lines.join('\n')}\n`);
  runR(R_SCRIPT(dir), dir);
  own = new Map();
  for (const r of readCsv(join(dir, 'own.csv'))) {
    const ps = own.get(r.variant) ?? [];
    ps[SITES.indexOf(r.site as (typeof SITES)[number])] = Number(r.p);
    own.set(r.variant, ps);
  }
  const num = (x: string) => (x === 'NA' ? null : Number(x));
  fe = new Map(
    readCsv(join(dir, 'fe.csv')).map((r) => [
      r.variant,
      { beta: Number(r.beta), p: Number(r.p), qp: num(r.qp), i2: num(r.i2) },
    ]),
  );
  config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
  const acts = createMetaActivities(config);
  const spec = await readMetaSpec(join(dir, 'meta.json'));
  const prepared = await acts.prepareMeta({ spec, workflowId: 'test' });
  const core = await acts.analyseMetaInputs({ run: prepared.run, spec, inputs: prepared.inputs });
  await acts.metaLoci({ run: prepared.run, spec, core });
  const result = await acts.recordMeta({ run: prepared.run, spec, inputs: prepared.inputs, core });
  await acts.writeMetaReport({ run: prepared.run, result });
  runId = result.runId;
  html = readFileSync(join(runDir(config.dataDir, runId), 'report.html'), 'utf8');
  table = await withEngineDb(
    config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT chrom || ':' || pos || ':' || other_allele || ':' || effect_allele AS variant, *
           FROM meta_input_loci WHERE run_id = $1 ORDER BY label, chrom, pos`,
          [runId],
        )
      ).getRowObjectsJS() as Record<string, unknown>[],
    { readOnly: true },
  );
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The expected input loci: per site, naive clumping of R's own p. */
function expectedLoci(): { site: string; variant: string; nSig: number; members: string[] }[] {
  const out: { site: string; variant: string; nSig: number; members: string[] }[] = [];
  const ids = variants.map(vid);
  SITES.forEach((site, s) => {
    const rows = variants.map((v, j) => ({
      chrom: v.chrom,
      pos: v.pos,
      nlp: -Math.log10(own.get(ids[j])![s]),
    }));
    for (const c of naiveClump(rows, -Math.log10(LEAD_P), WINDOW)) {
      const id = ids[c.lead];
      out.push({
        site,
        variant: id,
        nSig: own.get(id)!.filter((p) => p < LEAD_P).length,
        members: c.members.map((j) => ids[j]),
      });
    }
  });
  return out;
}

const rowOf = (site: string, p: Planted) => table.find((r) => r.label === site && r.variant === vid(p));

describe('meta_input_loci', () => {
  it('holds exactly each site’s own lead loci (naive clumping of R’s own p)', () => {
    const want = expectedLoci();
    expect(want.length).toBeGreaterThanOrEqual(5);
    const key = (site: unknown, v: unknown) => `${site} ${v}`;
    expect(table.map((r) => key(r.label, r.variant)).sort()).toEqual(
      want.map((w) => key(w.site, w.variant)).sort(),
    );
    // the planted chain: soloNear is claimed by solo, soloFar is a lead of its own
    const afr = want.filter((w) => w.site === 'AFR').map((w) => w.variant);
    expect(afr).toContain(vid(PLANTED.solo));
    expect(afr).toContain(vid(PLANTED.soloFar));
    expect(afr).not.toContain(vid(PLANTED.soloNear));
    expect(want.find((w) => w.variant === vid(PLANTED.solo))?.members).toContain(vid(PLANTED.soloNear));
  });

  it('carries the pooled row (R metafor FE), the input’s own p and the count of significant inputs', () => {
    const want = expectedLoci();
    for (const r of table) {
      const at = `${r.label} ${r.variant}`;
      const w = want.find((x) => x.site === r.label && x.variant === r.variant)!;
      const ref = fe.get(String(r.variant))!;
      expect(ref, at).toBeDefined();
      expect(Number(r.n_inputs_significant), at).toBe(w.nSig);
      const s = SITES.indexOf(r.label as (typeof SITES)[number]);
      const ownP = own.get(String(r.variant))![s];
      expect(Math.abs(Number(r.p) - ownP), at).toBeLessThanOrEqual(1e-9 * ownP);
      expect(Math.abs(Number(r.meta_beta) - ref.beta), at).toBeLessThanOrEqual(1e-8 * Math.abs(ref.beta));
      expect(Math.abs(Number(r.meta_p) - ref.p), at).toBeLessThanOrEqual(1e-7 * ref.p);
      expect(Math.abs(Number(r.q_p) - (ref.qp as number)), at).toBeLessThanOrEqual(1e-7);
      expect(Math.abs(Number(r.i2) - (ref.i2 as number)), at).toBeLessThanOrEqual(1e-6);
      expect(r.pooled_significant, at).toBe(ref.p < LEAD_P);
      expect(Number(r.meta_k), at).toBe(3);
      expect(String(r.direction), at).toMatch(/^[-+0]{3}$/);
    }
  });

  it('keeps a locus significant in one input only whose pooled p is not significant', () => {
    const solo = rowOf('AFR', PLANTED.solo);
    expect(solo).toBeDefined();
    expect(solo!.pooled_significant).toBe(false);
    expect(Number(solo!.meta_p)).toBeGreaterThan(LEAD_P);
    expect(Number(solo!.n_inputs_significant)).toBe(1);
    expect(Number(solo!.beta)).toBeCloseTo(PLANTED.solo.beta[1], 12);
  });

  it('counts two significant inputs at a shared locus, with the swapped site’s β aligned', () => {
    const eur = rowOf('EUR', PLANTED.double);
    const eas = rowOf('EAS', PLANTED.double);
    expect(Number(eur?.n_inputs_significant)).toBe(2);
    expect(Number(eas?.n_inputs_significant)).toBe(2);
    expect(eas?.pooled_significant).toBe(true);
    expect(Number(eas?.beta)).toBeCloseTo(PLANTED.double.beta[2], 12);
    expect(eas?.effect_allele).toBe(PLANTED.double.effect);
  });
});

describe('report: significant in only one input', () => {
  it('lists exactly the input loci with one significant input, pooled-significant or not', async () => {
    const want = expectedLoci().filter((w) => w.nSig === 1);
    const rows = tableRows(html, 'meta-single-input-table');
    expect(rows.map((r) => `${r[1]} ${r[0]}`).sort()).toEqual(
      want.map((w) => `${w.site} ${w.variant}`).sort(),
    );
    const solo = rows.find((r) => r[0] === vid(PLANTED.solo));
    expect(solo?.[1]).toBe('AFR');
    expect(solo?.[7]).toBe('no');
    const single = rows.find((r) => r[0] === vid(PLANTED.single));
    expect(single?.[7]).toBe('yes');
    expect(rows.some((r) => r[0] === vid(PLANTED.double))).toBe(false);
    // the solo locus is not among the pooled lead loci
    const data = await metaRunData(config, runId);
    expect(data.leads.map((l) => l.variant_id)).not.toContain(vid(PLANTED.solo));
    expect(data.leads.map((l) => l.variant_id)).toContain(vid(PLANTED.single));
  });
});

describe('clumpLoci', () => {
  it('equals naive greedy clumping on random dense data (leads, spans, counts)', () => {
    const { next } = rng(77);
    for (let rep = 0; rep < 20; rep++) {
      const n = 300;
      const rows: Sig[] = Array.from({ length: n }, () => ({
        chrom: next() < 0.5 ? '1' : '10',
        pos: Math.floor(next() * 4_000_000),
        nlp: next() < 0.6 ? 7.5 + 10 * next() : 5 * next(),
      }));
      // a few ties in −log10 p
      for (let t = 0; t < 10; t++) rows[Math.floor(next() * n)].nlp = 9;
      const got = clumpLoci(
        rows.map((r) => r.chrom),
        rows.map((r) => r.pos),
        rows.map((r) => r.nlp),
        { p: LEAD_P, windowKb: 250 },
      );
      const want = naiveClump(rows, -Math.log10(LEAD_P), 250_000);
      expect(got.map((c) => c.index)).toEqual(want.map((w) => w.lead));
      got.forEach((c, i) => {
        const ps = want[i].members.map((j) => rows[j].pos);
        expect([c.start, c.end, c.nVariants]).toEqual([Math.min(...ps), Math.max(...ps), ps.length]);
      });
    }
  });
});
