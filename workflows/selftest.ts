/**
 * `engineSelfTest`: the smallest real pipeline. One activity writes a Parquet table with
 * DuckDB, a second records it in the engine database. `biobank demo` runs it when asked
 * to check an installation, and the foundation tests run it through a real worker.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';

const { writeSelfTestTable, recordSelfTest } = proxyActivities<Activities>(activityOptions('short'));

// --- Types ---
export interface EngineSelfTestInput {
  runId: string;
  nVariants: number;
  seed: number;
}

export interface EngineSelfTestResult {
  runId: string;
  parquetPath: string;
  nVariants: number;
  meanAf: number;
  recordedRuns: number;
}

// --- Workflow ---
export async function engineSelfTest(input: EngineSelfTestInput): Promise<EngineSelfTestResult> {
  const table = await writeSelfTestTable(input);
  const recordedRuns = await recordSelfTest({
    runId: input.runId,
    workflowId: workflowInfo().workflowId,
    table,
  });
  return {
    runId: input.runId,
    parquetPath: table.path,
    nVariants: table.nVariants,
    meanAf: table.meanAf,
    recordedRuns,
  };
}
