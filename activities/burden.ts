/**
 * Gene burden activities (genotype-first): the burden scores of every gene × mask × AAF bin
 * (burden/scores.ts) and their direct tests against the spec's traits (burden/tests.ts).
 */

import { buildBurdenScores } from '../burden/scores.js';
import { runBurdenTests } from '../burden/tests.js';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import type { GenotypeFirstSpec } from '../schemas/study.js';
import type { AnalysisTable, BurdenPlan, RunContext } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { cancellableStep } from './keepalive.js';

export function createBurdenActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Every gene × mask × AAF-bin burden score for the analysis samples (burden/scores.ts). */
    async buildBurden(input: {
      run: RunContext;
      spec: GenotypeFirstSpec;
      analysis: AnalysisTable;
    }): Promise<BurdenPlan> {
      return engine.compute((conn) => buildBurdenScores(conn, input.run, input.spec, input.analysis));
    },

    /** Burden tests of every mask against each of the spec's traits (burden/tests.ts). */
    async runBurdenTests(input: {
      run: RunContext;
      spec: GenotypeFirstSpec;
      analysis: AnalysisTable;
      burden: BurdenPlan;
    }): Promise<{ path: string; nTests: number }> {
      return engine.compute((conn) =>
        runBurdenTests(conn, config, input.run, input.spec, input.burden, (trait, fn) =>
          cancellableStep(conn, { step: 'runBurdenTests', trait }, fn),
        ),
      );
    },
  };
}
