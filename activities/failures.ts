/**
 * Turning errors into Temporal failures: what cannot succeed on a retry fails at once, named;
 * only what may pass on a retry (a lock held by another process, a lost worker, a timeout, a
 * full disk or memory that may free up) is left to the retry policy.
 *
 * Non-retryable:
 * - `InputError`, zod validation, bad config: bad input, naming file, line and field;
 * - `CorruptInput`: zlib reports corrupt or truncated compressed data (a damaged .gz/BGZF file);
 * - `MissingFile`: a file of an ingested release (or a map, a spec's input) does not exist —
 *   deleted or moved under the engine; re-adding the release fixes it, a retry does not;
 * - `DataError`: DuckDB's deterministic errors (binder, parser, catalog, conversion, invalid
 *   input, constraint): the same statement on the same files fails the same way.
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
  const kind = classify(err);
  if (kind) {
    return ApplicationFailure.create({ type: kind, message: (err as Error).message, nonRetryable: true });
  }
  return err;
}

const DUCKDB_DETERMINISTIC =
  /^(Binder|Parser|Catalog|Conversion|Invalid Input|Constraint|Not implemented) Error\b/;
const DUCKDB_MISSING = /^IO Error: (No files found that match the pattern|Cannot open file) "([^"]+)"/;

/** The non-retryable kind of an error that is not bad input by type, or undefined. */
export function classify(err: unknown): 'CorruptInput' | 'MissingFile' | 'DataError' | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^Z_(DATA|BUF|STREAM)_ERROR$/.test(code)) return 'CorruptInput';
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    // A vanished temp file can be a race that a retry resolves; a missing release file cannot.
    const path = (err as NodeJS.ErrnoException).path ?? '';
    return /[\\/]releases[\\/]/.test(path) && !/\.tmp|[\\/]tmp[\\/]|\.staging-/.test(path)
      ? 'MissingFile'
      : undefined;
  }
  const m = DUCKDB_MISSING.exec(err.message);
  if (m) return /[\\/]releases[\\/]/.test(m[2]) ? 'MissingFile' : undefined;
  if (DUCKDB_DETERMINISTIC.test(err.message)) return 'DataError';
  return undefined;
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
