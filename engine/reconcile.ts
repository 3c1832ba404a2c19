/**
 * Keeping the runs catalog true to Temporal. A study's workflow records its own end (completed,
 * failed, cancelled), but a workflow ended from outside — terminated by hand, or by a Temporal
 * limit (history size, run timeout) — runs no more code and leaves its `runs` row `running`.
 * `reconcileRuns` looks up every `running` row's workflow and, when it is closed, records the
 * real end state (`terminated`, `timed_out`, `failed`, `cancelled`; a completed workflow whose
 * recordRun did not land stays for the re-run to record) with its close time and a one-line
 * reason. Partial outputs stay on disk for a re-run to resume (finished GWAS shards are reused);
 * result tables only ever hold rows of completed runs. The CLI calls it whenever it looks at
 * or starts a study (`study status`, `study run`). (`biobank verify` checks result files only;
 * it needs no server and does not reconcile.)
 */
import type { Client } from '@temporalio/client';
import type { EngineConfig } from '../temporal.config.js';
import { hasTable, withEngineDb } from './duckdb.js';
import { exists } from './fsutil.js';

const END_STATE: Record<string, string> = {
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  CONTINUED_AS_NEW: '', // still running under a new run id
  COMPLETED: '',
};

export interface Reconciled {
  runId: string;
  workflowId: string;
  status: string;
}

/** Record the real end state of `running` runs whose workflow is closed (all, or `runIds`). */
export async function reconcileRuns(
  config: EngineConfig,
  client: Client,
  runIds?: string[],
): Promise<Reconciled[]> {
  if (!(await exists(config.database))) return [];
  const running = await withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'runs'))) return [];
      const r = await conn.runAndReadAll(`SELECT run_id, workflow_id FROM runs WHERE status = 'running'`);
      return r.getRowObjectsJS() as { run_id: string; workflow_id: string }[];
    },
    { readOnly: true },
  );
  const out: Reconciled[] = [];
  for (const row of running) {
    if (runIds && !runIds.includes(row.run_id)) continue;
    let desc: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['describe']>>;
    try {
      desc = await client.workflow.getHandle(row.workflow_id).describe();
    } catch {
      continue; // unknown to this server (another namespace, or history deleted): leave it
    }
    const state = END_STATE[desc.status.name];
    if (!state) continue;
    const closed = desc.closeTime?.toISOString() ?? new Date().toISOString();
    const reason = `workflow ${row.workflow_id} ${state.replace('_', ' ')} outside the engine at ${closed}`;
    await withEngineDb(config, async (conn) => {
      const update = (status: string) =>
        conn.run(
          `UPDATE runs SET status = $2, finished_at = CAST($3 AS TIMESTAMPTZ), error = coalesce(error, $4)
           WHERE run_id = $1 AND status = 'running'`,
          [row.run_id, status, closed, reason],
        );
      // A catalog created before `terminated`/`timed_out` existed checks the old four states.
      await update(state).catch((err) =>
        /Constraint Error/.test(String(err)) ? update('failed') : Promise.reject(err),
      );
    });
    out.push({ runId: row.run_id, workflowId: row.workflow_id, status: state });
  }
  return out;
}
