/** Worker-thread side of `runGwasShard` (engine/thread.ts calls `threadMain`). */

import type { GwasShardResult } from '../schemas/study-io.js';
import { computeGwasShard, type GwasThreadInput, type ShardCursor } from './gwas.js';

export function threadMain(
  data: GwasThreadInput,
  progress: (cursor: ShardCursor) => void,
  signal: AbortSignal,
): Promise<GwasShardResult> {
  return computeGwasShard(data.config, data.input, data.resumed, progress, signal);
}
