/** Explaining a failed workflow on the command line (shared by every command). */
import { EXIT } from './command.js';

/** Failure types that mean the input must change (exit 2); see activities/failures.ts. */
const INPUT_FAILURES = new Set([
  'InputError',
  'ValidationError',
  'ConfigError',
  'CorruptInput',
  'MissingFile',
]);

/**
 * A Temporal failure explained by its innermost cause: a workflow failed because an activity
 * failed because of an `ApplicationFailure` (type InputError, message naming the field), or a
 * start was refused because of a gRPC status. Read by duck typing, so the CLI need not load the
 * Temporal SDK to print an error.
 */
export function explainFailure(err: unknown): { text: string; code: number; type?: string } | undefined {
  const chain: { name?: string; message?: string; type?: string; details?: string }[] = [];
  for (let e = err as { cause?: unknown } | undefined; e && chain.length < 20; e = e.cause as typeof e)
    chain.push(e as (typeof chain)[number]);
  const temporal = chain.some((c) =>
    [
      'WorkflowFailedError',
      'ActivityFailure',
      'ApplicationFailure',
      'ChildWorkflowFailure',
      'WorkflowUpdateFailedError',
    ].includes(c.name ?? ''),
  );
  const start =
    chain[0]?.message?.startsWith('Failed to start Workflow') || chain[0]?.name === 'ServiceError';
  if (!temporal && !start) return undefined;
  const innermost =
    [...chain].reverse().find((c) => c.message && c.message !== 'Activity task failed') ?? chain[0];
  const typed = chain.find((c) => c.name === 'ApplicationFailure' && c.type);
  const what = innermost.details ?? innermost.message ?? String(err);
  if (typed?.type && INPUT_FAILURES.has(typed.type))
    return { text: typed.message ?? what, code: EXIT.usage, type: typed.type };
  const outer = chain[0]?.message && chain[0] !== innermost ? `${chain[0].message}: ` : '';
  return { text: `${outer}${what}`, code: EXIT.failed, type: typed?.type };
}
