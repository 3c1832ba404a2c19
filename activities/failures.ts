/**
 * Turning errors into Temporal failures. Bad input (InputError, zod validation, bad
 * config) becomes a non-retryable `ApplicationFailure` that names the file, line and
 * field; everything else is left to the retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { InputError } from '../engine/errors.js';
import { ConfigError } from '../temporal.config.js';

export function toFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof InputError) {
    return ApplicationFailure.create({
      type: 'InputError',
      message: err.message,
      nonRetryable: true,
      details: [{ ...err.location, hint: err.hint ?? null }],
    });
  }
  if (err instanceof ZodError) {
    const message = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return ApplicationFailure.create({ type: 'ValidationError', message, nonRetryable: true });
  }
  if (err instanceof ConfigError) {
    return ApplicationFailure.create({ type: 'ConfigError', message: err.message, nonRetryable: true });
  }
  return err;
}

/** Wrap every function of an activities object so bad input fails without retries. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(
  acts: T,
): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    out[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toFailure(err);
      }
    };
    Object.defineProperty(out[name], 'name', { value: name });
  }
  return out as T;
}
