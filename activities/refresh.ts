/**
 * Activities of `refreshOnRelease`: is a manifest's release new, which studies are
 * registered, what would each study's run on the new release be called, and how its results
 * differ from the study's previous run (study/refresh.ts).
 */
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { findRelease, loadManifest, releaseFingerprint } from '../engine/release.js';
import {
  compareRuns,
  planStudyRuns,
  type ReleaseCheck,
  type RunComparison,
  type StudyRunPlan,
} from '../study/refresh.js';
import type { EngineConfig } from '../temporal.config.js';

export type { ReleaseCheck, RunComparison, StudyRunPlan } from '../study/refresh.js';

export function createRefreshActivities(from: EngineConfig | EngineContext) {
  const { config } = asEngineContext(from);
  return {
    /** Fingerprint a manifest's files and check whether that release is registered. */
    async checkRelease(input: { manifestPath: string }): Promise<ReleaseCheck> {
      const loaded = await loadManifest(input.manifestPath);
      const fingerprint = await releaseFingerprint(loaded);
      const found = await findRelease(config, loaded.manifest.releaseId);
      return {
        manifestPath: loaded.manifestPath,
        releaseId: loaded.manifest.releaseId,
        fingerprint,
        registered: found?.fingerprint === fingerprint,
      };
    },

    /** For each registered study: its run on `release` (workflow type and id) and its previous run. */
    async planStudyRuns(input: { releaseId: string; fingerprint: string }): Promise<StudyRunPlan[]> {
      return planStudyRuns(config, input);
    },

    /** Compare a study's new run with its previous one; recorded in `run_comparisons`. */
    async compareRuns(input: { newRunId: string; previousRunId: string }): Promise<RunComparison> {
      return compareRuns(config, input.newRunId, input.previousRunId);
    },
  };
}
