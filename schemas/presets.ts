/**
 * Activity timeout and retry presets. Pure data, so workflow code may import it (workflow
 * code cannot read the environment); `temporal.config.ts` embeds the same object.
 */
import type { ActivityOptions } from '@temporalio/common';

/**
 * Failure type names that workflows and retry policies treat as non-retryable. The error
 * classes carrying them are in engine/errors.ts.
 */
export const NON_RETRYABLE_TYPES = [
  'InputError',
  'ValidationError',
  'ConfigError',
  'CorruptInput',
  'MissingFile',
  'DataError',
] as const;

export const ACTIVITY_PRESETS = {
  /** Quick catalog and bookkeeping steps. */
  short: {
    startToCloseTimeout: '2m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
  },
  /** Streaming ingest, GWAS shards, PheWAS batches: long and heartbeating. */
  long: {
    startToCloseTimeout: '6h',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10 },
  },
} as const;

export type PresetName = keyof typeof ACTIVITY_PRESETS;

/** `proxyActivities` options for a preset; input errors are never retried. */
export function activityOptions(preset: PresetName): ActivityOptions {
  const p = ACTIVITY_PRESETS[preset];
  return {
    startToCloseTimeout: p.startToCloseTimeout,
    ...('heartbeatTimeout' in p ? { heartbeatTimeout: p.heartbeatTimeout } : {}),
    retry: { ...p.retry, nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES] },
  };
}
