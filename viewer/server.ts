/**
 * The local results viewer (`biobank serve`): a small node:http server over the results
 * database, read-only.
 *
 * - Binds 127.0.0.1 by default. Requests whose Host header is not the address it listens on
 *   (or `localhost`) are refused, so a web page elsewhere cannot reach it by DNS rebinding.
 * - A fixed set of routes (`ROUTES`); every path parameter is checked against a pattern and
 *   every value reaches DuckDB as a bound parameter. Nothing is read from disk by URL: the
 *   static assets (vega bundles, CSS, boot script) are served from an in-memory map.
 * - The engine database is attached read-only for each request's unit of work
 *   (`withEngineDb(..., { readOnly: true })`); GWAS Parquet is read directly.
 * - Person counts 1–20 are shown as `≤20` unless started with `noSuppress` (engine/privacy.ts).
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../engine/errors.js';
import { type Suppression, suppressCount, suppressCountGroup, suppressReason } from '../engine/privacy.js';
import { listRuns } from '../engine/results.js';
import { requireRun } from '../export/common.js';
import {
  findVariants,
  geneResults,
  gwasPhenotypeNames,
  knownGene,
  knownPhecode,
  manhattanData,
  phewasForPhecode,
  phewasForPredictor,
  qqData,
  runTables,
  topHits,
  variantGwasRows,
  variantsInGene,
} from '../report/data.js';
import { assets, esc, fmtNum, fmtP, page, table } from '../report/html.js';
import { buildRunReportHtml } from '../report/index.js';
import {
  burdenSection,
  gwasPlots,
  type Links,
  leadLociTable,
  phewasBlock,
  phewasTable,
  plotId,
  privacyBanner,
  topHitsTable,
} from '../report/sections.js';
import { RUN_ID_PATTERN } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';

export interface ViewerOptions {
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Show person counts 1–20 (default: shown as `≤20`). */
  noSuppress?: boolean;
}

export interface Viewer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export const DEFAULT_PORT = 8787;

// --- Parameter patterns (anything else is a 400 or 404) ---

const VARIANT_ID = /^[A-Za-z0-9_.]{1,64}:[0-9]{1,12}:[A-Za-z*.<>-]{1,500}:[A-Za-z*.<>,-]{1,500}$/;
const GENE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PHECODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
/** Phenotype names: 1–200 characters, no control characters or slashes. */
function isPhenotype(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 200 &&
    !/[/\\]/.test(value) &&
    ![...value].some((c) => c.charCodeAt(0) < 32)
  );
}
const RSID = /^rs[0-9]{1,12}$/i;
const CHR_POS = /^(?:chr)?([0-9]{1,2}|X|Y|MT?)[:_\s-]([0-9][0-9,]{0,14})$/i;
const PHECODE_LIKE = /^([0-9]{3}(\.[0-9]{1,2})?|[A-Z]{2}_[0-9]{3}(\.[0-9]{1,2})?)$/i;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const notFound = () => new HttpError(404, 'not found');
const badRequest = (what: string) => new HttpError(400, `bad ${what}`);

function check(value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value)) throw badRequest(what);
  return value;
}

function checkRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) throw notFound();
  return runId;
}

// --- Links and page shell ---

const links: Links = {
  variant: (id) => `/variant/${encodeURIComponent(id)}`,
  gene: (g) => `/gene/${encodeURIComponent(g)}`,
  phecode: (p) => `/phecode/${encodeURIComponent(p)}`,
};
const runLink = (runId: string) => `/runs/${encodeURIComponent(runId)}`;
const gwasLink = (runId: string, phenotype: string) =>
  `/runs/${encodeURIComponent(runId)}/gwas/${encodeURIComponent(phenotype)}`;

function header(q = ''): string {
  return `<header class="top"><a href="/">biobank results</a><a href="/">runs</a>
<form action="/search" method="get" role="search"><input name="q" value="${esc(q)}" placeholder="rsid, chr:pos, gene or phecode" aria-label="search"></form></header>`;
}

function viewerPage(title: string, body: string, q = ''): string {
  return page({ title: `${title} · biobank`, body, inline: false, header: header(q) });
}

// --- Handlers ---

type Reply = { status?: number; type: 'html' | 'json' | 'js' | 'css'; body: string } | { redirect: string };

interface Context {
  config: EngineConfig;
  suppress: Suppression;
  query: URLSearchParams;
}

type Handler = (ctx: Context, params: string[]) => Promise<Reply>;

const json = (value: unknown): Reply => ({ type: 'json', body: JSON.stringify(value) });
const html = (body: string): Reply => ({ type: 'html', body });

async function runsPage(ctx: Context): Promise<Reply> {
  const runs = await listRuns(ctx.config);
  const body = `<h1>Runs</h1><p class="meta">${runs.length} run(s) in ${esc(ctx.config.database)}</p>
${table(
  runs,
  [
    { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}">${esc(r.run_id)}</a>` },
    { title: 'study', html: (r) => esc(r.study_id) },
    { title: 'status', html: (r) => esc(r.status) },
    { title: 'release', html: (r) => esc(r.release_id) },
    { title: 'started', html: (r) => esc(r.started_at) },
    { title: 'finished', html: (r) => esc(r.finished_at ?? '') },
    { title: 'software', html: (r) => esc(r.software_version) },
  ],
  'runs-table',
  'no runs recorded yet: run a study first (biobank study run …)',
)}`;
  return html(viewerPage('runs', body));
}

async function runPage(ctx: Context, [runId]: string[]): Promise<Reply> {
  checkRunId(runId);
  const names = await gwasPhenotypeNames(ctx.config, runId).catch(() => []);
  const nav = names.length
    ? `<p class="meta">GWAS pages: ${names.map((n) => `<a href="${esc(gwasLink(runId, n))}">${esc(n)}</a>`).join(' · ')}</p>`
    : '';
  const { html: doc } = await buildRunReportHtml(ctx.config, runId, {
    noSuppress: !ctx.suppress,
    links: { ...links, variant: links.variant },
    inline: false,
    header:
      header() + (nav ? `<div style="max-width:1200px;margin:0 auto;padding:8px 24px 0">${nav}</div>` : ''),
  });
  return html(doc);
}

async function phenotypeOf(ctx: Context, runId: string, phenotype: string): Promise<void> {
  checkRunId(runId);
  if (!isPhenotype(phenotype)) throw badRequest('phenotype');
  await requireRun(ctx.config, runId);
  const names = await gwasPhenotypeNames(ctx.config, runId);
  if (!names.includes(phenotype)) throw notFound();
}

async function gwasPage(ctx: Context, [runId, phenotype]: string[]): Promise<Reply> {
  await phenotypeOf(ctx, runId, phenotype);
  const [manhattan, qq, top, tables] = await Promise.all([
    manhattanData(ctx.config, runId, phenotype),
    qqData(ctx.config, runId, phenotype),
    topHits(ctx.config, runId, phenotype, 50),
    runTables(ctx.config, runId),
  ]);
  const lead = tables.lead.filter((l) => l.phenotype === phenotype);
  const meta = tables.phenotypes.find((p) => p.phenotype === phenotype);
  const known = new Map(top.map((t) => [t.variant_id, { rsid: t.rsid, nlp: t.nlp }]));
  for (const p of manhattan.points) known.set(p.variant_id, { rsid: p.rsid, nlp: p.nlp });
  const body = `<h1>GWAS: ${esc(phenotype)}${meta?.description ? ` — ${esc(meta.description)}` : ''}</h1>
<p class="meta">run <a href="${esc(runLink(runId))}">${esc(runId)}</a></p>
${privacyBanner(ctx.suppress)}
${gwasPlots(phenotype, 0, manhattan, qq, lead, links)}
<h2>Lead loci</h2>${leadLociTable(lead, links, known)}
<h2>Top hits</h2>${topHitsTable(top, links, ctx.suppress)}`;
  return html(viewerPage(`GWAS ${phenotype}`, body));
}

async function variantPage(ctx: Context, [variantId]: string[]): Promise<Reply> {
  check(variantId, VARIANT_ID, 'variant id (expected chrom:pos:ref:alt)');
  const [gwas, phewas] = await Promise.all([
    variantGwasRows(ctx.config, variantId),
    phewasForPredictor(ctx.config, variantId),
  ]);
  if (gwas.length === 0 && phewas.length === 0) throw notFound();
  const rsid = gwas.find((g) => g.rsid)?.rsid;
  const runs = [...new Set(phewas.map((r) => r.run_id))];
  const phewasParts = runs.map((runId, i) => {
    const rows = phewas.filter((r) => r.run_id === runId);
    return `<section class="card"><h3>PheWAS in run <a href="${esc(runLink(runId))}">${esc(runId)}</a></h3>
${phewasBlock(plotId('phewas', runId, i), rows, ctx.suppress, links)}
<details><summary>all ${rows.length} phecodes</summary>${phewasTable(rows, ctx.suppress, links, 'phewas-all')}</details></section>`;
  });
  const body = `<h1>Variant ${esc(variantId)}${rsid ? ` (${esc(rsid)})` : ''}</h1>
${privacyBanner(ctx.suppress)}
<h2>PheWAS across phecodes</h2>
${phewasParts.length ? phewasParts.join('\n') : '<p class="empty">no PheWAS of this variant</p>'}
<h2>GWAS results across runs</h2>
${table(
  gwas,
  [
    { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}">${esc(r.run_id)}</a>` },
    {
      title: 'phenotype',
      html: (r) => `<a href="${esc(gwasLink(r.run_id, r.phenotype))}">${esc(r.phenotype)}</a>`,
    },
    { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.nlp)) },
    { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
    { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
    { title: 'AF', numeric: true, html: (r) => esc(fmtNum(r.af)) },
    { title: 'test', html: (r) => esc(r.test) },
  ],
  'variant-gwas-table',
)}`;
  return html(viewerPage(variantId, body));
}

async function genePage(ctx: Context, [gene]: string[]): Promise<Reply> {
  check(gene, GENE, 'gene');
  const { burden, phewas } = await geneResults(ctx.config, gene);
  const variants = await variantsInGene(ctx.config, gene);
  if (burden.length === 0 && phewas.length === 0 && variants.length === 0) throw notFound();
  const runs = [...new Set([...burden.map((b) => b.run_id), ...phewas.map((p) => p.run_id)])];
  const parts = runs.map(
    (runId) => `<section class="card"><h3>Run <a href="${esc(runLink(runId))}">${esc(runId)}</a></h3>
${burdenSection(
  burden.filter((b) => b.run_id === runId),
  phewas.filter((p) => p.run_id === runId),
  ctx.suppress,
  links,
)}</section>`,
  );
  const variantRows = variants
    .map(
      (v) =>
        `<tr><td>${esc(v.release_id)}</td><td><a href="${esc(links.variant?.(v.variant_id) ?? '#')}">${esc(v.variant_id)}</a></td><td>${esc(v.rsid ?? '')}</td><td>${esc(v.consequence ?? '')}</td><td class="num">${v.af === null ? '' : esc(Number(v.af).toPrecision(3))}</td></tr>`,
    )
    .join('');
  const variantTable = variants.length
    ? `<table class="gene-variants"><thead><tr><th>release</th><th>variant</th><th>rsid</th><th>consequence</th><th>AF</th></tr></thead><tbody>${variantRows}</tbody></table>`
    : '<p class="empty">no variants of this gene in the registered releases</p>';
  const body = `<h1>Gene ${esc(gene)}</h1>${privacyBanner(ctx.suppress)}<h2>Burden results</h2>${parts.join('\n') || '<p class="empty">no burden results for this gene</p>'}
<h2>Variants in ${esc(gene)} (${variants.length}${variants.length === 500 ? '+' : ''})</h2>${variantTable}`;
  return html(viewerPage(gene, body));
}

async function phecodePage(ctx: Context, [phecode]: string[]): Promise<Reply> {
  check(phecode, PHECODE, 'phecode');
  const rows = await phewasForPhecode(ctx.config, phecode);
  if (rows.length === 0) throw notFound();
  const d = rows.find((r) => r.description)?.description;
  const body = `<h1>Phecode ${esc(phecode)}${d ? ` — ${esc(d)}` : ''}</h1>${privacyBanner(ctx.suppress)}
<h2>Associations across predictors and runs</h2>${phewasTable(rows, ctx.suppress, links, 'phecode-table')}`;
  return html(viewerPage(`phecode ${phecode}`, body));
}

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
    return variantHits(await findVariants(config, { chrom, pos: Number(cp[2].replaceAll(',', '')) }));
  }
  if (VARIANT_ID.test(q)) {
    const rows = await variantGwasRows(config, q);
    const ph = rows.length ? [] : await phewasForPredictor(config, q);
    return rows.length || ph.length ? variantHits([{ variant_id: q, rsid: rows[0]?.rsid ?? null }]) : [];
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

async function searchPage(ctx: Context): Promise<Reply> {
  const q = ctx.query.get('q') ?? '';
  const hits = await search(ctx.config, q);
  if (hits.length === 1) return { redirect: hits[0].url };
  const body = `<h1>Search</h1><p class="meta">${hits.length} result(s) for <b>${esc(q)}</b></p>
${
  hits.length
    ? `<ul class="search-results">${hits.map((h) => `<li>${esc(h.type)}: <a href="${esc(h.url)}">${esc(h.label)}</a></li>`).join('')}</ul>`
    : '<p class="empty">Nothing found. Search by rsid (rs123), chr:pos (1:55039974), a variant id (1:55039974:G:T), a gene symbol (PCSK9) or a phecode (272.1).</p>'
}`;
  return html(viewerPage('search', body, q));
}

async function staticAsset(_ctx: Context, [name]: string[]): Promise<Reply> {
  const all = assets();
  if (!Object.hasOwn(all, name)) throw notFound();
  return { type: name.endsWith('.css') ? 'css' : 'js', body: all[name] };
}

// --- JSON API (same data as the pages) ---

async function apiRuns(ctx: Context): Promise<Reply> {
  return json({ runs: await listRuns(ctx.config) });
}

async function apiRun(ctx: Context, [runId]: string[]): Promise<Reply> {
  const run = await requireRun(ctx.config, checkRunId(runId));
  return json({ run, phenotypes: await gwasPhenotypeNames(ctx.config, runId) });
}

async function apiGwas(ctx: Context, [runId, phenotype]: string[]): Promise<Reply> {
  await phenotypeOf(ctx, runId, phenotype);
  const limit = Number(ctx.query.get('limit') ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw badRequest('limit (1–10000)');
  const [manhattan, qq, top] = await Promise.all([
    manhattanData(ctx.config, runId, phenotype),
    qqData(ctx.config, runId, phenotype),
    topHits(ctx.config, runId, phenotype, limit),
  ]);
  return json({ run_id: runId, phenotype, top: suppressTop(top, ctx.suppress), manhattan, qq });
}

function suppressTop<T extends { n: number | null }>(rows: T[], suppress: Suppression) {
  return rows.map((r) => ({ ...r, n: suppressCount(r.n, suppress) }));
}

async function apiVariant(ctx: Context, [variantId]: string[]): Promise<Reply> {
  check(variantId, VARIANT_ID, 'variant id');
  const [gwas, phewas] = await Promise.all([
    variantGwasRows(ctx.config, variantId),
    phewasForPredictor(ctx.config, variantId),
  ]);
  if (gwas.length === 0 && phewas.length === 0) throw notFound();
  return json({
    variant_id: variantId,
    gwas: suppressTop(gwas, ctx.suppress),
    phewas: suppressPhewas(phewas, ctx.suppress),
  });
}

function suppressPhewas<
  T extends { n_cases: number; n_controls: number; n_excluded: number; reason: string | null },
>(rows: T[], suppress: Suppression) {
  return rows.map((r) => {
    const shown = suppressCountGroup(
      { n_cases: r.n_cases, n_controls: r.n_controls, n_excluded: r.n_excluded },
      suppress,
    );
    return { ...r, ...shown, reason: suppressReason(r.reason, shown, suppress) };
  });
}

async function apiGene(ctx: Context, [gene]: string[]): Promise<Reply> {
  check(gene, GENE, 'gene');
  const { burden, phewas } = await geneResults(ctx.config, gene);
  const variants = await variantsInGene(ctx.config, gene);
  if (burden.length === 0 && phewas.length === 0 && variants.length === 0) throw notFound();
  return json({
    gene,
    variants,
    burden: burden.map((b) => ({
      ...b,
      n_carriers: suppressCount(b.n_carriers, ctx.suppress),
    })),
    phewas: suppressPhewas(phewas, ctx.suppress),
  });
}

async function apiPhecode(ctx: Context, [phecode]: string[]): Promise<Reply> {
  check(phecode, PHECODE, 'phecode');
  const rows = await phewasForPhecode(ctx.config, phecode);
  if (rows.length === 0) throw notFound();
  return json({ phecode, phewas: suppressPhewas(rows, ctx.suppress) });
}

async function apiSearch(ctx: Context): Promise<Reply> {
  return json({ hits: await search(ctx.config, ctx.query.get('q') ?? '') });
}

/** Every route: a pattern of literal segments and `:param` placeholders, and its handler. */
export const ROUTES: [string, Handler][] = [
  ['/', runsPage],
  ['/runs/:run', runPage],
  ['/runs/:run/gwas/:phenotype', gwasPage],
  ['/variant/:id', variantPage],
  ['/gene/:gene', genePage],
  ['/phecode/:phecode', phecodePage],
  ['/search', searchPage],
  ['/static/:name', staticAsset],
  ['/api/runs', apiRuns],
  ['/api/runs/:run', apiRun],
  ['/api/runs/:run/gwas/:phenotype', apiGwas],
  ['/api/variant/:id', apiVariant],
  ['/api/gene/:gene', apiGene],
  ['/api/phecode/:phecode', apiPhecode],
  ['/api/search', apiSearch],
];

const COMPILED = ROUTES.map(([pattern, handler]) => ({
  parts: pattern === '/' ? [] : pattern.slice(1).split('/'),
  handler,
}));

/** Match a request path against the fixed routes; parameters are URL-decoded segments. */
export function matchRoute(pathname: string): { handler: Handler; params: string[] } | undefined {
  const raw = pathname === '/' ? [] : pathname.slice(1).split('/');
  let segments: string[];
  try {
    segments = raw.map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  for (const route of COMPILED) {
    if (route.parts.length !== segments.length) continue;
    const params: string[] = [];
    let ok = true;
    for (let i = 0; i < segments.length && ok; i++) {
      const part = route.parts[i];
      if (part.startsWith(':')) {
        if (segments[i] === '' || segments[i] === '.' || segments[i] === '..') ok = false;
        else params.push(segments[i]);
      } else if (part !== segments[i]) ok = false;
    }
    if (ok) return { handler: route.handler, params };
  }
  return undefined;
}

const TYPES = {
  html: 'text/html; charset=utf-8',
  json: 'application/json; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
} as const;

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  // vega compiles its expressions with Function(), hence 'unsafe-eval'; vega-embed adds a <style>.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
};

function send(res: ServerResponse, status: number, type: keyof typeof TYPES, body: string, head: boolean) {
  res.writeHead(status, {
    'Content-Type': TYPES[type],
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(head ? undefined : body);
}

function sendError(res: ServerResponse, status: number, message: string, api: boolean, head: boolean) {
  if (api) send(res, status, 'json', JSON.stringify({ error: message }), head);
  else
    send(res, status, 'html', viewerPage(String(status), `<h1>${status}</h1><p>${esc(message)}</p>`), head);
}

/** The request handler (exported for tests that want no socket). */
export function createViewerHandler(
  config: EngineConfig,
  options: ViewerOptions & { allowedHosts?: Set<string> } = {},
) {
  const suppress: Suppression = options.noSuppress ? false : config.privacy.smallCellMax;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    const rawUrl = req.url ?? '/';
    const api = rawUrl.startsWith('/api/');
    try {
      if (req.method !== 'GET' && !head) {
        res.setHeader('Allow', 'GET, HEAD');
        throw new HttpError(405, 'method not allowed');
      }
      if (options.allowedHosts && !options.allowedHosts.has(String(req.headers.host ?? '').toLowerCase()))
        throw new HttpError(403, 'unexpected Host header');
      if (rawUrl.length > 4096 || !rawUrl.startsWith('/')) throw badRequest('URL');
      const url = new URL(rawUrl, 'http://viewer.invalid');
      const route = matchRoute(url.pathname);
      if (!route) throw notFound();
      const reply = await route.handler({ config, suppress, query: url.searchParams }, route.params);
      if ('redirect' in reply) {
        res.writeHead(302, { Location: reply.redirect, 'Cache-Control': 'no-store', ...SECURITY_HEADERS });
        res.end();
        return;
      }
      send(res, reply.status ?? 200, reply.type, reply.body, head);
    } catch (err) {
      if (err instanceof HttpError) sendError(res, err.status, err.message, api, head);
      else if (err instanceof InputError) sendError(res, 404, 'not found', api, head);
      else if (/lock/i.test(String((err as Error)?.message)))
        sendError(
          res,
          503,
          'the results database is busy (a study is writing); retry in a moment',
          api,
          head,
        );
      else {
        console.error(`viewer: ${req.method} ${rawUrl.slice(0, 200)}: ${(err as Error)?.message ?? err}`);
        sendError(res, 500, 'internal error (see the server log)', api, head);
      }
    }
  };
}

/** Start the viewer; resolves once it listens. */
export async function startViewer(config: EngineConfig, options: ViewerOptions = {}): Promise<Viewer> {
  const host = options.host ?? '127.0.0.1';
  const everywhere = host === '0.0.0.0' || host === '::';
  // Listening on every interface: the Host header can be any of the machine's names; no check.
  const allowedHosts = everywhere ? undefined : new Set<string>();
  const handler = createViewerHandler(config, { ...options, allowedHosts });
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolvePromise();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  for (const h of [shown, 'localhost']) allowedHosts?.add(`${h}:${port}`.toLowerCase());
  return {
    url: `http://${shown}:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
