/**
 * HTML building blocks shared by the report and the viewer: escaping, tables, the page shell,
 * plot placeholders and the vega / vega-lite / vega-embed bundles (read once from their npm
 * packages' `build/` folders, so the report can inline them and the viewer can serve them from
 * memory).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { VegaLiteSpec } from './specs.js';

/** Escape text for HTML element content and attribute values. */
export function esc(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** JSON safe to place inside a `<script>` element (no `</script>`, no `<!--`). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

/** Number formatting for tables: p-values in scientific notation, others to 3–4 significant digits. */
export function fmtP(p: number | null | undefined, nlp?: number | null): string {
  if (p === null || p === undefined) return '';
  if (p === 0 && nlp !== null && nlp !== undefined) return `1e-${Math.round(nlp)}`;
  return p < 1e-3 ? p.toExponential(2) : p.toPrecision(3);
}

export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined) return '';
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return x.toLocaleString('en');
  return Number(x).toPrecision(digits);
}

export interface Column<T> {
  title: string;
  /** Cell HTML (already escaped) for a row. */
  html: (row: T) => string;
  numeric?: boolean;
}

/** An HTML table; `cls` names it for tests and CSS. */
export function table<T>(rows: T[], columns: Column<T>[], cls: string, empty = 'none'): string {
  if (rows.length === 0) return `<p class="empty ${esc(cls)}">${esc(empty)}</p>`;
  const head = columns.map((c) => `<th${c.numeric ? ' class="num"' : ''}>${esc(c.title)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${columns.map((c) => `<td${c.numeric ? ' class="num"' : ''}>${c.html(r)}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="${esc(cls)}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A plot placeholder plus its spec; the page's boot script renders every one. */
export function plot(id: string, spec: VegaLiteSpec, caption?: string): string {
  return `<figure class="plot-figure"><div class="plot" id="${esc(id)}" data-plot="${esc(id)}"></div>
<script type="application/json" id="${esc(id)}-spec">${scriptJson(spec)}</script>${
    caption ? `<figcaption>${caption}</figcaption>` : ''
  }</figure>`;
}

// --- Library bundles ---

const require = createRequire(import.meta.url);

/** The minified UMD bundle of a package, found next to its resolved entry point in `build/`. */
function bundle(pkg: string, file: string): string {
  const js = readFileSync(join(dirname(require.resolve(pkg)), file), 'utf8');
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

let cachedAssets: Record<string, string> | undefined;

/** `vega.min.js`, `vega-lite.min.js`, `vega-embed.min.js`, `boot.js` and `style.css`, by name. */
export function assets(): Record<string, string> {
  cachedAssets ??= {
    'vega.min.js': bundle('vega', 'vega.min.js'),
    'vega-lite.min.js': bundle('vega-lite', 'vega-lite.min.js'),
    'vega-embed.min.js': bundle('vega-embed', 'vega-embed.min.js'),
    'boot.js': BOOT_JS,
    'style.css': STYLE_CSS,
  };
  return cachedAssets;
}

/**
 * Renders every `[data-plot]` element from the JSON spec next to it, as SVG. When all plots are
 * drawn, sets `document.body.dataset.plots` to `done` (or `error`); `window.__views` holds the
 * vega views by plot id (the browser tests read them).
 */
const BOOT_JS = `(function () {
  window.__views = {};
  var els = Array.prototype.slice.call(document.querySelectorAll('[data-plot]'));
  var jobs = els.map(function (el) {
    var spec = JSON.parse(document.getElementById(el.id + '-spec').textContent);
    return vegaEmbed(el, spec, { renderer: 'svg', actions: false, tooltip: true })
      .then(function (r) { window.__views[el.id] = r.view; el.dataset.rendered = 'true'; })
      .catch(function (e) { el.dataset.rendered = 'error'; el.textContent = 'plot failed: ' + e.message; throw e; });
  });
  Promise.all(jobs).then(
    function () { document.body.dataset.plots = 'done'; },
    function () { document.body.dataset.plots = 'error'; });
})();
`;

const STYLE_CSS = `
:root { --ink: #1d2733; --muted: #5b6773; --line: #d9dee3; --accent: #1f4e79; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0; background: #f6f7f9; }
header.top { background: var(--accent); color: #fff; padding: 10px 24px; display: flex; gap: 24px; align-items: center; flex-wrap: wrap; }
header.top a { color: #fff; text-decoration: none; font-weight: 600; }
header.top form { margin-left: auto; }
header.top input { padding: 4px 8px; width: 320px; border-radius: 4px; border: 0; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, .note { color: var(--muted); }
.note { font-size: 13px; }
section.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin: 12px 0; }
figure.plot-figure { margin: 8px 0; }
figure.plot-figure figcaption { color: var(--muted); font-size: 12px; }
.plot { width: 100%; min-height: 120px; }
.row { display: flex; gap: 16px; flex-wrap: wrap; }
.row > * { flex: 1 1 360px; min-width: 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; background: #fff; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f0f2f4; padding: 8px; overflow: auto; font-size: 12px; max-height: 320px; }
code { font-size: 12px; }
.privacy { background: #fff7e0; border: 1px solid #f0d890; padding: 6px 10px; border-radius: 4px; font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
a { color: var(--accent); }
`;

export interface PageOptions {
  title: string;
  body: string;
  /** Inline the libraries (the report) or link them from `/static/` (the viewer). */
  inline: boolean;
  /** Extra header HTML (the viewer's navigation and search box). */
  header?: string;
}

/** A complete HTML document. */
export function page(options: PageOptions): string {
  const a = assets();
  const scripts = options.inline
    ? ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js', 'boot.js'].map(
        (n) => `<script>${a[n]}</script>`,
      )
    : ['vega.min.js', 'vega-lite.min.js', 'vega-embed.min.js', 'boot.js'].map(
        (n) => `<script src="/static/${n}"></script>`,
      );
  const style = options.inline
    ? `<style>${a['style.css']}</style>`
    : '<link rel="stylesheet" href="/static/style.css">';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)}</title>
<link rel="icon" href="data:,">
${style}
</head>
<body>
${options.header ?? ''}
<main>
${options.body}
</main>
${scripts.join('\n')}
</body>
</html>
`;
}
