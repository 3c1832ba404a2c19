/**
 * Every activity the worker registers. Workflows import this module's *type* only:
 * `proxyActivities<Activities>(…)`. Each area builds its activities from shared deps.
 */
import type { EngineConfig } from '../temporal.config.js';
import { withFailureMapping } from './failures.js';
import { createSelfTestActivities } from './selftest.js';

export interface ActivityDeps {
  config: EngineConfig;
}

export function createActivities({ config }: ActivityDeps) {
  return withFailureMapping({
    ...createSelfTestActivities(config),
  });
}

export type Activities = ReturnType<typeof createActivities>;
