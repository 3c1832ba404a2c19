/**
 * Every activity payload with a contract is checked before the activity runs (issue 17): a
 * malformed payload fails at once as a non-retryable ValidationError naming the activity and
 * the field, and a well-formed one reaches the activity unchanged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import type { ZodError } from 'zod';
import { createActivities } from '../../activities/index.js';
import { withPayloadValidation } from '../../activities/payloads.js';
import { ACTIVITY_INPUTS } from '../../schemas/study-io.js';
import { loadConfig } from '../../temporal.config.js';

const dir = mkdtempSync(join(tmpdir(), 'payloads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = {
  runId: 'study-0123456789abcdef',
  studyId: 'study',
  releaseId: 'r1',
  releaseFingerprint: 'f'.repeat(64),
  releaseDir: join(dir, 'release'),
  specHash: 'a'.repeat(64),
  runDir: join(dir, 'run'),
};

describe('activity payload contracts', () => {
  it('every contract names an activity the worker registers', () => {
    const acts = createActivities({ config: loadConfig({ BIOBANK_DATA_DIR: dir }) });
    for (const name of Object.keys(ACTIVITY_INPUTS)) expect(Object.keys(acts)).toContain(name);
  });

  it('a malformed payload fails non-retryably, naming the activity and field', async () => {
    const acts = createActivities({ config: loadConfig({ BIOBANK_DATA_DIR: dir }) });
    const err = await acts
      .mergeGwas({
        run: { ...run, runDir: 42 } as never,
        nShards: -1,
        leadLoci: { p: 1e-8, windowKb: 500, max: 5 },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('ValidationError');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('mergeGwas input.run.runDir');
    expect(failure.message).toContain('mergeGwas input.nShards');
  });

  it('a valid payload reaches the activity as sent', async () => {
    const seen: unknown[] = [];
    const wrapped = withPayloadValidation({
      async writeReport(input: unknown) {
        seen.push(input);
        return { path: 'x' };
      },
    });
    const input = { run };
    await expect(wrapped.writeReport(input)).resolves.toEqual({ path: 'x' });
    expect(seen[0]).toBe(input);
    const err = await wrapped.writeReport({ run: { ...run, runId: '' } }).catch((e: unknown) => e);
    expect((err as ZodError).issues.map((i) => i.path.join('.'))).toEqual(['writeReport input.run.runId']);
    expect(seen).toHaveLength(1);
  });
});
