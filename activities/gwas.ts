/**
 * GWAS activities: plan shards over a release's variants (gwas/plan.ts), test one shard on a
 * worker thread (gwas/shard.ts via gwas/thread.ts), merge the shards (gwas/merge.ts). Each
 * validates nothing beyond its payload's shape and returns references.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { exists, sha256File } from '../engine/fsutil.js';
import { sourceModule } from '../engine/thread.js';
import { mergeShards } from '../gwas/merge.js';
import { planShards } from '../gwas/plan.js';
import { type GwasShardInput, type GwasThreadInput, type ShardCursor, shardOutput } from '../gwas/shard.js';
import {
  planStep1,
  type Step1Input,
  type Step1Plan,
  type Step1Summary,
  type Step1Traits,
} from '../gwas/step1.js';
import type { Step1ThreadInput, Step1ThreadResult } from '../gwas/step1-thread.js';
import type { PhenotypeFirstSpec } from '../schemas/study.js';
import type {
  AnalysisTable,
  GwasShard,
  GwasShardResult,
  GwasSummary,
  LeadLociSpec,
  RunContext,
} from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';

const GWAS_THREAD = sourceModule('gwas/thread.ts');
const STEP1_THREAD = sourceModule('gwas/step1-thread.ts');

/** One DuckDB thread per worker thread: the threads are the parallelism. */
function threadConfig(config: EngineConfig): EngineConfig {
  return { ...config, worker: { ...config.worker, duckdbThreads: 1 } };
}

export function createGwasActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Shards of about `shardVariants` variants in genome order (gwas/plan.ts). */
    async planGwasShards(input: {
      run: RunContext;
      chromosomes: string[] | null;
      shardVariants: number;
      /** One chromosome per shard (LOCO: each shard uses its chromosome's offsets). */
      splitChromosomes?: boolean;
    }): Promise<GwasShard[]> {
      return engine.compute((conn) =>
        planShards(conn, input.run, input.chromosomes, input.shardVariants, input.splitChromosomes ?? false),
      );
    },

    /**
     * Plan step 1 of `relatedness: 'loco'` for an analysis table, or find it cached
     * (gwas/step1.ts): the step-1 variants, their blocks and the level-0 tasks.
     */
    async planStep1(input: {
      run: RunContext;
      analysis: AnalysisTable;
      gwas: PhenotypeFirstSpec['gwas'];
      /** Traits other than the analysis table's (the phecodes of a lead-locus PheWAS). */
      traits?: Step1Traits | null;
    }): Promise<Step1Plan> {
      return engine.compute((conn) =>
        planStep1(conn, config, input.run, input.analysis, input.gwas, input.traits ?? null),
      );
    },

    /** Level 0 of step 1 for blocks [from, to) on a worker thread; resumes at the first missing block file. */
    async runStep1Level0(
      input: Step1Input & { from: number; to: number },
    ): Promise<{ blocks: number; constant: number }> {
      const ctx = Context.current();
      const data: Step1ThreadInput = { kind: 'level0', config: threadConfig(config), input };
      return (await engine.inThread<Step1ThreadInput, Step1ThreadResult, unknown>(STEP1_THREAD, data, {
        onProgress: (p) => ctx.heartbeat(p),
        signal: ctx.cancellationSignal,
      })) as { blocks: number; constant: number };
    },

    /** Level 1 of step 1 (every trait) and the LOCO predictions, on a worker thread. */
    async runStep1Level1(input: Step1Input): Promise<Step1Summary> {
      const ctx = Context.current();
      const data: Step1ThreadInput = { kind: 'level1', config: threadConfig(config), input };
      return (await engine.inThread<Step1ThreadInput, Step1ThreadResult, unknown>(STEP1_THREAD, data, {
        onProgress: (p) => ctx.heartbeat(p),
        signal: ctx.cancellationSignal,
      })) as Step1Summary;
    },

    /** Test every variant of one shard. Idempotent and resumable (gwas/shard.ts). */
    async runGwasShard(input: GwasShardInput): Promise<GwasShardResult> {
      const out = shardOutput(input.run, input.shard.shardId);
      const record = `${out}.json`;
      if ((await exists(out)) && (await exists(record))) {
        const done = JSON.parse(await readFile(record, 'utf8')) as GwasShardResult;
        if (done.sha256 === (await sha256File(out))) return done;
      }
      const ctx = Context.current();
      const threadInput: GwasThreadInput = {
        config: threadConfig(config),
        input,
        resumed: (ctx.info.heartbeatDetails as ShardCursor | undefined) ?? null,
      };
      return engine.inThread<GwasThreadInput, GwasShardResult, ShardCursor>(GWAS_THREAD, threadInput, {
        onProgress: (cursor) => ctx.heartbeat(cursor),
        signal: ctx.cancellationSignal,
      });
    },

    /** QC totals, λGC and lead loci over the finished shards (gwas/merge.ts). */
    async mergeGwas(input: {
      run: RunContext;
      nShards: number;
      leadLoci: LeadLociSpec;
      /** Trait labels when several traits were tested in one pass (AnalysisTable.traits). */
      traits?: string[];
      /** The analysis table, for LD clumping in its samples (absent: distance clumping). */
      analysis?: AnalysisTable;
    }): Promise<GwasSummary> {
      const dir = join(input.run.runDir, 'gwas-shards');
      const names = (await readdir(dir)).filter((f) => f.endsWith('.parquet.json'));
      if (names.length !== input.nShards) {
        throw new Error(`expected ${input.nShards} finished GWAS shards in ${dir}, found ${names.length}`);
      }
      const records = await Promise.all(
        names.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as GwasShardResult),
      );
      const ld = input.analysis
        ? { config, releaseDir: input.run.releaseDir, analysisPath: input.analysis.path }
        : undefined;
      return engine.compute((conn) => mergeShards(conn, dir, records, input.leadLoci, input.traits, ld));
    },
  };
}
