/**
 * The HTML report of a meta-analysis run: one self-contained file built like a study's report
 * (report/index.ts: the same page shell, styles, inlined Vega bundles and privacy banner) from
 * the run's recorded tables (report/data-meta.ts) and its sections (report/sections-meta.ts); a
 * run with a PheWAS meta-analysis (`meta_phewas_results`) gets its sections too, and a PheWAS-only
 * meta run (no `meta_results`, no lead loci) shows those instead of the GWAS sections.
 * Written to `<dataDir>/runs/<run_id>/report.html` by default, through a temp file and a rename.
 * See docs/report.md.
 */
import { join, resolve } from 'node:path';
import { InputError } from '../engine/errors.js';
import { atomicWriteFile } from '../engine/fsutil.js';
import type { Suppression } from '../engine/privacy.js';
import { runDir } from '../engine/results.js';
import type { RunRow } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { metaRunData } from './data-meta.js';
import { readMetaPhewas } from './data-meta-phewas.js';
import { esc, page } from './html.js';
import type { ReportOptions } from './index.js';
import { privacyBanner } from './sections.js';
import { metaSections } from './sections-meta.js';

/** The report of a meta run as one HTML document. Raises InputError for an unknown run. */
export async function buildMetaReportHtml(
  config: EngineConfig,
  runId: string,
  options: ReportOptions = {},
): Promise<{ html: string; run: RunRow }> {
  const suppress: Suppression = options.noSuppress ? false : config.privacy.smallCellMax;
  const data = await metaRunData(config, runId);
  const { run } = data;
  const phewas = await readMetaPhewas(
    config,
    runId,
    data.inputs.map((x) => x.label),
  );
  const phewasOnly = phewas !== null && data.summary.nVariants === 0 && data.leads.length === 0;
  const nInputs = data.inputs.length || (phewas?.labels.length ?? 0);
  const what = phewasOnly
    ? `PheWAS meta-analysis (${phewas.results.length.toLocaleString('en')} associations)`
    : `trait ${esc(data.trait ?? '—')}`;
  const sections = [
    `<h1>Meta-analysis report: ${esc(run.study_id)}</h1>
<p class="meta">run <code>${esc(run.run_id)}</code> · status <b>${esc(run.status)}</b> · ${what} · ${nInputs} inputs (summary statistics only) · finished ${esc(run.finished_at ?? '—')}</p>`,
    privacyBanner(suppress),
  ];
  if (run.status !== 'completed')
    sections.push(`<p class="privacy">This run is <b>${esc(run.status)}</b>: results may be incomplete.</p>`);
  sections.push(
    ...metaSections(data, suppress, options.links ?? {}, phewas),
    `<p class="note">Report built by biobank-engine ${esc(run.software_version)}; plots drawn with Vega-Lite.</p>`,
  );
  const html = page({
    title: `${run.study_id} · ${run.run_id}`,
    body: sections.join('\n'),
    inline: options.inline ?? true,
    header: options.header,
  });
  return { html, run };
}

/**
 * Write a meta run's report: `<outDir>/report.html`, by default in `<dataDir>/runs/<run_id>/`.
 * Atomic (temp file + rename); an unknown run writes nothing.
 */
export async function writeMetaRunReport(
  config: EngineConfig,
  runId: string,
  outDir?: string,
  options: { noSuppress?: boolean } = {},
): Promise<{ path: string; bytes: number }> {
  if (outDir !== undefined && outDir.trim() === '')
    throw new InputError('empty output folder', { field: '--out' });
  const { html } = await buildMetaReportHtml(config, runId, { noSuppress: options.noSuppress });
  const path = join(outDir === undefined ? runDir(config.dataDir, runId) : resolve(outDir), 'report.html');
  await atomicWriteFile(path, html);
  return { path, bytes: Buffer.byteLength(html) };
}
