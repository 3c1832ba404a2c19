/** Progress display for long steps, fed by a workflow's `progress` query. */
import type { StudyProgress } from '../schemas/study-io.js';

export function bar(done: number, total: number, width = 24): string {
  if (total <= 0) return '';
  const frac = Math.min(1, done / total);
  const full = Math.round(frac * width);
  return `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${done}/${total}`;
}

/** One line describing where a study is. */
export function describeProgress(p: StudyProgress): string {
  const parts: string[] = [p.phase];
  if (p.phase === 'gwas' || (p.shardsTotal > 0 && p.phase === 'merging'))
    parts.push(`shards ${bar(p.shardsDone, p.shardsTotal)}`);
  if (p.phase === 'phewas' && p.phewasTotal > 0) parts.push(`predictors ${bar(p.phewasDone, p.phewasTotal)}`);
  if (p.currentActivity) parts.push(`(${p.currentActivity})`);
  if (p.message) parts.push(`— ${p.message}`);
  return parts.join(' ');
}

/** Writes progress lines: redrawn in place on a terminal, one line per change otherwise. */
export class ProgressPrinter {
  private last = '';
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  update(line: string): void {
    if (line === this.last) return;
    this.last = line;
    if (this.stream.isTTY) this.stream.write(`\r\x1b[2K${line}`);
    else this.stream.write(`${line}\n`);
  }

  done(): void {
    if (this.stream.isTTY && this.last) this.stream.write('\n');
    this.last = '';
  }
}

/**
 * Show a workflow's `progress` query until it ends; resolves to its result. Used by every
 * long command (release add, study run, demo).
 */
export async function followProgress<T>(
  handle: {
    query(name: string): Promise<unknown>;
    result(): Promise<unknown>;
    describe?(): Promise<{ status: { name: string } }>;
  },
  options: { quiet?: boolean; prefix?: string; everyMs?: number } = {},
): Promise<T> {
  const printer = new ProgressPrinter();
  let finished = false;
  const poll = (async () => {
    // A closed workflow (attached to, e.g. a release added again) is not queried: a query of a
    // closed workflow needs a worker to replay it and waits for one.
    const closed = handle.describe
      ? await handle.describe().then(
          (d) => d.status.name !== 'RUNNING',
          () => false,
        )
      : false;
    if (closed) return;
    while (!finished) {
      try {
        const p = (await handle.query('progress')) as StudyProgress;
        if (!options.quiet) printer.update(`${options.prefix ?? ''}${describeProgress(p)}`);
      } catch {
        // Not picked up by a worker yet, or already closed: keep waiting.
      }
      await new Promise((r) => setTimeout(r, options.everyMs ?? 1000));
    }
  })();
  try {
    return (await handle.result()) as T;
  } finally {
    finished = true;
    // a query in flight when the workflow closed may wait long for a worker: do not wait for it
    await Promise.race([poll, new Promise((r) => setTimeout(r, 250))]);
    printer.done();
  }
}
