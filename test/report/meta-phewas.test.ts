/**
 * The PheWAS meta-analysis in the report and the viewer (report/data-meta-phewas.ts,
 * report/sections-meta-phewas.ts, report/specs-meta-phewas.ts), on rows written through the
 * engine's own writer (`writeRunResults`) into a temp data folder:
 *
 *  - a stratified run (strata EUR, AFR, EAS; logistic) whose `meta_phewas_*` rows are the
 *    meta-analysis (meta/phewas.ts) of seeded per-stratum PheWAS rows with planted associations:
 *    homogeneous, opposite in one stratum (heterogeneous), mildly heterogeneous (Q p ≈ 0.01,
 *    between 0.05 / m and 0.05), driven by one stratum, significant in
 *    AFR only with a null pooled p, absent in one stratum, not tested in one stratum, not tested
 *    anywhere, a variant whose alleles AFR writes swapped, and 33 moderate burden associations (so
 *    more than the 30 forest plots a page draws are significant); two strata give 7 cases;
 *  - a PheWAS-only federated meta run (Cox, two sites: no `meta_results`, no lead loci);
 *  - a GWAS meta run whose `meta_results` hold a variant that no GWAS run has.
 *
 * The expectations come from R metafor at test time, on the rows as the test aligns them itself
 * (β negated where AFR's alleles are swapped): `rma(method = "FE")` for the pooled p and Cochran's
 * Q p, `rma(method = "DL")` for I², 2·pnorm(−|β/SE|) for each stratum's own p. From those the
 * test derives the significant associations (p < 0.05 / the predictor's associations with k ≥ 1),
 * the heterogeneous ones (Q p < 0.05 / m, m the significant ones with k ≥ 2) and those
 * significant in one stratum only (own p < 0.05 / the associations of the predictor that stratum
 * tested), and checks the page against them.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, sha256Text } from '../../engine/fsutil.js';
import {
  recordRun,
  recordStudy,
  runDir,
  runIdFor,
  softwareVersion,
  writeRunResults,
} from '../../engine/results.js';
import { type AssociationRow, metaAnalysePhewas } from '../../meta/phewas.js';
import {
  heterogeneousAssociations,
  type MetaPhewasData,
  metaPhewasDataOf,
  readMetaPhewas,
  significantAssociations,
  singleInputAssociations,
} from '../../report/data-meta-phewas.js';
import { buildRunReportHtml } from '../../report/index.js';
import type { MetaResultRow } from '../../schemas/results.js';
import { pTwoSidedNormal } from '../../stats/distributions.js';
import type { EngineConfig } from '../../temporal.config.js';
import { apiRun } from '../../viewer/routes-api.js';
import type { Context } from '../../viewer/routes-common.js';
import { runPage, variantPage } from '../../viewer/routes-pages.js';
import { search } from '../../viewer/search.js';
import { rng } from '../helpers/rng.js';
import { tempDir, testConfig } from '../ingest/helpers.js';
import { runR } from '../stats/fixture.js';

const STRATA = ['EUR', 'AFR', 'EAS'] as const;
const V1 = '1:1000:A:G';
const V2 = '2:5000:C:T';
const V2_SWAPPED = '2:5000:T:C';
const B1 = 'PCSK9__pLoF__0.01';
const META_ONLY = '7:123456:C:A';
const N_PERSONS = 5000;
/** d with Q = 2d² / 0.05² = −2 ln 0.01 (χ²₂ survival e^(−Q/2) = 0.01): Q p between 0.05 / m and 0.05. */
const D_MILD = Math.sqrt((-2 * Math.log(0.01) * 0.05 ** 2) / 2);

type Row = AssociationRow;
type Rec = Record<string, string | number | null>;

let dir: string;
let config: EngineConfig;
let stratRun: string;
let phewasMetaRun: string;
let gwasMetaRun: string;
let html: string;
let stratOut: ReturnType<typeof metaAnalysePhewas>;
/** The strata's rows as written (AFR's V2 rows under the swapped name). */
const written: Row[][] = STRATA.map(() => []);
/** R's per-association results and per-stratum own p. */
let rma: Map<string, { p: number; qp: number | null; i2: number | null; k: number }>;
let own: Map<string, (number | null)[]>;

function assoc(
  predictor: string,
  type: Row['predictor_type'],
  phecode: string,
  beta: number | null,
  se: number | null,
  nCases: number,
): Row {
  return {
    predictor,
    predictor_type: type,
    phecode,
    description: `phecode ${phecode}`,
    category: 'circulatory system',
    n_cases: nCases,
    n_controls: N_PERSONS - nCases,
    beta,
    se,
    p: beta === null || se === null ? null : pTwoSidedNormal(beta / se),
    test: beta === null ? null : 'wald',
  };
}

/** The per-stratum PheWAS rows with the planted associations (see the module comment). */
function makeStrata(seed: number): void {
  const { next, normal } = rng(seed);
  const nul = () => {
    const se = 0.05 + 0.1 * next();
    return { beta: se * normal(), se };
  };
  const cases = () => 100 + Math.floor(1900 * next());
  for (let j = 0; j < 40; j++) {
    const phecode = `${250 + j}.1`;
    const plan: ({ beta: number | null; se: number | null; n?: number } | null)[] =
      j === 0
        ? [0.4, 0.4, 0.4].map((beta) => ({ beta, se: 0.05 }))
        : j === 1
          ? [
              { beta: 0.4, se: 0.05 },
              { beta: 0.4, se: 0.05 },
              { beta: -0.4, se: 0.05, n: 7 },
            ]
          : j === 2
            ? [
                { beta: 0.6, se: 0.08 },
                { beta: 0, se: 0.1 },
                { beta: 0, se: 0.1 },
              ]
            : j === 3
              ? [
                  { beta: -0.1, se: 0.05 },
                  { beta: 0.5, se: 0.08, n: 7 },
                  { beta: -0.1, se: 0.08 },
                ]
              : j === 4
                ? [{ beta: 0.35, se: 0.05 }, { beta: 0.35, se: 0.05 }, null]
                : j === 5
                  ? [
                      { beta: 0.3, se: 0.05 },
                      { beta: null, se: null, n: 12 },
                      { beta: 0.3, se: 0.05 },
                    ]
                  : j === 6
                    ? STRATA.map(() => ({ beta: null, se: null, n: 3 }))
                    : j === 7
                      ? [0.3 + D_MILD, 0.3, 0.3 - D_MILD].map((beta) => ({ beta, se: 0.05 }))
                      : STRATA.map(nul);
    plan.forEach((x, s) => {
      if (x) written[s].push(assoc(V1, 'variant', phecode, x.beta, x.se, x.n ?? cases()));
    });
  }
  for (let j = 0; j < 40; j++) {
    const phecode = `${300 + j}.1`;
    for (let s = 0; s < STRATA.length; s++) {
      const x = j < 33 ? { beta: 0.1 + 0.0005 * j + 0.001 * s, se: 0.05 } : nul();
      written[s].push(assoc(B1, 'burden', phecode, x.beta, x.se, cases()));
    }
  }
  for (let j = 0; j < 20; j++) {
    const phecode = `${400 + j}.1`;
    for (let s = 0; s < STRATA.length; s++) {
      const x = j === 0 ? { beta: 0.25, se: 0.04 } : nul();
      // AFR names the variant with its alleles swapped: its β is for the other allele
      const swapped = STRATA[s] === 'AFR';
      const beta = swapped ? -x.beta : x.beta;
      written[s].push(assoc(swapped ? V2_SWAPPED : V2, 'variant', phecode, beta, x.se, cases()));
    }
  }
}

/** The test's own alignment: association key and β for V2's allele order. */
function aligned(r: Row): { key: string; beta: number | null } {
  const swapped = r.predictor === V2_SWAPPED;
  return {
    key: `${swapped ? V2 : r.predictor}|${r.phecode}`,
    beta: r.beta === null ? null : swapped ? -r.beta : r.beta,
  };
}

const R_SCRIPT = (d: string) => `
suppressPackageStartupMessages(library(metafor))
d <- read.csv(${JSON.stringify(join(d, 'rows.csv'))}, colClasses = c(assoc = "character", stratum = "character"))
out <- list()
for (a in unique(d$assoc)) {
  s <- d[d$assoc == a, ]
  if (nrow(s) == 1) {
    out[[length(out) + 1]] <- data.frame(assoc = a, k = 1, p = 2 * pnorm(-abs(s$beta / s$se)), qp = NA, i2 = NA)
  } else {
    fe <- rma(yi = s$beta, sei = s$se, method = "FE")
    dl <- rma(yi = s$beta, sei = s$se, method = "DL")
    out[[length(out) + 1]] <- data.frame(assoc = a, k = nrow(s), p = fe$pval, qp = fe$QEp, i2 = dl$I2)
  }
}
d$own <- 2 * pnorm(-abs(d$beta / d$se))
f <- function(df) { for (c in names(df)) if (is.numeric(df[[c]])) df[[c]] <- ifelse(is.na(df[[c]]), "NA", sprintf('%.17g', df[[c]])); df }
write.csv(f(do.call(rbind, out)), ${JSON.stringify(join(d, 'rma.csv'))}, row.names = FALSE, quote = FALSE)
write.csv(f(d[, c("assoc", "stratum", "own")]), ${JSON.stringify(join(d, 'own.csv'))}, row.names = FALSE, quote = FALSE)
`;

function readCsv(path: string): Rec[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) =>
    Object.fromEntries(
      l
        .split(',')
        .map((v, c) => [
          cols[c],
          cols[c] === 'assoc' || cols[c] === 'stratum' ? v : v === 'NA' ? null : Number(v),
        ]),
    ),
  );
}

/** Fit R on the usable rows (as the test aligns them). */
function referenceFromR(): void {
  const lines = ['assoc,stratum,beta,se'];
  written.forEach((rows, s) => {
    for (const r of rows) {
      const a = aligned(r);
      if (a.beta !== null && r.se !== null) lines.push(`${a.key},${STRATA[s]},${a.beta},${r.se}`);
    }
  });
  writeFileSync(join(dir, 'rows.csv'), `${lines.join('\n')}\n`);
  runR(R_SCRIPT(dir), dir);
  rma = new Map(
    readCsv(join(dir, 'rma.csv')).map((r) => [
      r.assoc as string,
      { p: r.p as number, qp: r.qp as number | null, i2: r.i2 as number | null, k: r.k as number },
    ]),
  );
  own = new Map();
  for (const r of readCsv(join(dir, 'own.csv'))) {
    const list = own.get(r.assoc as string) ?? STRATA.map(() => null);
    list[STRATA.indexOf(r.stratum as (typeof STRATA)[number])] = r.own as number;
    own.set(r.assoc as string, list);
  }
}

async function recordStudyRun(studyId: string, kind: 'phenotype-first' | 'meta'): Promise<string> {
  const specJson = canonicalJson({ studyId, kind });
  const specHash = sha256Text(specJson);
  const releaseFingerprint = sha256Text(`${studyId} inputs`);
  const runId = runIdFor({ studyId, releaseFingerprint, specHash });
  await recordStudy(config, {
    study_id: studyId,
    kind,
    spec_json: specJson,
    spec_hash: specHash,
    created_at: '2026-12-01T00:00:00.000Z',
  });
  await recordRun(config, {
    run_id: runId,
    study_id: studyId,
    release_id: kind === 'meta' ? 'meta' : 'demo-2026-11',
    release_fingerprint: releaseFingerprint,
    spec_hash: specHash,
    phecode_maps_json: '{}',
    software_version: await softwareVersion(),
    status: 'completed',
    started_at: '2026-12-01T00:00:01.000Z',
    finished_at: '2026-12-01T00:10:00.000Z',
    timings_json: null,
    workflow_id: null,
    workflow_run_id: null,
    error: null,
  });
  return runId;
}

async function metaInputs(runId: string, labels: string[]): Promise<void> {
  await writeRunResults(
    config,
    runId,
    'meta_inputs',
    labels.map((label, i) => ({
      input_index: i,
      label,
      format: 'biobank-engine',
      path: `/sites/${label}.tsv`,
      sha256: sha256Text(label),
      rows_read: 100,
      rows_kept: 100,
      dropped_json: '{}',
      n: 4000 + i,
      n_cases: 900,
      n_controls: 3100 + i,
      ancestry: null,
      lambda_gc: 1.01,
    })),
  );
}

beforeAll(async () => {
  dir = tempDir('meta-phewas-report');
  config = testConfig(join(dir, 'data'));
  makeStrata(20261206);
  referenceFromR();

  // the stratified run: its PheWAS meta-analysis of the strata, and result.json with the strata
  stratRun = await recordStudyRun('ldl-by-ancestry', 'phenotype-first');
  const out = metaAnalysePhewas(
    STRATA.map((label, s) => ({ label, rows: written[s] })),
    'logistic',
  );
  stratOut = out;
  await writeRunResults(config, stratRun, 'meta_phewas_results', out.results);
  await writeRunResults(config, stratRun, 'meta_phewas_forest', out.forest);
  mkdirSync(runDir(config.dataDir, stratRun), { recursive: true });
  writeFileSync(
    join(runDir(config.dataDir, stratRun), 'result.json'),
    JSON.stringify({
      strata: STRATA.map((name, s) => ({
        name,
        workflowId: `wf-${name}`,
        runId: `ldl-${name.toLowerCase()}-0000000000000000`,
        nSamples: N_PERSONS,
        nCases: 900 + s,
        nControls: N_PERSONS - 900 - s,
        lambdaGc: 1.01,
        nLeadLoci: 1,
        skipped: null,
      })),
    }),
  );

  // a PheWAS-only federated meta run (Cox, two sites)
  phewasMetaRun = await recordStudyRun('hr-sites', 'meta');
  await metaInputs(phewasMetaRun, ['site A', 'site B']);
  const cox = metaAnalysePhewas(
    ['site A', 'site B'].map((label, s) => ({
      label,
      rows: written[s].filter((r) => r.predictor === V1).map((r) => ({ ...r, test: 'cox' })),
    })),
    'cox',
  );
  await writeRunResults(config, phewasMetaRun, 'meta_phewas_results', cox.results);
  await writeRunResults(config, phewasMetaRun, 'meta_phewas_forest', cox.forest);

  // a GWAS meta run with a variant no GWAS run has
  gwasMetaRun = await recordStudyRun('gwas-sites', 'meta');
  await metaInputs(gwasMetaRun, ['site A', 'site B']);
  const metaRow = (pos: number, p: number): Omit<MetaResultRow, 'run_id'> => ({
    chrom: '7',
    pos,
    effect_allele: 'A',
    other_allele: 'C',
    k: 2,
    direction: '++',
    beta: 0.1,
    se: 0.02,
    z: 5,
    p,
    neg_log10_p: -Math.log10(p),
    z_n: null,
    p_n: null,
    beta_random: 0.1,
    se_random: 0.02,
    p_random: p,
    tau2: 0,
    q: 0.1,
    q_p: 0.75,
    i2: 0,
    n: 8000,
    status: 'ok',
  });
  await writeRunResults(config, gwasMetaRun, 'meta_results', [metaRow(123456, 5.7e-7), metaRow(200000, 0.3)]);

  html = (await buildRunReportHtml(config, stratRun, { inline: false })).html;
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// --- Expectations from R's values ---

const predictorOf = (key: string) => key.split('|')[0];

/** Significant associations (key → p), most significant first. */
function expectedSignificant(): [string, number][] {
  const n = new Map<string, number>();
  for (const key of rma.keys()) n.set(predictorOf(key), (n.get(predictorOf(key)) ?? 0) + 1);
  return [...rma.entries()]
    .filter(([key, r]) => r.p < 0.05 / (n.get(predictorOf(key)) as number))
    .map(([key, r]): [string, number] => [key, r.p])
    .sort((a, b) => a[1] - b[1]);
}

function expectedHeterogeneous(): string[] {
  const tested = expectedSignificant().filter(([key]) => (rma.get(key)?.k ?? 0) >= 2);
  const m = tested.length;
  return tested.filter(([key]) => (rma.get(key)?.qp as number) < 0.05 / m).map(([key]) => key);
}

function expectedSingle(): string[] {
  // per stratum and predictor: the associations it tested
  const n = new Map<string, number>();
  for (const [key, ps] of own)
    ps.forEach((p, s) => {
      if (p !== null)
        n.set(`${STRATA[s]}|${predictorOf(key)}`, (n.get(`${STRATA[s]}|${predictorOf(key)}`) ?? 0) + 1);
    });
  const out: string[] = [];
  for (const [key, ps] of own) {
    const sig = ps.flatMap((p, s) =>
      p !== null && p < 0.05 / (n.get(`${STRATA[s]}|${predictorOf(key)}`) as number) ? [STRATA[s]] : [],
    );
    if (sig.length === 1) out.push(`${key}|${sig[0]}`);
  }
  return out.sort();
}

// --- Page helpers ---

/** The text of each cell of each body row of the table with class `cls` (the first such table). */
function tableRows(page: string, cls: string, nth = 0): string[][] {
  const m = [...page.matchAll(new RegExp(`<table class="${cls}">([\\s\\S]*?)</table>`, 'g'))][nth];
  if (!m) return [];
  const body = m[1].split('<tbody>')[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
    [...r[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
      c[1]
        .replace(/<[^>]+>/g, '')
        .replaceAll('&gt;', '>')
        .replaceAll('&lt;', '<')
        .replaceAll('&amp;', '&')
        .trim(),
    ),
  );
}

interface ForestSpec {
  title: { text: string; subtitle: string };
  datasets: {
    inputs: { label: string; beta: number; se: number; ratio: number }[];
    absent: { label: string; text: string }[];
    diamonds: { estimate: string; x: number }[];
  };
  layer: { encoding: { x?: { title?: string } } }[];
}

function forestSpecs(page: string): ForestSpec[] {
  return [
    ...page.matchAll(/<script type="application\/json" id="(pforest-[^"]+)-spec">([\s\S]*?)<\/script>/g),
  ].map((m) => JSON.parse(m[2]) as ForestSpec);
}

/** The card (section) of an association. */
function card(page: string, predictor: string, phecode: string): string {
  const start = page.indexOf(`data-association="${predictor}|${phecode}"`);
  return start < 0 ? '' : page.slice(start, page.indexOf('</section>', start));
}

const pageText = (page: string) =>
  page
    .slice(page.indexOf('<main>'), page.indexOf('</main>'))
    .replace(/<script type="application\/json"[\s\S]*?<\/script>/g, '');

describe('PheWAS meta-analysis of a stratified study in its report', () => {
  it('the fixture has what the tables must show', () => {
    const sig = expectedSignificant().map(([k]) => k);
    expect(sig.length).toBeGreaterThan(30);
    expect(expectedHeterogeneous()).toContain(`${V1}|251.1`);
    expect(expectedSingle()).toContain(`${V1}|253.1|AFR`);
    expect(sig).not.toContain(`${V1}|253.1`);
    expect(sig).toContain(`${V2}|400.1`);
    // the planted V1 associations are among the 30 drawn; the burden ones fill the rest
    for (const j of [0, 1, 2, 4, 5]) expect(sig.slice(0, 30)).toContain(`${V1}|${250 + j}.1`);
    expect(expectedSingle()).toContain(`${V1}|252.1|EUR`);
    // mildly heterogeneous: flagged only without the correction for m
    const m = expectedSignificant().filter(([key]) => (rma.get(key)?.k ?? 0) >= 2).length;
    const mild = rma.get(`${V1}|257.1`)?.qp as number;
    expect(sig).toContain(`${V1}|257.1`);
    expect(mild).toBeGreaterThan(0.05 / m);
    expect(mild).toBeLessThan(0.05);
  });

  it('gives the summary line', () => {
    const line =
      /<p class="meta meta-phewas-summary">([\s\S]*?)<\/p>/.exec(html)?.[1].replace(/<[^>]+>/g, '') ?? '';
    const total = new Set(written.flat().map((r) => aligned(r).key)).size;
    const multi = [...rma.values()].filter((r) => r.k >= 2).length;
    expect(line).toContain(`${total} associations`);
    expect(line).toContain(`${multi} meta-analysed (k ≥ 2)`);
    expect(line).toContain(`${expectedSignificant().length} significant`);
    expect(line).toContain(`${expectedHeterogeneous().length} heterogeneous`);
  });

  it('draws a forest plot per significant association (the 30 most significant) with its Q p and I²', () => {
    const sig = expectedSignificant();
    const specs = forestSpecs(html);
    expect(specs).toHaveLength(30);
    expect(html).toContain(`<b>${sig.length - 30}</b> more are not drawn`);
    const drawn = specs.map((s) => s.title.text.split(' ').slice(0, 3).join(' '));
    expect(drawn).toEqual(sig.slice(0, 30).map(([key]) => key.replace('|', ' × ')));
    for (const [i, [key]] of sig.slice(0, 30).entries()) {
      const ref = rma.get(key) as { qp: number | null; i2: number | null; k: number };
      const spec = specs[i];
      const qp = /Q p = (\S+)/.exec(spec.title.subtitle)?.[1] as string;
      const i2 = /I² = (\S+) %/.exec(spec.title.subtitle)?.[1] as string;
      if (ref.qp === null) expect(qp).toBe('NA');
      else expect(Math.abs(Number(qp) - ref.qp) / ref.qp, `${key} Q p ${qp} vs ${ref.qp}`).toBeLessThan(5e-3);
      if (ref.i2 === null) expect(i2).toBe('NA');
      else
        expect(Math.abs(Number(i2) - ref.i2), `${key} I² ${i2} vs ${ref.i2}`).toBeLessThanOrEqual(
          0.05 + 1e-9,
        );
      // one row per stratum: the aligned β as the test aligns it, absent or not tested as such
      const rows = STRATA.map((_, s) => written[s].find((r) => aligned(r).key === key));
      const tested = rows.flatMap((r, s) => (r && r.se !== null && r.beta !== null ? [{ s, r }] : []));
      expect(spec.datasets.inputs.map((x) => x.label)).toEqual(tested.map((t) => STRATA[t.s]));
      tested.forEach((t, j) => {
        expect(spec.datasets.inputs[j].beta).toBeCloseTo(aligned(t.r).beta as number, 12);
      });
      expect(spec.datasets.absent.map((x) => x.label)).toEqual(
        STRATA.filter((_, s) => !tested.some((t) => t.s === s)),
      );
      expect(new Set(spec.datasets.diamonds.map((d) => d.estimate)).size).toBe(ref.k >= 2 ? 2 : 1);
      expect(spec.layer.some((l) => l.encoding.x?.title?.startsWith('odds ratio'))).toBe(true);
    }
  });

  it('lists absent and untested strata as such', () => {
    const absent = forestSpecs(html).find((s) => s.title.text.startsWith(`${V1} × 254.1`));
    expect(absent?.datasets.absent).toEqual([
      expect.objectContaining({ label: 'EAS', text: 'absent (no such row)' }),
    ]);
    const untested = forestSpecs(html).find((s) => s.title.text.startsWith(`${V1} × 255.1`));
    expect(untested?.datasets.absent).toEqual([
      expect.objectContaining({ label: 'AFR', text: 'not tested' }),
    ]);
  });

  it('tables the heterogeneous associations exactly', () => {
    const rows = tableRows(html, 'meta-phewas-heterogeneous-table');
    expect(rows.map((r) => `${r[0]}|${r[1]}`).sort()).toEqual(expectedHeterogeneous().sort());
    for (const r of rows) {
      const ref = rma.get(`${r[0]}|${r[1]}`)?.qp as number;
      expect(Math.abs(Number(r[8]) - ref) / ref, `Q p ${r[8]} vs ${ref}`).toBeLessThan(5e-3);
    }
  });

  it('tables the associations significant in one stratum only, pooled significant or not', () => {
    const rows = tableRows(html, 'meta-phewas-single-input-table');
    expect(rows.map((r) => `${r[0]}|${r[1]}|${r[3]}`).sort()).toEqual(expectedSingle());
    const afr = rows.find((r) => r[1] === '253.1') as string[];
    expect(afr[9]).toBe('no');
    const p = (own.get(`${V1}|253.1`) as number[])[1];
    expect(Math.abs(Number(afr[5]) - p) / p).toBeLessThan(5e-3);
  });

  it('shows a count of 7 as ≤20, and no count it could be derived from', () => {
    const single = tableRows(html, 'meta-phewas-single-input-table').find(
      (r) => r[1] === '253.1',
    ) as string[];
    expect(single.slice(-2)).toEqual(['≤20', `>=${Math.floor((N_PERSONS - 7) / 20) * 20}`]);
    const het = tableRows(html, 'meta-phewas-heterogeneous-table').find((r) => r[1] === '251.1') as string[];
    expect(het.at(-2)).toMatch(/^>=\d+$/);
    expect(card(html, V1, '251.1')).toContain('<td class="num">≤20</td>');
    expect(pageText(html)).not.toMatch(/>\s*7\s*</);
    expect(html).toMatch(/<p class="privacy meta-phewas-privacy">[^<]*from 1 to 20 are shown as ≤20/);
    expect(html).toContain('<h2 id="strata">');
  });
});

describe('the calls read in DuckDB', () => {
  it('equal the calls on every row in JavaScript', async () => {
    const d = (await readMetaPhewas(config, stratRun, [...STRATA])) as MetaPhewasData;
    const all = metaPhewasDataOf(
      stratRun,
      [...STRATA],
      stratOut.results.map((r) => ({ ...r, run_id: stratRun })),
      stratOut.forest,
    );
    expect(d.results.length).toBeLessThan(all.results.length);
    expect(d.counts).toEqual(all.counts);
    expect(d.bonferroni).toEqual(all.bonferroni);
    expect(d.tested).toEqual(all.tested);
    const keys = (x: { row: { predictor: string; phecode: string } }[]) =>
      x.map((s) => `${s.row.predictor}|${s.row.phecode}`);
    expect(keys(significantAssociations(d))).toEqual(keys(significantAssociations(all)));
    expect(keys(heterogeneousAssociations(d).rows)).toEqual(keys(heterogeneousAssociations(all).rows));
    expect(singleInputAssociations(d)).toEqual(singleInputAssociations(all));
  });
});

describe('a PheWAS-only meta run', () => {
  it('renders its PheWAS sections without the GWAS ones', async () => {
    const page = (await buildRunReportHtml(config, phewasMetaRun, { inline: false })).html;
    expect(page).toContain('<h2 id="meta-phewas">');
    expect(page).toContain('<h2 id="inputs">');
    for (const id of ['meta-gwas', 'lead-loci', 'heterogeneity', 'forest', 'leave-one-out'])
      expect(page).not.toContain(`<h2 id="${id}">`);
    const specs = forestSpecs(page);
    expect(specs.length).toBeGreaterThan(0);
    expect(specs[0].layer.some((l) => l.encoding.x?.title?.startsWith('hazard ratio'))).toBe(true);
  });
});

describe('the viewer', () => {
  const ctx = (): Context => ({ config, suppress: 20, query: new URLSearchParams() });

  it('finds a variant that exists only in a meta run', async () => {
    for (const q of [META_ONLY, '7:123456', 'chr7:123,456']) {
      const hits = await search(config, q);
      expect(hits, q).toEqual([expect.objectContaining({ type: 'variant', id: META_ONLY })]);
    }
    expect(await search(config, '7:123457')).toEqual([]);
    const page = await variantPage(ctx(), [META_ONLY]);
    expect('body' in page && page.body).toContain('variant-meta-table');
  });

  it('shows the PheWAS meta-analysis on run pages, variant pages and in the API', async () => {
    const run = await runPage(ctx(), [stratRun]);
    const body = 'body' in run ? run.body : '';
    expect(forestSpecs(body)).toHaveLength(30);
    expect(body).toContain(`href="/variant/${encodeURIComponent(V1)}"`);
    const meta = await runPage(ctx(), [phewasMetaRun]);
    expect('body' in meta && meta.body).toContain('<h2 id="meta-phewas">');
    const variant = await variantPage(ctx(), [V2_SWAPPED]);
    expect('body' in variant && variant.body).toContain('variant-meta-phewas-table');
    const api = await apiRun(ctx(), [stratRun]);
    const j = JSON.parse('body' in api ? api.body : '{}') as {
      meta_phewas: { significant: { n_cases: unknown; inputs: { n_cases: unknown }[] }[] };
    };
    expect(j.meta_phewas.significant).toHaveLength(expectedSignificant().length);
    expect(JSON.stringify(j.meta_phewas)).not.toMatch(/"n_cases":7\b/);
  });
});
