/**
 * Worker-thread side of the step-1 activities (engine/thread.ts calls `threadMain`): level 0 of a
 * task's blocks, or level 1 of every trait (gwas/step1.ts). CPU-bound, so off the activity
 * worker's event loop, and two tasks use two cores.
 */
import { computeDb } from '../engine/duckdb.js';
import { warmLevel0 } from '../stats/ridge-level0.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  computeLevel0,
  computeLevel1,
  type Level0Cursor,
  type Step1Input,
  type Step1Summary,
} from './step1.js';

export type Step1ThreadInput =
  | {
      kind: 'level0';
      config: EngineConfig;
      input: Step1Input & { from: number; to: number };
    }
  | {
      kind: 'level1';
      config: EngineConfig;
      input: Step1Input;
    };

export type Step1ThreadResult = { blocks: number; constant: number } | Step1Summary;

export function threadMain(
  data: Step1ThreadInput,
  progress: (p: Level0Cursor | number) => void,
  signal: AbortSignal,
): Promise<Step1ThreadResult> {
  if (data.kind === 'level0') return computeLevel0(data.config, data.input, progress, signal);
  return computeLevel1(data.config, data.input, progress, signal);
}

/**
 * Called once when a worker starts this thread ahead of its first job (engine/thread.ts
 * prewarmThreads): open the thread's DuckDB instance and run level 0 on a small synthetic block,
 * so the first real blocks do not pay for compiling its loops and WebAssembly kernels (measured
 * about 1 s of the first task per thread on the 10,000 × 100,000 bench).
 */
export async function warmUp(config?: EngineConfig): Promise<void> {
  warmLevel0();
  if (config) await computeDb(config);
}
