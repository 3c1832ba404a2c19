/**
 * Worker-thread side of the step-1 activities (engine/thread.ts calls `threadMain`): level 0 of a
 * task's blocks, or level 1 of every trait (gwas/step1.ts). CPU-bound, so off the activity
 * worker's event loop, and two tasks use two cores.
 */
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
