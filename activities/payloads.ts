/**
 * Checking each activity's payload against its contract (schemas/study-io.ts ACTIVITY_INPUTS)
 * before the activity runs. A payload that does not match — a workflow of another engine
 * version, a hand-started activity, a bug — fails at once, non-retryably (a ValidationError
 * through activities/failures.ts), naming the activity and the field, instead of failing deep
 * inside a computation or, worse, computing on the wrong thing. The activity receives the
 * payload as sent (validation never rewrites it).
 */
import { z } from 'zod';
import { ACTIVITY_INPUTS } from '../schemas/study-io.js';

type Acts = Record<string, (...args: never[]) => Promise<unknown>>;

/** Wrap the activities that have a declared input contract with a check of their first argument. */
export function withPayloadValidation<T extends Acts>(acts: T): T {
  const out: Record<string, unknown> = { ...acts };
  for (const [name, schema] of Object.entries(ACTIVITY_INPUTS) as [string, z.ZodType][]) {
    const fn = acts[name];
    if (!fn) continue;
    out[name] = async (...args: never[]) => {
      const checked = schema.safeParse(args[0]);
      if (!checked.success) {
        throw new z.ZodError(checked.error.issues.map((i) => ({ ...i, path: [`${name} input`, ...i.path] })));
      }
      return fn(...args);
    };
    Object.defineProperty(out[name], 'name', { value: name });
  }
  return out as T;
}
