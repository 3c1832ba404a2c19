/**
 * `ingestRelease` through the real Temporal server: a release is ingested by a real
 * worker, a shard that dies after committing a chunk is retried by Temporal and resumes
 * without duplicates, re-adding the same release is a no-op, and bad input fails the
 * workflow without registering anything.
 */
import { existsSync, readdirSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { withCompute } from '../../engine/duckdb.js';
import { listReleases } from '../../engine/release.js';
import { workflowBundle } from '../../engine/temporal.js';
import { ingestShard, type ShardTask } from '../../ingest/vcf/shard.js';
import type { IngestReleaseResult } from '../../workflows/ingest-release.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { FIXTURE_VCF, makeReleaseFolder, readText, repeatedVcfLines, sh } from './helpers.js';

let engine: TestEngine;
beforeAll(async () => {
  engine = await makeTestEngine();
});
afterAll(async () => {
  await engine?.cleanup();
});

/** A worker whose shard activity dies after one committed chunk on its first attempt. */
async function withFlakyWorker<T>(fn: () => Promise<T>, attempts: number[]): Promise<T> {
  const config = engine.config;
  const acts = createActivities({ config });
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await Worker.create({
    connection,
    taskQueue: engine.taskQueue,
    workflowBundle: await workflowBundle(config),
    activities: {
      ...acts,
      async ingestVcfShard(task: ShardTask) {
        const ctx = Context.current();
        attempts.push(ctx.info.attempt);
        return withCompute(config, (conn) =>
          ingestShard(conn, task, {
            chunkVariants: 500,
            heartbeat: (p) => ctx.heartbeat(p),
            ...(ctx.info.attempt === 1 ? { failAfterChunks: 1 } : {}),
          }),
        );
      },
    },
  });
  try {
    return await worker.runUntil(fn());
  } finally {
    await connection.close();
  }
}

function repeatedVcf(reps: number): string {
  const text = readText(FIXTURE_VCF);
  const header = text.split('\n').filter((l) => l.startsWith('#'));
  const body = text.split('\n').filter((l) => l.startsWith('1\t'));
  const out = [...header];
  for (let rep = 0; rep < reps; rep++)
    for (const l of body) {
      const f = l.split('\t');
      f[1] = String(Number(f[1]) + rep * 1_000_000);
      out.push(f.join('\t'));
    }
  return `${out.join('\n')}\n`;
}

describe('ingestRelease workflow', () => {
  it('ingests through a real worker; a failed shard is retried and resumes; re-adding is a no-op', async () => {
    const { manifestPath, vcf } = makeReleaseFolder({
      vcfText: repeatedVcf(250),
      bgzip: true,
      releaseId: 'wf-1',
    });
    const attempts: number[] = [];
    const input = { manifestPath, shardsPerFile: 2, minShardBytes: 0 };
    const result = await withFlakyWorker(
      () =>
        engine.client.workflow.execute('ingestRelease', {
          workflowId: 'ingest-wf-1',
          taskQueue: engine.taskQueue,
          args: [input],
        }) as Promise<IngestReleaseResult>,
      attempts,
    );
    expect(result.ingested).toBe(true);
    expect(result.nShards).toBe(2);
    expect(attempts.filter((a) => a === 1).length).toBe(2);
    expect(attempts.filter((a) => a === 2).length).toBe(2);
    // Counts from bcftools on the same file.
    const nSplit = Number(sh(`bcftools norm -m- '${vcf}' 2>/dev/null | bcftools view -H | wc -l`).trim());
    expect(result.nVariants).toBe(nSplit);
    const acRef = sh(
      `bcftools norm -m- '${vcf}' 2>/dev/null | bcftools +fill-tags -- -t AC | bcftools query -f '%AC\\n' | awk '{s+=$1} END {print s}'`,
    ).trim();
    const got = await withCompute(engine.config, async (conn) => {
      const r = await conn.runAndReadAll(
        `SELECT count(*)::BIGINT, count(DISTINCT variant_idx)::BIGINT, sum(ac)::BIGINT FROM read_parquet('${join(result.dataPath, 'variants.parquet')}')`,
      );
      return r.getRowsJson()[0];
    });
    expect(got).toEqual([String(nSplit), String(nSplit), acRef]);
    const releases = await listReleases(engine.config);
    expect(releases.map((r) => [r.release_id, r.fingerprint, r.n_variants])).toEqual([
      ['wf-1', result.fingerprint, nSplit],
    ]);

    // The catalog's variants table answers per-release queries.
    const cat = await withCompute(engine.config, async (conn) => {
      await conn.run(`ATTACH '${engine.config.database}' AS cat (READ_ONLY)`);
      try {
        const r = await conn.runAndReadAll(
          `SELECT count(*)::INTEGER, min(call_rate), max(af) FROM cat.variants WHERE release_id = 'wf-1'`,
        );
        return r.getRows()[0];
      } finally {
        await conn.run('DETACH cat');
      }
    });
    expect(cat[0]).toBe(nSplit);

    // Same manifest again: no work.
    const again = await engine.withWorker(
      () =>
        engine.client.workflow.execute('ingestRelease', {
          workflowId: 'ingest-wf-1-again',
          taskQueue: engine.taskQueue,
          args: [input],
        }) as Promise<IngestReleaseResult>,
    );
    expect(again.ingested).toBe(false);
    expect(again.fingerprint).toBe(result.fingerprint);
  });

  it('bad input fails the workflow without retries and registers nothing', async () => {
    const lines = readText(FIXTURE_VCF).trimEnd().split('\n');
    const n = lines.findIndex((l) => l.startsWith('1\t69511'));
    lines[n] = lines[n].replace('0/1:0.05,0.9,0.05', '0/1:0.05,abc,0.05');
    const { manifestPath } = makeReleaseFolder({ vcfText: `${lines.join('\n')}\n`, releaseId: 'wf-bad' });
    const err = await engine.withWorker(() =>
      engine.client.workflow
        .execute('ingestRelease', {
          workflowId: 'ingest-wf-bad',
          taskQueue: engine.taskQueue,
          args: [{ manifestPath }],
        })
        .catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { cause?: Error } | undefined;
    const text = String(cause?.cause?.message ?? '');
    expect(text).toContain(`calls.vcf, line ${n + 1}, field HG00097:GP`);
    expect((await listReleases(engine.config)).map((r) => r.release_id)).toEqual(['wf-1']);
    const dir = join(engine.dataDir, 'releases', 'wf-bad');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('a truncated VCF.gz is bad input: one attempt, named file and byte, staging removed', async () => {
    // A bgzipped VCF cut off in the middle of a BGZF block, as an interrupted copy leaves it.
    const out = repeatedVcfLines();
    const { manifestPath, vcf } = makeReleaseFolder({
      vcfText: `${out.join('\n')}\n`,
      bgzip: true,
      releaseId: 'wf-truncated',
    });
    const size = statSync(vcf).size;
    truncateSync(vcf, Math.floor(size * 0.6));
    const t0 = Date.now();
    const err = await engine.withWorker(() =>
      engine.client.workflow
        .execute('ingestRelease', {
          workflowId: 'ingest-wf-truncated',
          taskQueue: engine.taskQueue,
          args: [{ manifestPath, minShardBytes: 0 }],
        })
        .catch((e: unknown) => e),
    );
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { cause?: Error & { type?: string } } | undefined;
    expect(cause?.cause?.type).toBe('InputError');
    expect(String(cause?.cause?.message)).toMatch(
      /calls\.vcf\.gz: (truncated BGZF block|not a BGZF block) at byte \d+/,
    );
    const history = await engine.client.workflow.getHandle('ingest-wf-truncated').fetchHistory();
    const attempts = (history.events ?? [])
      .map((e) => e.activityTaskStartedEventAttributes?.attempt)
      .filter((a) => a !== undefined && a !== null);
    expect(Math.max(...attempts.map(Number))).toBe(1);
    expect((await listReleases(engine.config)).map((r) => r.release_id)).not.toContain('wf-truncated');
    const dir = join(engine.dataDir, 'releases', 'wf-truncated');
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });
});
