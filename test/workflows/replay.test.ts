/**
 * Replays every recorded workflow history in test/histories/ against the current workflow
 * code. A change that is not deterministic for an already-released workflow shape (not
 * guarded by patched()) fails here. Fixtures are written by scripts/record-history.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { installRuntime, WORKFLOWS_PATH } from '../../engine/temporal.js';

const dir = join(__dirname, '..', 'histories');
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('workflow replay', () => {
  it('has recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  it.each(fixtures)('replays %s deterministically', async (file) => {
    installRuntime();
    const history = historyFromJSON(JSON.parse(readFileSync(join(dir, file), 'utf8')));
    await expect(
      Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, history, file.replace(/\.json$/, '')),
    ).resolves.toBeUndefined();
  });
});
