// A pooled worker thread of engine/thread.ts: loads TypeScript through tsx once, then runs jobs
// one at a time — each imports its module (cached after the first time) and calls its
// `threadMain(input, progress, signal)` — reporting back by message with the job's id.
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { InputError } = await import('./errors.ts');
const port = parentPort;
const aborts = new Map();

port.on('message', async (m) => {
  if (m?.type === 'abort') {
    aborts.get(m.id)?.abort(new Error('cancelled'));
    return;
  }
  if (m?.type === 'preload') {
    // Load job modules ahead of the first job (engine/thread.ts prewarmThreads).
    try {
      for (const href of m.modules) {
        const mod = await import(href);
        if (typeof mod.warmUp === 'function') await mod.warmUp(m.input);
      }
    } finally {
      port.postMessage({ type: 'preloaded' });
    }
    return;
  }
  if (m?.type !== 'job') return;
  const abort = new AbortController();
  aborts.set(m.id, abort);
  try {
    const mod = await import(m.module);
    const result = await mod.threadMain(
      m.input,
      (progress) => port.postMessage({ type: 'progress', id: m.id, progress }),
      abort.signal,
    );
    port.postMessage({ type: 'done', id: m.id, result });
  } catch (err) {
    port.postMessage({
      type: 'error',
      id: m.id,
      name: err?.name ?? 'Error',
      message: err?.message ?? String(err),
      stack: err?.stack,
      ...(err instanceof InputError
        ? { input: { message: err.message, location: err.location, hint: err.hint } }
        : {}),
    });
  } finally {
    aborts.delete(m.id);
  }
});
port.postMessage({ type: 'ready' });
