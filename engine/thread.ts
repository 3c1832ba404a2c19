/**
 * Running CPU-bound TypeScript on a worker thread, so that several activities of one worker
 * process (a GWAS shard each, say) use several cores. Threads are pooled and reused (loading
 * tsx, DuckDB and the WASM kernel once per thread, not once per job). A job imports `module` and
 * calls its exported `threadMain(input, progress, signal)`; progress, the result and errors come back by
 * message, and an InputError keeps its file, line and field. Aborting `signal` tells the thread
 * to stop (its `threadMain` gets an AbortSignal to check between steps) and rejects once it has;
 * work committed before stays on disk and a retry resumes from it.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InputError } from './errors.js';
import { PROJECT_ROOT } from './temporal-bin.js';

const ENTRY = sourceModule('engine/thread-entry.mjs');

/**
 * A module of the project's TypeScript sources as a URL, for worker threads: threads load the
 * sources through tsx (engine/thread-entry.mjs), also when the CLI itself runs from `dist/`.
 */
export function sourceModule(path: string): URL {
  return pathToFileURL(join(PROJECT_ROOT, path));
}

export type ThreadMessage<R, P> =
  | { type: 'ready' }
  | { type: 'progress'; progress: P }
  | { type: 'done'; result: R }
  | {
      type: 'error';
      name: string;
      message: string;
      stack?: string;
      input?: { message: string; location: InputError['location']; hint?: string };
    };

let nextId = 0;
const idle: Worker[] = [];

/** An idle pooled thread, or a new one. Idle threads do not keep the process alive. */
function takeWorker(): Worker {
  const w = idle.pop();
  if (w) {
    w.ref();
    return w;
  }
  return new Worker(ENTRY);
}

function giveBack(w: Worker): void {
  w.removeAllListeners('message');
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  w.on('error', () => undefined);
  w.on('exit', () => {
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
  });
  w.unref();
  idle.push(w);
}

/**
 * Start threads until `count` are idle in the pool, each with `modules` already imported (and
 * their optional `warmUp(warmInput)` export run: opening a DuckDB instance, compiling the WASM
 * kernel), and resolve when they are ready. A worker process calls this at start-up so that its first jobs
 * do not pay for loading TypeScript, DuckDB and the kernels (about 0.7 s of CPU per thread).
 * Failures are ignored: a job then starts its own thread as usual.
 */
export async function prewarmThreads(modules: URL[], count: number, warmInput?: unknown): Promise<void> {
  const need = Math.max(0, count - idle.length);
  await Promise.all(
    Array.from(
      { length: need },
      () =>
        new Promise<void>((resolve) => {
          const w = new Worker(ENTRY);
          w.on('message', (m: { type: string }) => {
            if (m.type !== 'preloaded') return;
            giveBack(w);
            resolve();
          });
          w.on('error', () => resolve());
          w.on('exit', () => resolve());
          w.postMessage({ type: 'preload', modules: modules.map((u) => u.href), input: warmInput });
        }),
    ),
  );
}

export function runInThread<I, R, P = unknown>(
  module: URL,
  input: I,
  hooks: { onProgress?: (progress: P) => void; signal?: AbortSignal } = {},
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const id = ++nextId;
    const worker = takeWorker();
    let settled = false;
    const finish = (fn: () => void, reusable: boolean) => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener('abort', onAbort);
      if (reusable) giveBack(worker);
      else void worker.terminate();
      fn();
    };
    // Ask the thread to stop at its next check rather than terminating it (a thread torn down
    // in the middle of a DuckDB call can abort the whole process), and settle only when it has
    // stopped, so a retry never overlaps the attempt it replaces.
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      worker.postMessage({ type: 'abort', id });
    };
    const cancelled = () => hooks.signal?.reason ?? new Error('cancelled');
    worker.on('message', (m: ThreadMessage<R, P> & { id?: number }) => {
      if (m.type === 'ready' || m.id !== id) return;
      if (m.type === 'progress') hooks.onProgress?.(m.progress);
      else if (m.type === 'done') finish(() => (aborted ? reject(cancelled()) : resolve(m.result)), true);
      else
        finish(() => {
          if (aborted) return reject(cancelled());
          if (m.input) {
            const err = new InputError('', m.input.location, m.input.hint);
            err.message = m.input.message;
            reject(err);
          } else {
            const err = new Error(m.message);
            err.name = m.name;
            if (m.stack) err.stack = m.stack;
            reject(err);
          }
        }, true);
    });
    worker.on('error', (err) => finish(() => reject(err), false));
    worker.on('exit', (code) =>
      finish(
        () => reject(aborted ? cancelled() : new Error(`worker thread exited with code ${code}`)),
        false,
      ),
    );
    worker.postMessage({ type: 'job', id, module: module.href, input });
    if (hooks.signal?.aborted) onAbort();
    else hooks.signal?.addEventListener('abort', onAbort);
  });
}
