/**
 * The meta-analysis report (`<runDir>/report.html`), a minimal self-contained page read back from
 * the results catalog: the inputs with their provenance (format, file, sha256, rows read and
 * kept, what was dropped and why, n / cases / controls as given — person counts under the
 * small-cell rule of engine/privacy.ts — and each input's λGC from its own p-values), the
 * meta-analysis summary (variants by number of contributing inputs, λGC) and the lead loci with
 * k, direction, Q p and I², each with its per-input β and SE (the `meta_forest` rows a forest
 * plot draws).
 */
import { join } from 'node:path';
import { withEngineDb } from '../engine/duckdb.js';
import { atomicWriteFile } from '../engine/fsutil.js';
import { privacyNote, type Suppression, suppressCountGroup } from '../engine/privacy.js';
import { selectRows } from '../engine/results-db.js';
import type { MetaResult } from '../schemas/meta.js';
import type { EngineConfig } from '../temporal.config.js';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fmt = (x: unknown, digits = 4) =>
  x === null || x === undefined
    ? 'NA'
    : typeof x === 'number'
      ? Math.abs(x) < 1e-3 && x !== 0
        ? x.toExponential(2)
        : x.toPrecision(digits)
      : esc(x);

function table(head: string[], rows: unknown[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((v) => `<td>${typeof v === 'number' || v === null ? fmt(v) : esc(v)}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

/** Write the report of a recorded meta run; returns its path. */
export async function writeMetaReport(
  config: EngineConfig,
  runId: string,
  runDir: string,
  result: MetaResult,
  options: { noSuppress?: boolean } = {},
): Promise<string> {
  const suppress: Suppression = options.noSuppress ? false : config.privacy.smallCellMax;
  const { inputs, forest } = await withEngineDb(
    config,
    async (conn) => ({
      inputs: await selectRows(conn, 'SELECT * FROM meta_inputs WHERE run_id = $1 ORDER BY input_index', [
        runId,
      ]),
      forest: await selectRows(
        conn,
        'SELECT * FROM meta_forest WHERE run_id = $1 ORDER BY chrom, pos, effect_allele, other_allele',
        [runId],
      ),
    }),
    { readOnly: true },
  );
  const inputRows = inputs.map((x) => {
    const shown = suppressCountGroup(
      { n: x.n as number | null, cases: x.n_cases as number | null, controls: x.n_controls as number | null },
      suppress,
    );
    return [
      x.label,
      x.format,
      x.path,
      String(x.sha256).slice(0, 16),
      x.rows_read,
      x.rows_kept,
      Object.entries(JSON.parse(String(x.dropped_json)) as Record<string, number>)
        .filter(([, n]) => n > 0)
        .map(([r, n]) => `${r} ${n}`)
        .join(', ') || 'none',
      shown.n ?? 'NA',
      shown.cases ?? 'NA',
      shown.controls ?? 'NA',
      x.ancestry ?? '',
      x.lambda_gc as number | null,
    ];
  });
  const byLead = new Map<string, Record<string, unknown>[]>();
  for (const f of forest) {
    const key = `${f.chrom}:${f.pos}:${f.effect_allele}:${f.other_allele}`;
    byLead.set(key, [...(byLead.get(key) ?? []), f]);
  }
  const leadRows = result.leadLoci.map((l, i) => [
    i + 1,
    `${l.chrom}:${l.pos}`,
    `${l.effectAllele}/${l.otherAllele}`,
    l.beta,
    l.se,
    l.p,
    l.k,
    l.direction,
    l.qP,
    l.i2,
    `${l.chrom}:${l.start}-${l.end} (${l.nVariants})`,
  ]);
  const forestHtml = result.leadLoci
    .map((l) => {
      const rows = byLead.get(`${l.chrom}:${l.pos}:${l.effectAllele}:${l.otherAllele}`) ?? [];
      return `<h3>${esc(`${l.chrom}:${l.pos} ${l.effectAllele}/${l.otherAllele}`)}</h3>${table(
        ['input', 'β', 'SE', 'alignment'],
        rows.map((r) => [r.label, r.beta as number | null, r.se as number | null, r.aligned]),
      )}`;
    })
    .join('');
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Meta-analysis ${esc(result.metaId)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#f3f3f3}.note{color:#555;font-size:13px}</style></head>
<body><h1>Meta-analysis ${esc(result.metaId)}</h1>
<p class="note">run ${esc(runId)} · ${result.nVariants} variants in the union of ${inputs.length} inputs, ${result.nAnalysed} analysed · λGC ${fmt(result.lambdaGc)} · fixed-effect inverse-variance, sample-size-weighted z, DerSimonian–Laird random effects, Cochran's Q and I² (docs/methods.md)</p>
<p class="note">${esc(privacyNote(suppress))} Counts are as the sites gave them.</p>
<h2>Inputs</h2>${table(['label', 'format', 'file', 'sha256', 'rows read', 'rows kept', 'dropped', 'n', 'cases', 'controls', 'ancestry', 'λGC'], inputRows)}
<h2>Lead loci</h2>${leadRows.length ? table(['#', 'variant', 'effect/other', 'β', 'SE', 'p', 'k', 'direction', 'Q p', 'I² %', 'locus (variants)'], leadRows) : '<p>No variant reached the significance threshold.</p>'}
${forestHtml ? `<h2>Per-input estimates at the lead loci</h2>${forestHtml}` : ''}
</body></html>`;
  const path = join(runDir, 'report.html');
  await atomicWriteFile(path, html);
  return path;
}
