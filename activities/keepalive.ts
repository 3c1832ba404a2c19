/**
 * Keeping a long activity step cancellable while it runs one long DuckDB statement.
 *
 * Temporal delivers a cancellation to an activity only in the answer to a heartbeat, so a step
 * that spends minutes in one SQL statement (the phenome build, PCA, cohort materialisation)
 * heartbeats on a timer while it runs, and when the cancellation arrives interrupts the
 * statement with DuckDB's `interrupt()`, so the worker slot frees at once and the step throws.
 * Outside an activity (CLI, tests) it just runs the step.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { Context } from '@temporalio/activity';

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Run `fn(conn)` with timed heartbeats carrying `details`, interrupting `conn` on cancellation. */
export async function cancellableStep<T>(
  conn: DuckDBConnection,
  details: Record<string, unknown>,
  fn: (conn: DuckDBConnection) => Promise<T>,
  everyMs = 5_000,
): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return fn(conn);
  const onAbort = () => conn.interrupt();
  ctx.cancellationSignal.addEventListener('abort', onAbort);
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), everyMs);
  try {
    const result = await fn(conn);
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    return result;
  } catch (err) {
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
    throw err;
  } finally {
    clearInterval(timer);
    ctx.cancellationSignal.removeEventListener('abort', onAbort);
  }
}
