/** The CLI explains a failed workflow by its innermost cause, and input errors exit 2. */

import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/command.js';
import { explainFailure } from '../../cli/failure.js';
import { formatError } from '../../cli/main.js';

function failed(type: string, message: string) {
  const app = ApplicationFailure.create({ type, message, nonRetryable: true });
  const act = new ActivityFailure(
    'Activity task failed',
    'materializeAnalysis',
    '1',
    RetryState.NON_RETRYABLE_FAILURE,
    'w',
    app,
  );
  return new WorkflowFailedError('Workflow execution failed', act, RetryState.NON_RETRYABLE_FAILURE);
}

describe('explainFailure', () => {
  it("prints the worker's message, not 'Activity task failed', and maps input errors to exit 2", () => {
    const msg = 'field phenotype.column: unknown column "LDLX" in user table pheno (columns: person_id, LDL)';
    const f = explainFailure(failed('InputError', msg));
    expect(f).toEqual({ text: msg, code: EXIT.usage, type: 'InputError' });
    const { text, code } = formatError(failed('InputError', msg), false);
    expect(code).toBe(2);
    expect(text).toContain(msg);
    expect(text).not.toContain('Activity task failed');
  });

  it('other failures keep exit 1 and still show the innermost reason', () => {
    const f = explainFailure(failed('Error', 'disk full'));
    expect(f?.code).toBe(EXIT.failed);
    expect(f?.text).toContain('disk full');
    expect(explainFailure(new Error('plain'))).toBeUndefined();
  });
});
