/**
 * What the viewer's route handlers share: the reply and context types, HTTP errors, the patterns
 * every path parameter is checked against, and the links between pages.
 */
import type { Suppression } from '../engine/privacy.js';
import { requireRun } from '../export/common.js';
import { gwasPhenotypeNames, variantGwasRows } from '../report/data.js';
import { coxForPredictor, phewasForPredictor } from '../report/data-engine.js';
import { metaVariantRows } from '../report/data-meta.js';
import { metaPhewasForPredictor } from '../report/data-meta-phewas.js';
import type { Links } from '../report/sections.js';
import { RUN_ID_PATTERN } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';

// --- Parameter patterns (anything else is a 400 or 404) ---

export const VARIANT_ID = /^[A-Za-z0-9_.]{1,64}:[0-9]{1,12}:[A-Za-z*.<>-]{1,500}:[A-Za-z*.<>,-]{1,500}$/;
export const GENE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const PHECODE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
/** Phenotype names: 1–200 characters, no control characters or slashes. */
function isPhenotype(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 200 &&
    !/[/\\]/.test(value) &&
    ![...value].some((c) => c.charCodeAt(0) < 32)
  );
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = () => new HttpError(404, 'not found');
export const badRequest = (what: string) => new HttpError(400, `bad ${what}`);

export function check(value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value)) throw badRequest(what);
  return value;
}

export function checkRunId(runId: string): string {
  if (!RUN_ID_PATTERN.test(runId)) throw notFound();
  return runId;
}

// --- Links ---

export const links: Links = {
  variant: (id) => `/variant/${encodeURIComponent(id)}`,
  gene: (g) => `/gene/${encodeURIComponent(g)}`,
  phecode: (p) => `/phecode/${encodeURIComponent(p)}`,
};
export const runLink = (runId: string) => `/runs/${encodeURIComponent(runId)}`;
export const gwasLink = (runId: string, phenotype: string) =>
  `/runs/${encodeURIComponent(runId)}/gwas/${encodeURIComponent(phenotype)}`;

// --- Handlers: context and replies ---

export type Reply =
  | { status?: number; type: 'html' | 'json' | 'js' | 'css'; body: string }
  | { redirect: string };

export interface Context {
  config: EngineConfig;
  suppress: Suppression;
  query: URLSearchParams;
}

export type Handler = (ctx: Context, params: string[]) => Promise<Reply>;

export const json = (value: unknown): Reply => ({ type: 'json', body: JSON.stringify(value) });
export const html = (body: string): Reply => ({ type: 'html', body });

/** Checks a run id and a phenotype of its GWAS (404 when the run has no such phenotype). */
export async function phenotypeOf(ctx: Context, runId: string, phenotype: string): Promise<void> {
  checkRunId(runId);
  if (!isPhenotype(phenotype)) throw badRequest('phenotype');
  await requireRun(ctx.config, runId);
  const names = await gwasPhenotypeNames(ctx.config, runId);
  if (!names.includes(phenotype)) throw notFound();
}

/**
 * A variant's GWAS rows across runs, its PheWAS and Cox PheWAS rows, its meta-analysis rows
 * (either allele orientation) and its PheWAS meta-analysis rows, checked; 404 when it has none.
 */
export async function variantResults(ctx: Context, variantId: string, what: string) {
  check(variantId, VARIANT_ID, what);
  const [gwas, phewas, cox, meta, metaPhewas] = await Promise.all([
    variantGwasRows(ctx.config, variantId),
    phewasForPredictor(ctx.config, variantId),
    coxForPredictor(ctx.config, variantId),
    metaVariantRows(ctx.config, variantId),
    metaPhewasForPredictor(ctx.config, variantId),
  ]);
  if ([gwas, phewas, cox, meta, metaPhewas].every((rows) => rows.length === 0)) throw notFound();
  return { gwas, phewas, cox, meta, metaPhewas };
}
