/**
 * Ingest a release through the `ingestRelease` workflow and make sure it ended up in this data
 * folder's catalog. The workflow id comes from the release's content, so adding a release again
 * attaches to the first ingest. That first ingest may have been run by a worker of another data
 * folder on the same task queue (a worker left running from another project or check): its
 * result then names a release this catalog does not have. In that case the ingest is started
 * again under the same id (the completed run allows it), and if the release is still missing the
 * command stops with an error that says why, instead of failing later with "not registered".
 */
import { listReleases, loadManifest, releaseFingerprint } from '../engine/release.js';
import { startOrAttach } from '../engine/temporal.js';
import type { EngineConfig } from '../temporal.config.js';
import type { IngestReleaseInput, IngestReleaseResult } from '../workflows/ingest-release.js';
import { CliError } from './command.js';
import { followProgress } from './progress.js';
import type { Services } from './services.js';

async function registered(config: EngineConfig, r: IngestReleaseResult): Promise<boolean> {
  return (await listReleases(config)).some(
    (x) => x.release_id === r.releaseId && x.fingerprint === r.fingerprint,
  );
}

export async function ingestThroughTemporal(
  services: Services,
  config: EngineConfig,
  input: IngestReleaseInput,
  progress: { prefix: string; everyMs?: number },
): Promise<IngestReleaseResult> {
  const loaded = await loadManifest(input.manifestPath);
  const fingerprint = await releaseFingerprint(loaded);
  const workflowId = `ingest-${loaded.manifest.releaseId}-${fingerprint.slice(0, 12)}`;
  const taskQueue = config.temporal.taskQueue;
  const { handle } = await startOrAttach(services.client, 'ingestRelease', {
    workflowId,
    taskQueue,
    args: [input],
  });
  services.watch(handle);
  const result = await followProgress<IngestReleaseResult>(handle, progress);
  if (await registered(config, result)) return result;
  console.error(
    `note: ingest ${workflowId} completed earlier, but release ${result.releaseId} is not in ${config.database}; ingesting it again`,
  );
  const again = await services.client.workflow.start('ingestRelease', {
    workflowId,
    taskQueue,
    args: [input],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  services.watch(again);
  const second = await followProgress<IngestReleaseResult>(again, progress);
  if (await registered(config, second)) return second;
  throw new CliError(
    `release ${second.releaseId} was ingested, but not into ${config.database}: a worker of another data folder ` +
      `serves task queue ${taskQueue}. Stop it, or give this project its own queue (BIOBANK_TASK_QUEUE).`,
  );
}
