/**
 * The strata section of a stratified study's report (workflows/strata.ts): per stratum its
 * persons, cases and controls (small-cell rule: a group of counts, engine/privacy.ts), λGC,
 * lead loci and whether it was skipped; and the meta-analysis run over the strata. Read from the
 * run's `result.json` (the strata are child runs with reports of their own).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { StudyResult } from '../schemas/study-io.js';
import { esc } from './html.js';

/** The stratified run's strata and meta run, or null for a run that is not stratified. */
export async function readStrata(runDir: string): Promise<Pick<StudyResult, 'strata' | 'meta'> | null> {
  const text = await readFile(join(runDir, 'result.json'), 'utf8').catch(() => null);
  if (text === null) return null;
  const r = JSON.parse(text) as StudyResult;
  return r.strata ? { strata: r.strata, meta: r.meta } : null;
}

export function strataSection(s: Pick<StudyResult, 'strata' | 'meta'>, suppress: Suppression): string {
  const rows = (s.strata ?? []).map((st) => {
    const c = suppressCountGroup({ n: st.nSamples, cases: st.nCases, controls: st.nControls }, suppress);
    // the skip reason quotes the case count: show only the rule
    const status =
      st.skipped === null ? 'analysed' : `skipped: ${esc(st.skipped.replace(/^\d+ cases, /, ''))}`;
    return `<tr><td>${esc(st.name)}</td><td>${esc(String(c.n))}</td><td>${esc(String(c.cases ?? '—'))}</td><td>${esc(String(c.controls ?? '—'))}</td><td>${st.lambdaGc === null ? '—' : st.lambdaGc.toFixed(3)}</td><td>${st.nLeadLoci}</td><td>${status}</td><td><code>${esc(st.runId)}</code></td></tr>`;
  });
  const meta = s.meta
    ? `<p>Meta-analysis of the strata's GWAS (fixed and DerSimonian–Laird random effects, Cochran's Q, I²): run <code>${esc(s.meta.runId)}</code>, ${s.meta.nLeadLoci} lead loci${s.meta.reportPath ? ` — <a href="${esc(s.meta.reportPath)}">its report</a> has a forest plot per lead locus` : ''}.</p>`
    : '<p class="empty">no meta-analysis: fewer than two strata were analysed</p>';
  return `<h2 id="strata">Strata</h2>
<p>Each stratum ran as its own study (own QC, λGC, lead loci and PheWAS); a binary trait's stratum with too few cases is skipped.</p>
<table><thead><tr><th>stratum</th><th>persons</th><th>cases</th><th>controls</th><th>λGC</th><th>lead loci</th><th>status</th><th>run</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table>
${meta}`;
}
