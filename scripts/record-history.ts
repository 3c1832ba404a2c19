/**
 * Save a workflow's event history as a replay fixture:
 *   node --import tsx scripts/record-history.ts <workflow-id> <fixture-name>
 * against TEMPORAL_ADDRESS, through `temporal workflow show --output json`. Fixtures in
 * test/histories/ are replayed by test/workflows/replay.test.ts, so a change that breaks
 * determinism of a released workflow shape fails CI. Record a new fixture whenever a
 * workflow's shape changes (behind patched()).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT, requireTemporalCli } from '../engine/temporal-bin.js';
import { loadConfig } from '../temporal.config.js';

const [workflowId, name] = process.argv.slice(2);
if (!workflowId || !name) {
  console.error('usage: record-history.ts <workflow-id> <fixture-name>');
  process.exit(2);
}
const config = loadConfig();
const json = execFileSync(
  requireTemporalCli(),
  [
    'workflow',
    'show',
    '--output',
    'json',
    '--address',
    config.temporal.address,
    '--namespace',
    config.temporal.namespace,
    '--workflow-id',
    workflowId,
  ],
  { encoding: 'utf8', maxBuffer: 256 << 20 },
);
const events = (JSON.parse(json) as { events?: unknown[] }).events ?? [];
const out = join(PROJECT_ROOT, 'test', 'histories', `${name}.json`);
writeFileSync(out, json);
console.log(`wrote ${out} (${events.length} events)`);
