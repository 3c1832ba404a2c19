/**
 * The strata section of a stratified study's report (workflows/strata.ts): per stratum its
 * persons, cases and controls (small-cell rule: a group of counts, engine/privacy.ts), λGC,
 * lead loci and whether it was skipped; the meta-analysis run over the strata's GWAS; and the
 * PheWAS meta-analysis across the strata (report/sections-meta-phewas.ts: forest plots of the
 * significant associations, the heterogeneous ones and those significant in one stratum only),
 * whose rows are written under the stratified run's own id. Read from the run's `result.json`
 * (the strata are child runs with reports of their own) and, for the PheWAS meta-analysis, from
 * `meta_phewas_results` / `meta_phewas_forest`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { StudyResult } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { type MetaPhewasData, readMetaPhewas } from './data-meta-phewas.js';
import { esc } from './html.js';
import type { Links } from './sections.js';
import { metaPhewasSections } from './sections-meta-phewas.js';

/** A stratified run's strata and meta run, and its PheWAS meta-analysis when it has one. */
export type StrataView = Pick<StudyResult, 'strata' | 'meta'> & { phewas?: MetaPhewasData | null };

/**
 * The stratified run's strata and meta run, or null for a run that is not stratified. With
 * `from` (the engine config and the run id), also the PheWAS meta-analysis written under the
 * run (inputs in strata order); a run with such rows but no `result.json` yet still gets them.
 */
export async function readStrata(
  runDir: string,
  from?: { config: EngineConfig; runId: string },
): Promise<StrataView | null> {
  const text = await readFile(join(runDir, 'result.json'), 'utf8').catch(() => null);
  const r = text === null ? null : (JSON.parse(text) as StudyResult);
  const strata = r?.strata ? { strata: r.strata, meta: r.meta } : null;
  const phewas = from
    ? await readMetaPhewas(
        from.config,
        from.runId,
        (strata?.strata ?? []).map((s) => s.name),
      )
    : null;
  if (!strata && !phewas) return null;
  return { strata: strata?.strata, meta: strata?.meta, phewas };
}

export function strataSection(s: StrataView, suppress: Suppression, links: Links = {}): string {
  const parts: string[] = [];
  if (s.strata) {
    const rows = s.strata.map((st) => {
      const c = suppressCountGroup({ n: st.nSamples, cases: st.nCases, controls: st.nControls }, suppress);
      // the skip reason quotes the case count: show only the rule
      const status =
        st.skipped === null ? 'analysed' : `skipped: ${esc(st.skipped.replace(/^\d+ cases, /, ''))}`;
      return `<tr><td>${esc(st.name)}</td><td>${esc(String(c.n))}</td><td>${esc(String(c.cases ?? '—'))}</td><td>${esc(String(c.controls ?? '—'))}</td><td>${st.lambdaGc === null ? '—' : st.lambdaGc.toFixed(3)}</td><td>${st.nLeadLoci}</td><td>${status}</td><td><code>${esc(st.runId)}</code></td></tr>`;
    });
    const meta = s.meta
      ? `<p>Meta-analysis of the strata's GWAS (fixed and DerSimonian–Laird random effects, Cochran's Q, I²): run <code>${esc(s.meta.runId)}</code>, ${s.meta.nLeadLoci} lead loci${s.meta.reportPath ? ` — <a href="${esc(s.meta.reportPath)}">its report</a> has a forest plot per lead locus` : ''}.</p>`
      : '<p class="empty">no meta-analysis: fewer than two strata were analysed</p>';
    parts.push(`<h2 id="strata">Strata</h2>
<p>Each stratum ran as its own study (own QC, λGC, lead loci and PheWAS); a binary trait's stratum with too few cases is skipped.</p>
<table><thead><tr><th>stratum</th><th>persons</th><th>cases</th><th>controls</th><th>λGC</th><th>lead loci</th><th>status</th><th>run</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${meta}`);
  }
  if (s.phewas) parts.push(...metaPhewasSections(s.phewas, 'stratum', suppress, links));
  return parts.join('\n');
}
