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
import type { Suppression } from '../engine/privacy.js';
import { esc } from '../report/html.js';
import type { EngineConfig } from '../temporal.config.js';
import { apiGene, apiGwas, apiPhecode, apiRun, apiRuns, apiSearch, apiVariant } from './routes-api.js';
import { badRequest, type Handler, HttpError, notFound } from './routes-common.js';
import {
  genePage,
  gwasPage,
  phecodePage,
  runPage,
  runsPage,
  searchPage,
  staticAsset,
  variantPage,
  viewerPage,
} from './routes-pages.js';

export { type SearchHit, search } from './search.js';

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
