/**
 * Results-database activities: record studies and runs, write a run's results idempotently,
 * and export a run. Thin adapters over `engine/results.ts` and `export/`; payloads are
 * references (paths, ids, counts) except for the small tables (lead loci, QC summary,
 * per-phenotype summaries), whose rows are a few KB.
 */

import { asEngineContext, type EngineContext } from '../engine/context.js';
import { InputError } from '../engine/errors.js';
import {
  finishRun,
  type RunFinish,
  recordRun,
  recordStudy,
  runIdFor,
  softwareVersion,
  writeRunResults,
} from '../engine/results.js';
import {
  type ExportKind,
  type ExportResult,
  exportGwasSsf,
  exportPhewas,
  exportPheweb,
} from '../export/index.js';
import type { ResultTable, RunRow, StudyRow } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';

/** Tables whose rows may travel in an activity payload; the others must come as Parquet. */
const ROWS_IN_PAYLOAD = new Set<ResultTable>(['lead_loci', 'qc_summary', 'gwas_phenotypes']);
const MAX_PAYLOAD_ROWS = 1000;

export interface WriteResultsInput {
  runId: string;
  table: ResultTable;
  /** A Parquet file with the table's columns (run_id is overwritten)… */
  parquet?: string;
  /** …or rows, for the small tables only. */
  rows?: Record<string, unknown>[];
  /** gwas_results only: replace just this part (e.g. a shard id). */
  part?: string;
}

export interface RecordRunStartInput
  extends Omit<RunRow, 'status' | 'finished_at' | 'timings_json' | 'error' | 'software_version'> {
  software_version?: string;
}

export interface ExportRunInput {
  kind: ExportKind;
  runId: string;
  out: string;
  phenotype?: string;
  suppress?: boolean;
  gzip?: boolean;
  genomeAssembly?: string;
}

export function createResultsActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Insert or update the study row. */
    async recordStudy(study: StudyRow): Promise<void> {
      await recordStudy(config, study);
    },

    /** The deterministic run id of a study on a release with a spec (pure; an activity for workflows). */
    async resultsRunId(input: {
      studyId: string;
      releaseFingerprint: string;
      specHash: string;
    }): Promise<string> {
      return runIdFor(input);
    },

    /** Record a run as running (a retry overwrites its own row). Returns the run id. */
    async recordRunStart(input: RecordRunStartInput): Promise<string> {
      await recordRun(config, {
        ...input,
        software_version: input.software_version ?? (await softwareVersion()),
        status: 'running',
        finished_at: null,
        timings_json: null,
        error: null,
      });
      return input.run_id;
    },

    /** Mark a run completed, failed or cancelled, with its timings. */
    async recordRunFinish(input: { runId: string } & RunFinish): Promise<void> {
      const { runId, ...finish } = input;
      await finishRun(config, runId, finish);
    },

    /** Replace a run's rows of one table (idempotent). */
    async writeRunResults(input: WriteResultsInput): Promise<{ rows: number }> {
      if ((input.parquet === undefined) === (input.rows === undefined))
        throw new InputError('give exactly one of parquet or rows', { field: 'parquet' });
      if (input.rows) {
        if (!ROWS_IN_PAYLOAD.has(input.table) || input.rows.length > MAX_PAYLOAD_ROWS)
          throw new InputError(`${input.table} rows must come as a Parquet file, not in the payload`, {
            field: 'rows',
          });
        return writeRunResults(config, input.runId, input.table, input.rows as never, { part: input.part });
      }
      return writeRunResults(
        config,
        input.runId,
        input.table,
        { parquet: input.parquet as string },
        { part: input.part },
      );
    },

    /** Export a run into a new folder. */
    async exportRun(input: ExportRunInput): Promise<ExportResult> {
      const common = { runId: input.runId, out: input.out, suppress: input.suppress ?? true };
      if (input.kind === 'gwas-ssf')
        return exportGwasSsf(config, {
          ...common,
          phenotype: input.phenotype,
          gzip: input.gzip,
          genomeAssembly: input.genomeAssembly,
        });
      if (input.kind === 'pheweb')
        return exportPheweb(config, { ...common, phenotype: input.phenotype, gzip: input.gzip });
      return exportPhewas(config, common);
    },
  };
}
