/**
 * Engine configuration contract. `temporal.config.ts` builds a candidate from
 * defaults and environment variables and validates it with this schema.
 */
import { z } from 'zod';

/** A Temporal duration string such as `30s`, `10m`, `2h`, or a number of milliseconds. */
export const durationSchema = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'must look like 500ms, 30s, 10m, 2h or 1d'),
]);

export const retryPresetSchema = z.strictObject({
  initialInterval: durationSchema,
  backoffCoefficient: z.number().min(1),
  maximumInterval: durationSchema,
  maximumAttempts: z.number().int().min(0),
});

export const activityPresetSchema = z.strictObject({
  startToCloseTimeout: durationSchema,
  heartbeatTimeout: durationSchema.optional(),
  retry: retryPresetSchema,
});

/** The All of Us small-cell rule: counts 1–20 are hidden (engine/privacy.ts). */
export const DEFAULT_SMALL_CELL_MAX = 20;

export const configSchema = z.strictObject({
  temporal: z.strictObject({
    /** host:port of the Temporal frontend (TEMPORAL_ADDRESS). */
    address: z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:7233'),
    /** Temporal namespace (TEMPORAL_NAMESPACE). */
    namespace: z.string().min(1),
    /** Task queue every worker polls. */
    taskQueue: z.string().min(1),
    /** Port of the dev server's web UI (`biobank dev-server`). */
    uiPort: z.number().int().min(1).max(65535),
  }),
  /** Folder that holds the engine database, Parquet tables and results (BIOBANK_DATA_DIR). */
  dataDir: z.string().min(1),
  /** The engine's DuckDB database: catalog of releases plus results (BIOBANK_DB); empty means <dataDir>/engine.duckdb. */
  database: z.string(),
  worker: z.strictObject({
    /** Activities run at once by one worker process (BIOBANK_MAX_ACTIVITIES). */
    maxConcurrentActivities: z.number().int().min(1).max(64),
    /** Threads of the worker's DuckDB instance (BIOBANK_DUCKDB_THREADS). */
    duckdbThreads: z.number().int().min(1).max(256),
    /** DuckDB memory limit, e.g. `4GB` (BIOBANK_DUCKDB_MEMORY). */
    duckdbMemoryLimit: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'must look like 4GB'),
    /** Seconds a shutting-down worker waits for running activities to drain. */
    shutdownGraceSeconds: z.number().int().min(0),
    /** Temporal runtime log level of the worker and CLI (BIOBANK_LOG_LEVEL). */
    logLevel: z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR']),
    /**
     * GWAS scan kernel (SCAN_KERNEL): `auto` uses the WASM kernel where it runs, `scalar` the
     * plain JavaScript one (stats/kernel-wasm.ts); results are the same.
     */
    scanKernel: z.enum(['auto', 'wasm', 'scalar']),
    /**
     * A PheWAS fits on pooled threads when (analysis samples) × (phecodes with enough cases)
     * reaches this (BIOBANK_PHEWAS_THREAD_MIN_WORK; 0 always threads).
     */
    phewasThreadMinWork: z.number().int().min(0),
  }),
  ingest: z.strictObject({
    /**
     * Compression of the genotype Parquet files written by ingest (BIOBANK_GENOTYPE_COMPRESSION):
     * `lz4` (default: GWAS scans ≈ 8 % faster) or `zstd` (level 1: ≈ 2/3 of LZ4's disk).
     */
    genotypeCompression: z.enum(['lz4', 'zstd']),
    /** 1: VCF shards are parsed on pooled threads; 0: in the activity's own thread (BIOBANK_INGEST_THREADS). */
    shardThreads: z.number().int().min(0).max(1),
  }),
  activities: z.strictObject({
    /** Quick catalog and bookkeeping steps. */
    short: activityPresetSchema,
    /** Streaming ingest, GWAS shards, PheWAS batches: long, heartbeating. */
    long: activityPresetSchema,
  }),
  privacy: z.strictObject({
    /**
     * Largest participant count hidden in outputs that leave the machine (BIOBANK_SMALL_CELL_MAX,
     * default 20): the All of Us Data and Statistics Dissemination Policy forbids showing counts
     * of 1 to 20 and counts from which they can be derived (engine/privacy.ts).
     */
    smallCellMax: z.number().int().min(1).max(1000),
  }),
  schedule: z.strictObject({
    /** Id of the Temporal Schedule that re-runs studies on a new release. */
    id: z.string().min(1),
    /** How often the schedule checks the release manifest, e.g. `1h`. */
    every: durationSchema,
  }),
});

export type EngineConfig = z.infer<typeof configSchema>;
export type ActivityPreset = z.infer<typeof activityPresetSchema>;
