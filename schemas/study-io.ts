/**
 * What study workflows and their activities pass to each other: references (paths, ids,
 * hashes) and counts, never data. Pure types and small helpers, safe in workflow code.
 */
import type { PhecodeVersion } from './phenotype.js';
import type { StudySpec } from './study.js';

/** A study run: one study spec on one release. */
export interface RunContext {
  /** `<studyId>-<16 hex>` from study, release fingerprint and spec hash (engine/results.ts `runIdFor`): a re-run for the same release and spec has the same id. */
  runId: string;
  studyId: string;
  releaseId: string;
  releaseFingerprint: string;
  /** Folder of the ingested release (Parquet tables). */
  releaseDir: string;
  specHash: string;
  /** Folder for this run's outputs. */
  runDir: string;
}

/** The per-person analysis table: phenotype, covariates and genotype column index, aligned. */
export interface AnalysisTable {
  /** Parquet with sample_idx, person_id, y (then y_1, y_2, … for `traits[1…]`), covariate columns. */
  path: string;
  trait: 'quantitative' | 'binary' | 'none';
  /**
   * Labels of the traits in the table when there are several (the study's `extraTraits`):
   * traits[0] is y, traits[k] is y_k. Absent: one trait, y.
   */
  traits?: string[];
  nSamples: number;
  nCases?: number;
  nControls?: number;
  covariates: string[];
  /** Covariates dropped as constant or collinear, with the reason. */
  droppedCovariates: { name: string; reason: string }[];
}

/** A contiguous slice of the genome's variants. */
export interface GwasShard {
  shardId: string;
  /** The shard's chromosome, or `<first>-<last>` when it spans the end of one and the start of the next. */
  chrom: string;
  /** Genotype Parquet file(s) of the release holding these variants. */
  files: string[];
  firstVariantIdx: number;
  lastVariantIdx: number;
  nVariants: number;
}

export interface QcCounts {
  /** Variants entering the shard. */
  nInput: number;
  removedMac: number;
  removedMaf: number;
  removedMissing: number;
  removedHwe: number;
  /** Variants tested after QC. */
  nTested: number;
}

export interface GwasShardResult {
  shardId: string;
  /** Parquet of this shard's result rows. */
  path: string;
  sha256: string;
  qc: QcCounts;
  /** Rows with a status other than `ok`. */
  nNotOk: number;
  /** Smallest p in the shard (for progress display). */
  minP: number | null;
}

export interface LeadLocus {
  locusId: string;
  variantIdx: number;
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
  p: number;
  beta: number | null;
  start: number;
  end: number;
  nVariants: number;
}

export interface GwasSummary {
  /** Glob of the merged result Parquet partitions. */
  resultsGlob: string;
  nTested: number;
  /**
   * Result rows of the main phenotype by status (`ok`, `collinear`, …; stats/status.ts). Absent
   * in results recorded before this field existed.
   */
  statusCounts?: Record<string, number>;
  /** λGC of the main phenotype (the first trait). */
  lambdaGc: number | null;
  /** With several traits in one pass: λGC and result rows by status per trait label, the main phenotype first. */
  traits?: { phenotype: string; lambdaGc: number | null; statusCounts?: Record<string, number> }[];
  leadLoci: LeadLocus[];
  qc: QcCounts;
}

export interface PhenomeRef {
  /** Folder of the materialised phenome (phenome.parquet, cohort.parquet, counts.parquet). */
  dir: string;
  /** Parquet of every phecode of the version: phecode, description, category, sex ('M'|'F'|NULL). */
  phecodesPath: string;
  phecodeVersion: PhecodeVersion;
  nPhecodes: number;
  /** Map files and their sha256, recorded with the run. */
  maps: { name: string; sha256: string }[];
}

/** A predictor for PheWAS: a variant's dosage, a burden score, or a person-level column. */
export type PhewasPredictor =
  | { type: 'variant'; id: string; variantIdx: number; chrom: string; pos: number; ref: string; alt: string }
  | { type: 'burden'; id: string; path: string; column: string }
  | { type: 'column'; id: string; path: string; column: string };

export interface PhewasResult {
  predictorId: string;
  path: string;
  nTested: number;
  nSignificant: number;
  top: { phecode: string; description: string; p: number; oddsRatio: number | null; nCases: number }[];
}

export interface BurdenPlan {
  /** Parquet of per-person burden scores, one column per gene × mask × bin. */
  scoresPath: string;
  masks: {
    gene: string;
    mask: string;
    aafBin: string;
    column: string;
    nVariants: number;
    nCarriers: number;
  }[];
}

export type StudyPhase =
  | 'validating'
  | 'planning'
  | 'ingesting'
  | 'ehr'
  | 'finalizing'
  | 'preparing'
  | 'phenotyping'
  | 'gwas'
  | 'merging'
  | 'masks'
  | 'burden'
  | 'phewas'
  | 'reporting'
  | 'recording'
  | 'completed'
  | 'failed'
  | 'cancelled';

/** Answer of the `progress` query. */
export interface StudyProgress {
  runId: string | null;
  phase: StudyPhase;
  shardsDone: number;
  shardsTotal: number;
  phewasDone: number;
  phewasTotal: number;
  currentActivity: string | null;
  message: string | null;
}

export interface StudyResult {
  runId: string;
  workflowKind: StudySpec['kind'];
  releaseId: string;
  releaseFingerprint: string;
  /** True if this release and spec had already been run and nothing new was written. */
  reused: boolean;
  /** Who was analysed: trait type and counts (person counts; exports suppress 1–20). */
  analysis: { trait: AnalysisTable['trait']; nSamples: number; nCases?: number; nControls?: number };
  gwas?: Omit<GwasSummary, 'resultsGlob'> & { resultsGlob: string };
  phewas: PhewasResult[];
  burden?: BurdenPlan;
  reportPath?: string;
}
