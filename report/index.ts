/**
 * The HTML report of one run: ONE self-contained file (vega, vega-lite and vega-embed inlined,
 * so it opens offline) with the Manhattan and QQ plots of every GWAS phenotype, the lead-loci
 * table, a PheWAS plot per lead locus, the time-to-event (Cox) PheWAS with its HR plots and
 * coarsened Kaplan–Meier curves (report/sections-cox.ts), the burden PheWAS and burden tests, the
 * QC summary and the run's provenance. Written to `<dataDir>/runs/<run_id>/report.html` by default, through a
 * temp file and a rename. See docs/report.md.
 */

import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../engine/errors.js';
import { atomicWriteFile } from '../engine/fsutil.js';
import type { Suppression } from '../engine/privacy.js';
import { releaseAssemblyOf } from '../engine/release.js';
import { requireRun, runDir } from '../engine/results.js';
import type { RunRow } from '../schemas/results.js';
import { ANALYSIS_FILES, type AnalysisTable } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { gwasPhenotypeNames, kmCurves, manhattanData, qqData, runTables, topHits } from './data.js';
import { isMetaRun } from './data-meta.js';
import { esc, page } from './html.js';
import { buildMetaReportHtml } from './meta.js';
import {
  burdenSection,
  gwasMethodNote,
  gwasPlots,
  type KnownVariants,
  type Links,
  leadLociTable,
  phenotypesTable,
  phewasBlock,
  phewasPopulationNote,
  plotId,
  privacyBanner,
  provenance,
  qcTable,
  topHitsTable,
} from './sections.js';
import { coxSection } from './sections-cox.js';
import { readStrata, strataSection } from './sections-strata.js';

/** KM curves are drawn for at most this many top associations of each predictor in the report. */
export const REPORT_KM_PER_PREDICTOR = 4;

/** At most this many GWAS phenotypes get Manhattan and QQ plots in one report. */
export const REPORT_MAX_PHENOTYPES = 25;

export interface ReportOptions {
  /** Show person counts from 1 to 20 (default false: shown as `≤20`, engine/privacy.ts). */
  noSuppress?: boolean;
  /** Links for the viewer; the report has none (it is one file). */
  links?: Links;
  /** Inline the libraries (default true). */
  inline?: boolean;
  header?: string;
}

/**
 * The population of a run's lead-locus PheWAS, from the analysis table records in its folder:
 * the cohort table exists only when the PheWAS used it; otherwise the GWAS sample. Null when
 * neither record is there (e.g. a run whose files were removed).
 */
async function phewasPopulation(
  dataDir: string,
  runId: string,
): Promise<{ kind: 'cohort' | 'gwas-sample'; nSamples: number } | null> {
  for (const kind of ['cohort', 'gwas-sample'] as const) {
    const record = join(runDir(dataDir, runId), `${ANALYSIS_FILES[kind]}.json`);
    const text = await readFile(record, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (text !== null) return { kind, nSamples: (JSON.parse(text) as AnalysisTable).nSamples };
  }
  return null;
}

/** The level 0 a run's step 1 used, from its `result.json` (absent: no LOCO, or not recorded). */
async function level0Run(dataDir: string, runId: string): Promise<'blocks' | 'genome' | undefined> {
  const text = await readFile(join(runDir(dataDir, runId), 'result.json'), 'utf8').catch(() => null);
  if (text === null) return undefined;
  const level0 = (JSON.parse(text) as { gwas?: { step1?: { level0?: unknown } } }).gwas?.step1?.level0;
  return level0 === 'blocks' || level0 === 'genome' ? level0 : undefined;
}

/** The report of a run as one HTML document. Raises InputError for an unknown run. */
export async function buildRunReportHtml(
  config: EngineConfig,
  runId: string,
  options: ReportOptions = {},
): Promise<{ html: string; run: RunRow }> {
  if (await isMetaRun(config, runId)) return buildMetaReportHtml(config, runId, options);
  const run = await requireRun(config, runId);
  const suppress: Suppression = options.noSuppress ? false : config.privacy.smallCellMax;
  const links = options.links ?? {};
  const tables = await runTables(config, runId);
  const names = await gwasPhenotypeNames(config, runId);
  const coxPredictors = [...new Set(tables.cox.map((r) => r.predictor))];
  const km = await kmCurves(config, {
    runId,
    predictors: coxPredictors,
    perPredictor: REPORT_KM_PER_PREDICTOR,
  });
  const sections: string[] = [];
  sections.push(
    `<h1>Run report: ${esc(run.study_id)}</h1>
<p class="meta">run <code>${esc(run.run_id)}</code> · status <b>${esc(run.status)}</b> · release ${esc(run.release_id)} · finished ${esc(run.finished_at ?? '—')}</p>`,
    privacyBanner(suppress, { km: km.length > 0 }),
  );
  if (run.status !== 'completed')
    sections.push(`<p class="privacy">This run is <b>${esc(run.status)}</b>: results may be incomplete.</p>`);
  const strata = await readStrata(runDir(config.dataDir, runId), { config, runId });
  if (strata) sections.push(strataSection(strata, suppress, links));

  // GWAS
  sections.push('<h2 id="gwas">GWAS</h2>');
  if (names.length === 0) sections.push('<p class="empty">no GWAS results in this run</p>');
  else
    sections.push(
      phenotypesTable(tables.phenotypes, suppress, names),
      gwasMethodNote(tables.spec, await level0Run(config.dataDir, runId)),
    );
  const known: KnownVariants = new Map();
  for (const [i, phenotype] of names.slice(0, REPORT_MAX_PHENOTYPES).entries()) {
    const meta = tables.phenotypes.find((p) => p.phenotype === phenotype);
    const lead = tables.lead.filter((l) => l.phenotype === phenotype);
    const [manhattan, qq, top] = await Promise.all([
      manhattanData(config, runId, phenotype),
      qqData(config, runId, phenotype),
      topHits(config, runId, phenotype, 10),
    ]);
    for (const p of manhattan.points) known.set(p.variant_id, { rsid: p.rsid, nlp: p.nlp });
    sections.push(
      `<section class="card gwas-phenotype" id="gwas-${esc(phenotype)}"><h3>${esc(phenotype)}${meta?.description ? ` — ${esc(meta.description)}` : ''}</h3>`,
      gwasPlots(phenotype, i, manhattan, qq, lead, links),
      '<h3>Top variants</h3>',
      topHitsTable(top, links, suppress),
      '</section>',
    );
  }
  if (names.length > REPORT_MAX_PHENOTYPES)
    sections.push(
      `<p class="note">${names.length - REPORT_MAX_PHENOTYPES} more phenotypes are not plotted here; use the viewer (biobank serve) or biobank export.</p>`,
    );

  // Lead loci and their PheWAS
  sections.push('<h2 id="lead-loci">Lead loci</h2>', leadLociTable(tables.lead, links, known));
  const leadVariants = [...new Set(tables.lead.map((l) => l.variant_id))];
  const withPhewas = leadVariants.filter((v) => tables.leadPhewas.some((r) => r.predictor === v));
  if (withPhewas.length > 0)
    sections.push(
      '<h2 id="phewas">PheWAS of the lead loci</h2>',
      phewasPopulationNote(await phewasPopulation(config.dataDir, runId), suppress),
    );
  for (const [i, variant] of withPhewas.entries()) {
    const loci = tables.lead.filter((l) => l.variant_id === variant);
    const rsid = known.get(variant)?.rsid;
    const label = rsid ? `${variant} (${rsid})` : variant;
    sections.push(
      `<section class="card lead-phewas"><h3>${esc(label)} — lead of ${esc(loci.map((l) => `${l.phenotype} locus ${l.locus_id}`).join(', '))}</h3>`,
      phewasBlock(
        plotId('phewas', variant, i),
        tables.leadPhewas.filter((r) => r.predictor === variant),
        suppress,
        links,
      ),
      '</section>',
    );
  }

  // Time-to-event PheWAS
  if (tables.cox.length > 0)
    sections.push(
      '<h2 id="phewas-cox">Time-to-event PheWAS (Cox)</h2>',
      '<p class="note">Cox proportional-hazards model per phecode (incident cases only; prevalent cases, coded before entry, are excluded and counted). HR per unit of the predictor; PH check: scaled Schoenfeld residual test (cox.zph) of the predictor, ⚠ when p &lt; 0.05.</p>',
      coxSection(tables.cox, tables.coxPredictors, km, suppress, links),
    );

  // Burden, QC, provenance
  sections.push(
    '<h2 id="burden">Gene burden</h2>',
    burdenSection(tables.burden, tables.burdenPhewas, suppress, links),
    '<h2 id="qc">QC summary</h2>',
    qcTable(tables.qc, suppress),
    '<h2 id="provenance">Provenance</h2>',
    provenance(run, tables.spec, await releaseAssemblyOf(config, run.release_id, run.release_fingerprint)),
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
 * Write the run's report, one self-contained HTML file: `<outDir>/report.html`, by default in
 * `<dataDir>/runs/<run_id>/`. Atomic (temp file + rename); an unknown run writes nothing.
 */
export async function writeRunReport(
  config: EngineConfig,
  runId: string,
  outDir?: string,
  options: { noSuppress?: boolean } = {},
): Promise<{ path: string; bytes: number }> {
  if (outDir !== undefined && outDir.trim() === '')
    throw new InputError('empty output folder', { field: '--out' });
  const { html } = await buildRunReportHtml(config, runId, { noSuppress: options.noSuppress });
  const path = join(outDir === undefined ? runDir(config.dataDir, runId) : resolve(outDir), 'report.html');
  await atomicWriteFile(path, html);
  return { path, bytes: Buffer.byteLength(html) };
}
