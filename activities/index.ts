/**
 * Every activity the worker registers. Workflows import this module's *type* only:
 * `proxyActivities<Activities>(…)`. Each area builds its activities from shared deps.
 */
import { Context } from '@temporalio/activity';
import { createEngineContext, type EngineContext } from '../engine/context.js';
import type { EngineConfig } from '../temporal.config.js';
import { createAnalysisActivities } from './analysis.js';
import { createBurdenActivities } from './burden.js';
import { withFailureMapping } from './failures.js';
import { createGwasActivities } from './gwas.js';
import { createIngestActivities } from './ingest.js';
import { createMetaActivities } from './meta.js';
import { withPayloadValidation } from './payloads.js';
import { createPhenotypeActivities } from './phenotype.js';
import { createPhewasActivities } from './phewas.js';
import { createRefreshActivities } from './refresh.js';
import { createResultsActivities } from './results.js';
import { createSelfTestActivities } from './selftest.js';
import { createStudyActivities } from './study.js';
import { withRunTimings } from './timings.js';

export interface ActivityDeps {
  config: EngineConfig;
  /** The worker's context (engine/context.ts); built from `config` when absent. */
  context?: EngineContext;
}

/** The running activity's attempt number (1 outside an activity, e.g. in direct calls). */
function currentAttempt(): number {
  try {
    return Context.current().info.attempt;
  } catch {
    return 1;
  }
}

export function createActivities({ config, context }: ActivityDeps) {
  const engine = context ?? createEngineContext(config);
  const acts = withFailureMapping(
    withPayloadValidation({
      ...createSelfTestActivities(engine),
      ...createIngestActivities(engine),
      ...createResultsActivities(engine),
      ...createPhenotypeActivities(engine),
      ...createStudyActivities(engine),
      ...createAnalysisActivities(engine),
      ...createGwasActivities(engine),
      ...createPhewasActivities(engine),
      ...createBurdenActivities(engine),
      ...createRefreshActivities(engine),
      ...createMetaActivities(engine),
    }),
  );
  return withRunTimings(acts, currentAttempt);
}

export type Activities = ReturnType<typeof createActivities>;
