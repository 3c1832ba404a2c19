import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

/**
 * With RECORD_HISTORIES=1, save a finished workflow's history as a replay fixture in
 * test/histories/<name>.json (replayed by test/workflows/replay.test.ts). Record a new fixture
 * when a workflow's shape changes on purpose, and guard the change with patched().
 */
export async function maybeRecordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (!process.env.RECORD_HISTORIES) return;
  const history = await handle.fetchHistory();
  await writeFile(join(__dirname, '..', 'histories', `${name}.json`), historyToJSON(history));
}
