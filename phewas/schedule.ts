import { runInThread, sourceModule } from '../engine/thread.js';
import { type CoxBatch, type CoxPhecodeFit, type CoxPhecodeSets, fitCoxPhecodes } from './cox.js';
import { type CoxManyBatch, type CoxPhecodeRows, coxScorePhecodes } from './cox-many.js';
import { fitPhecodes, type PhecodeFit, type PhecodeSets, type PhewasBatch } from './fit.js';
import { type ManyBatch, type PhecodeRows, scorePhecodes } from './many-fit.js';

/**
 * Fitting runs on pooled worker threads (engine/thread.ts) when the work is large enough to pay
 * for them: (analysis samples) × (phecodes with enough cases) ≥ `minWork`. Tests lower it to
 * exercise the threaded path on small data.
 */
export const PHEWAS_THREAD_MIN_WORK = 5_000_000;

/** How the fits report progress and learn of cancellation (an activity's heartbeat and signal). */
export interface Heartbeat {
  heartbeat(details: unknown): void;
  signal: AbortSignal;
}

/** Threads to fit on and the work (samples × phecodes) below which fits stay inline. */
export interface Threading {
  threads: number;
  minWork: number;
}

const PHEWAS_THREAD = sourceModule('phewas/fit.ts');

/**
 * Phecodes `candidates` in ~6 interleaved batches per thread (each batch mixes common and rare
 * phecodes, whose fits cost more iterations) on up to `threads` pooled threads running
 * `module`'s threadMain with `{ ...batch, phecodes }`; heartbeats the number done. Appends to
 * `out` (rows already computed inline) and returns it in phecode order.
 */
async function inThreadBatches<B extends object, R extends { index: number }>(
  module: URL,
  batch: B,
  candidates: PhecodeSets[],
  out: R[],
  threads: number,
  ctx: Heartbeat,
): Promise<R[]> {
  const signal = ctx.signal;
  const nBatches = Math.min(candidates.length, threads * 6);
  const queue = Array.from({ length: nBatches }, (_, b) => candidates.filter((_, k) => k % nBatches === b));
  let done = out.length;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let part = queue.shift(); part; part = queue.shift()) {
        if (signal.aborted) throw signal.reason ?? new Error('cancelled');
        let partDone = 0;
        const rows = await runInThread<B & { phecodes: PhecodeSets[] }, R[], number>(
          module,
          { ...batch, phecodes: part },
          {
            onProgress: (k) => {
              done += k - partDone;
              partDone = k;
              ctx.heartbeat({ phecodes: done });
            },
            signal,
          },
        );
        done += part.length - partDone;
        ctx.heartbeat({ phecodes: done });
        out.push(...rows);
      }
    }),
  );
  return out.sort((p, q) => p.index - q.index);
}

/** A batch's inline fitter: rows for `phecodes`, progress after each, stops when aborted. */
type BatchFitter<B, R> = (
  batch: B & { phecodes: PhecodeSets[] },
  progress?: (done: number) => void,
  signal?: AbortSignal,
) => R[];

/**
 * One predictor over every phecode: inline for small jobs (heartbeat every 50 phecodes), else
 * the phecodes below `minCases` (by their cohort case count, an upper bound) inline — they only
 * need counting — and the rest in ~6 interleaved batches per thread running `module`'s
 * threadMain. Results come back in phecode order either way.
 */
async function fitEvery<
  B extends { n: number; minCases: number },
  S extends PhecodeSets,
  R extends { index: number },
>(
  fitBatch: BatchFitter<B, R>,
  module: URL,
  batch: B,
  sets: S[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<R[]> {
  const candidates = sets.filter((s) => s.cases.length >= batch.minCases);
  const { threads, minWork } = threading;
  if (threads === 1 || batch.n * candidates.length < minWork) {
    let last = 0;
    return fitBatch(
      { ...batch, phecodes: sets },
      (k) => {
        if (k - last >= 50) {
          last = k;
          ctx.heartbeat({ phecodes: k });
        }
      },
      ctx.signal,
    );
  }
  const out = fitBatch({ ...batch, phecodes: sets.filter((s) => s.cases.length < batch.minCases) });
  return inThreadBatches(module, batch, candidates, out, threads, ctx);
}

/**
 * Many predictors over every phecode: inline in slices of 20 phecodes (yielding to the event
 * loop so heartbeats go out) for small jobs, else on pooled threads as `fitEvery`. Results come
 * back in phecode order.
 */
async function scoreEvery<
  B extends { n: number; minCases: number; xs: Float64Array[] },
  S extends PhecodeSets,
  R extends { index: number },
>(
  fitBatch: BatchFitter<B, R>,
  module: URL,
  batch: B,
  sets: S[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<R[]> {
  const candidates = sets.filter((s) => s.cases.length >= batch.minCases);
  const few = sets.filter((s) => s.cases.length < batch.minCases);
  const { threads, minWork } = threading;
  const work = batch.n * candidates.length * Math.max(1, batch.xs.length / 10);
  const out: R[] = [];
  if (threads === 1 || work < minWork) {
    for (let k = 0; k < sets.length; k += 20) {
      out.push(...fitBatch({ ...batch, phecodes: sets.slice(k, k + 20) }, undefined, ctx.signal));
      ctx.heartbeat({ phecodes: out.length });
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }
  out.push(...fitBatch({ ...batch, phecodes: few }));
  return inThreadBatches(module, batch, candidates, out, threads, ctx);
}

/**
 * Fit every phecode: inline for small jobs, else in batches on up to `duckdbThreads` pooled
 * threads (the per-phecode fits are independent; each batch gets the predictor and covariates
 * and its phecodes' sets). Results come back in phecode order either way.
 */
export async function fitAll(
  batch: Omit<PhewasBatch, 'phecodes'>,
  sets: PhecodeSets[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<PhecodeFit[]> {
  return fitEvery(
    fitPhecodes as BatchFitter<typeof batch, PhecodeFit>,
    PHEWAS_THREAD,
    batch,
    sets,
    threading,
    ctx,
  );
}

const PHEWAS_MANY_THREAD = sourceModule('phewas/many-fit.ts');

/**
 * The many-predictor path over every phecode: inline (in slices, yielding to the event loop so
 * heartbeats go out) for small jobs, else in interleaved batches on pooled threads, as `fitAll`.
 * Results come back in phecode order.
 */
export async function scoreAll(
  batch: Omit<ManyBatch, 'phecodes'>,
  sets: PhecodeSets[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<PhecodeRows[]> {
  return scoreEvery(
    scorePhecodes as BatchFitter<typeof batch, PhecodeRows>,
    PHEWAS_MANY_THREAD,
    batch,
    sets,
    threading,
    ctx,
  );
}

const COX_THREAD = sourceModule('phewas/cox.ts');

/**
 * The Cox PheWAS of one predictor (phewas/cox.ts) over every phecode, inline or on pooled threads
 * as `fitAll` (phecodes with fewer cases than `minCases`, an upper bound on their events, only
 * need counting and stay inline). Results come back in phecode order.
 */
export async function coxFitAll(
  batch: Omit<CoxBatch, 'phecodes'>,
  sets: CoxPhecodeSets[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<CoxPhecodeFit[]> {
  return fitEvery(
    fitCoxPhecodes as BatchFitter<typeof batch, CoxPhecodeFit>,
    COX_THREAD,
    batch,
    sets,
    threading,
    ctx,
  );
}

const COX_MANY_THREAD = sourceModule('phewas/cox-many.ts');

/**
 * The many-predictor Cox PheWAS (phewas/cox-many.ts) over every phecode: inline in slices for
 * small jobs, else on pooled threads, as `scoreAll`. Results come back in phecode order.
 */
export async function coxScoreAll(
  batch: Omit<CoxManyBatch, 'phecodes'>,
  sets: CoxPhecodeSets[],
  threading: Threading,
  ctx: Heartbeat,
): Promise<CoxPhecodeRows[]> {
  return scoreEvery(
    coxScorePhecodes as BatchFitter<typeof batch, CoxPhecodeRows>,
    COX_MANY_THREAD,
    batch,
    sets,
    threading,
    ctx,
  );
}
