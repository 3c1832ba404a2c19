/** The exports of a run: GWAS-SSF, PheWeb input files, and the PheWAS table as CSV. */
export {
  type ExportResult,
  privacyNote,
  suppressCount,
  suppressCountGroup,
} from './common.js';
export { exportGwasSsf, GWAS_SSF_COLUMNS, GWAS_SSF_VERSION, type GwasSsfOptions } from './gwas-ssf.js';
export { exportPhewas, PHEWAS_COUNT_COLUMNS, type PhewasOptions } from './phewas.js';
export {
  exportPheweb,
  PHEWEB_COLUMNS,
  type PhenoListEntry,
  type PhewebOptions,
  phewebPhenocode,
} from './pheweb.js';

export const EXPORT_KINDS = ['gwas-ssf', 'pheweb', 'phewas'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];
