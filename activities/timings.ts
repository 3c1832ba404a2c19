/**
 * Per-phase timings of a run, measured where the work happens: every activity whose input
 * names a run (`input.run.runDir`) appends one line `{activity, start, ms, attempt, ok}` to
 * `<runDir>/timings.jsonl` when it ends (appends of one short line are atomic on a local file
 * system, so concurrent shards do not interleave). `recordRun` and `discardRun` fold the lines
 * into `runs.timings_json`: for each activity the summed time, the number of calls and attempts,
 * and the wall time from its first start to its last end. Workflow code is not involved, so
 * recorded histories replay unchanged.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PhaseTiming {
  /** Summed duration of the activity's successful calls, ms. */
  ms: number;
  /** Successful calls. */
  n: number;
  /** Attempts, failed ones included. */
  attempts: number;
  /** From the first start to the last end, ms (for parallel shards: the phase's wall time). */
  wallMs: number;
}

export interface RunTimings {
  phases: Record<string, PhaseTiming>;
  /** From the first activity's start to the last one's end, ms. */
  wallMs: number;
}

function runDirOf(args: unknown[]): string | undefined {
  const first = args[0] as { run?: { runDir?: unknown } } | undefined;
  const dir = first?.run?.runDir;
  return typeof dir === 'string' ? dir : undefined;
}

/** Wrap every activity so a run's activities record their timings (see the module comment). */
export function withRunTimings<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  acts: T,
  attemptOf: () => number = () => 1,
): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    out[name] = async (...args: never[]) => {
      const runDir = runDirOf(args);
      const start = Date.now();
      let ok = false;
      try {
        const result = await fn(...args);
        ok = true;
        return result;
      } finally {
        if (runDir !== undefined && name !== 'discardRun') {
          const line = JSON.stringify({
            activity: name,
            start,
            ms: Date.now() - start,
            attempt: attemptOf(),
            ok,
          });
          // Only into an existing run folder: a run discarded meanwhile (cancelled) stays gone.
          // Timings must never fail the work.
          await appendFile(join(runDir, 'timings.jsonl'), `${line}\n`, { flag: 'a' }).catch(() => undefined);
        }
      }
    };
    Object.defineProperty(out[name], 'name', { value: name });
  }
  return out as T;
}

/** Fold `<runDir>/timings.jsonl` into per-phase timings; null when nothing was recorded. */
export async function runTimings(runDir: string): Promise<RunTimings | null> {
  let text: string;
  try {
    text = await readFile(join(runDir, 'timings.jsonl'), 'utf8');
  } catch {
    return null;
  }
  const phases: Record<string, PhaseTiming & { first: number; last: number }> = {};
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let e: { activity: string; start: number; ms: number; ok: boolean };
    try {
      e = JSON.parse(line);
    } catch {
      continue; // a line cut by a crash
    }
    const p = (phases[e.activity] ??= { ms: 0, n: 0, attempts: 0, wallMs: 0, first: e.start, last: 0 });
    p.attempts++;
    if (e.ok) {
      p.ms += e.ms;
      p.n++;
    }
    p.first = Math.min(p.first, e.start);
    p.last = Math.max(p.last, e.start + e.ms);
    first = Math.min(first, e.start);
    last = Math.max(last, e.start + e.ms);
  }
  const names = Object.keys(phases);
  if (names.length === 0) return null;
  const out: Record<string, PhaseTiming> = {};
  for (const name of names.sort((a, b) => phases[a].first - phases[b].first)) {
    const { first: f, last: l, ...rest } = phases[name];
    out[name] = { ...rest, wallMs: l - f };
  }
  return { phases: out, wallMs: last - first };
}
