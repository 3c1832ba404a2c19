/**
 * Engine configuration: defaults below, overridden by environment variables,
 * validated by `schemas/config.ts`. Nothing else in the engine reads `process.env`
 * for these settings.
 *
 * | setting                          | environment variable          | default                      |
 * |----------------------------------|-------------------------------|------------------------------|
 * | temporal.address                 | TEMPORAL_ADDRESS              | 127.0.0.1:7233               |
 * | temporal.namespace               | TEMPORAL_NAMESPACE            | default                      |
 * | temporal.taskQueue               | BIOBANK_TASK_QUEUE            | biobank                      |
 * | temporal.uiPort                  | BIOBANK_UI_PORT               | 8233                         |
 * | dataDir                          | BIOBANK_DATA_DIR              | ./.biobank                   |
 * | database                         | BIOBANK_DB                    | <dataDir>/engine.duckdb      |
 * | worker.maxConcurrentActivities   | BIOBANK_MAX_ACTIVITIES        | 2                            |
 * | worker.duckdbThreads             | BIOBANK_DUCKDB_THREADS        | number of CPUs               |
 * | worker.duckdbMemoryLimit         | BIOBANK_DUCKDB_MEMORY         | 4GB                          |
 * | worker.shutdownGraceSeconds      | BIOBANK_SHUTDOWN_GRACE        | 60                           |
 * | worker.logLevel                  | BIOBANK_LOG_LEVEL             | WARN                         |
 * | worker.scanKernel                | SCAN_KERNEL                   | auto (or wasm, scalar)       |
 * | worker.phewasThreadMinWork       | BIOBANK_PHEWAS_THREAD_MIN_WORK| 5000000                      |
 * | ingest.shardThreads              | BIOBANK_INGEST_THREADS        | 1 (0: no threads)            |
 * | ingest.genotypeCompression       | BIOBANK_GENOTYPE_COMPRESSION  | lz4 (or zstd)                |
 * | privacy.smallCellMax             | BIOBANK_SMALL_CELL_MAX        | 20 (All of Us policy: 1–20)  |
 * | schedule.id                      | BIOBANK_SCHEDULE_ID           | biobank-release-refresh      |
 * | schedule.every                   | BIOBANK_SCHEDULE_EVERY        | 1h                           |
 */

import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { configSchema, DEFAULT_SMALL_CELL_MAX, type EngineConfig } from './schemas/config.js';
import { ACTIVITY_PRESETS } from './schemas/presets.js';

export type { EngineConfig } from './schemas/config.js';

/** Which environment variable overrides which setting (dotted path). */
export const ENV_VARS: Record<string, string> = {
  TEMPORAL_ADDRESS: 'temporal.address',
  TEMPORAL_NAMESPACE: 'temporal.namespace',
  BIOBANK_TASK_QUEUE: 'temporal.taskQueue',
  BIOBANK_UI_PORT: 'temporal.uiPort',
  BIOBANK_DATA_DIR: 'dataDir',
  BIOBANK_DB: 'database',
  BIOBANK_MAX_ACTIVITIES: 'worker.maxConcurrentActivities',
  BIOBANK_DUCKDB_THREADS: 'worker.duckdbThreads',
  BIOBANK_DUCKDB_MEMORY: 'worker.duckdbMemoryLimit',
  BIOBANK_SHUTDOWN_GRACE: 'worker.shutdownGraceSeconds',
  BIOBANK_LOG_LEVEL: 'worker.logLevel',
  SCAN_KERNEL: 'worker.scanKernel',
  BIOBANK_PHEWAS_THREAD_MIN_WORK: 'worker.phewasThreadMinWork',
  BIOBANK_INGEST_THREADS: 'ingest.shardThreads',
  BIOBANK_GENOTYPE_COMPRESSION: 'ingest.genotypeCompression',
  BIOBANK_SMALL_CELL_MAX: 'privacy.smallCellMax',
  BIOBANK_SCHEDULE_ID: 'schedule.id',
  BIOBANK_SCHEDULE_EVERY: 'schedule.every',
};

const NUMERIC = new Set([
  'temporal.uiPort',
  'worker.maxConcurrentActivities',
  'worker.duckdbThreads',
  'worker.shutdownGraceSeconds',
  'worker.phewasThreadMinWork',
  'ingest.shardThreads',
  'privacy.smallCellMax',
]);

export function defaults(): EngineConfig {
  return {
    temporal: { address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'biobank', uiPort: 8233 },
    dataDir: './.biobank',
    database: '',
    worker: {
      maxConcurrentActivities: 2,
      duckdbThreads: Math.max(1, availableParallelism()),
      duckdbMemoryLimit: '4GB',
      shutdownGraceSeconds: 60,
      logLevel: 'WARN',
      scanKernel: 'auto',
      phewasThreadMinWork: 5_000_000,
    },
    ingest: { genotypeCompression: 'lz4', shardThreads: 1 },
    activities: structuredClone(ACTIVITY_PRESETS) as unknown as EngineConfig['activities'],
    privacy: { smallCellMax: DEFAULT_SMALL_CELL_MAX },
    schedule: { id: 'biobank-release-refresh', every: '1h' },
  };
}

/** Raised for a configuration that does not validate; the message names each bad setting. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  node[keys[keys.length - 1]] = value;
}

/**
 * Build and validate the configuration.
 * @param env environment to read overrides from (defaults to `process.env`)
 * @param cwd folder that relative paths are resolved against
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): EngineConfig {
  const candidate = defaults() as unknown as Record<string, unknown>;
  const origin = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_VARS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value =
      path === 'worker.logLevel'
        ? raw.trim().toUpperCase()
        : NUMERIC.has(path) && /^-?\d+(\.\d+)?$/.test(raw.trim())
          ? Number(raw)
          : raw.trim();
    setPath(candidate, path, value);
    origin.set(path, name);
  }
  const parsed = configSchema.safeParse(candidate);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const from = origin.get(path);
      return `  ${path}${from ? ` (from ${from}=${JSON.stringify(env[from])})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid engine configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  config.dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(cwd, config.dataDir);
  config.database =
    config.database === ''
      ? resolve(config.dataDir, 'engine.duckdb')
      : isAbsolute(config.database)
        ? config.database
        : resolve(cwd, config.database);
  return config;
}

/** Parse a duration setting into milliseconds. */
export function durationMs(value: z.infer<typeof configSchema>['schedule']['every']): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(value);
  if (!m) throw new ConfigError(`bad duration ${value}`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
