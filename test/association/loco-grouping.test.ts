/**
 * Grouping of step-1 traits by missingness pattern (stats/trait-groups.ts, FinnGen's rule of
 * < 5 % non-shared missingness per REGENIE step 1), against an independent implementation of the
 * documented rule in R (logical vectors, run at test time), on a seeded fixture shaped like a
 * phecode table: sex-restricted traits (the other sex missing), traits with a few random
 * exclusions (≤ 3 %), traits excluding an age band (~20 %), duplicates, one trait observed
 * nowhere and one observed everywhere. Also checked directly: every group meets the threshold and
 * the size cap, every observed trait is in exactly one group, a group's persons are the union of
 * its traits' persons, and the thresholds' limiting cases (J = 1: identical patterns only).
 *
 * Wiring (gwas/step1.ts, through planStep1 → computeLevel0 → computeLevel1, the activities'
 * functions, on a small synthetic release and a real run's analysis table): a step-1 trait file
 * with two traits observed in everyone, two observed in one sex only and one observed nowhere
 * gives the groups of `groupTraitsByMissingness` in `loco.json`; each trait's LOCO is 0 outside
 * its group's persons and not inside; the trait observed nowhere has LOCO 0 and status
 * `too_few_samples`; and a group's step 1 is fitted on its persons only: changing the covariates
 * of the persons outside the one-sex group (their age) leaves that group's LOCO bit-identical,
 * while it changes the LOCO of the traits whose group holds them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString, withCompute } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import {
  computeLevel0,
  computeLevel1,
  planStep1,
  type Step1Summary,
  type Step1Traits,
} from '../../gwas/step1.js';
import { studySpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, RunContext } from '../../schemas/study-io.js';
import { groupTraitsByMissingness, type TraitGrouping } from '../../stats/trait-groups.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { rng } from '../helpers/rng.js';
import { ingestManifest } from '../helpers/study-fixture.js';

const N = 1500;
const dir = mkdtempSync(join(tmpdir(), 'biobank-trait-groups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** n × K columns: 0/1 where observed, NaN where missing. */
function fixture(): Float64Array[] {
  const r = rng(20261206);
  const female = Uint8Array.from({ length: N }, () => (r.next() < 0.52 ? 1 : 0));
  const age = Float64Array.from({ length: N }, () => 20 + 70 * r.next());
  const cols: Float64Array[] = [];
  const trait = (keep: (i: number) => boolean) =>
    Float64Array.from({ length: N }, (_, i) => (keep(i) ? (r.next() < 0.1 ? 1 : 0) : Number.NaN));
  for (let k = 0; k < 6; k++) {
    const p = 0.03 * r.next();
    cols.push(trait(() => r.next() >= p)); // both sexes, a few random exclusions
  }
  for (let k = 0; k < 4; k++) {
    const p = 0.02 * r.next();
    cols.push(trait((i) => female[i] === 1 && r.next() >= p)); // female-only
  }
  for (let k = 0; k < 3; k++) {
    const p = 0.02 * r.next();
    cols.push(trait((i) => female[i] === 0 && r.next() >= p)); // male-only
  }
  for (let k = 0; k < 3; k++) cols.push(trait((i) => !(age[i] > 60 && age[i] < 74) && r.next() >= 0.01));
  cols.push(Float64Array.from(cols[2])); // a duplicate pattern
  cols.push(new Float64Array(N).fill(Number.NaN)); // observed nowhere
  cols.push(trait(() => true)); // everywhere
  cols.push(trait((i) => female[i] === 1 && age[i] < 50)); // a subset of its own
  for (let k = 0; k < 4; k++) {
    const p = 0.08 + 0.1 * r.next();
    cols.push(trait(() => r.next() >= p)); // 8–18 % random exclusions
  }
  return cols;
}

/** The rule of stats/trait-groups.ts written independently in R. */
function groupsInR(cols: Float64Array[], minJaccard: number, maxGroupSize: number): TraitGrouping {
  const K = cols.length;
  writeFileSync(
    join(dir, 'obs.csv'),
    `${Array.from({ length: K }, (_, k) => `t${k}`).join(',')}\n${Array.from({ length: N }, (_, i) =>
      cols.map((y) => (Number.isNaN(y[i]) ? 0 : 1)).join(','),
    ).join('\n')}\n`,
  );
  const script = `
obs <- as.matrix(read.csv('${join(dir, 'obs.csv')}')) == 1
cnt <- colSums(obs)
ord <- order(-cnt, seq_along(cnt))
ord <- ord[cnt[ord] > 0]
groups <- list()
for (k in ord) {
  placed <- FALSE
  for (g in seq_along(groups)) {
    G <- groups[[g]]
    if (length(G) >= ${maxGroupSize}) next
    members <- obs[, c(G, k), drop = FALSE]
    inter <- sum(apply(members, 1, all))
    uni <- sum(apply(members, 1, any))
    if (inter >= ${minJaccard} * uni) { groups[[g]] <- c(G, k); placed <- TRUE; break }
  }
  if (!placed) groups[[length(groups) + 1]] <- k
}
for (G in groups) {
  m <- obs[, G, drop = FALSE]
  cat(paste(sort(G) - 1, collapse = ' '), '|', paste(which(apply(m, 1, any)) - 1, collapse = ' '), '|', sum(apply(m, 1, all)), '\\n')
}
cat('unobserved |', paste(which(cnt == 0) - 1, collapse = ' '), '\\n')`;
  const out = execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' });
  const lines = out.trim().split('\n');
  const nums = (s: string) => s.trim().split(/\s+/).filter(Boolean).map(Number);
  const last = lines.pop() as string;
  return {
    groups: lines.map((l) => {
      const [t, p, c] = l.split('|');
      const persons = Int32Array.from(nums(p));
      return { traits: nums(t), persons, nComplete: Number(c), jaccard: Number(c) / persons.length };
    }),
    unobserved: nums(last.split('|')[1]),
  };
}

function checkInvariants(cols: Float64Array[], g: TraitGrouping, minJaccard: number, max: number) {
  const seen = [...g.unobserved];
  for (const grp of g.groups) {
    expect(grp.traits.length).toBeGreaterThan(0);
    expect(grp.traits.length).toBeLessThanOrEqual(max);
    expect(grp.jaccard).toBeGreaterThanOrEqual(minJaccard);
    seen.push(...grp.traits);
    const union: number[] = [];
    let complete = 0;
    for (let i = 0; i < N; i++) {
      const o = grp.traits.map((k) => !Number.isNaN(cols[k][i]));
      if (o.some(Boolean)) union.push(i);
      if (o.every(Boolean)) complete++;
    }
    expect([...grp.persons]).toEqual(union);
    expect(grp.nComplete).toBe(complete);
  }
  expect(seen.sort((a, b) => a - b)).toEqual(cols.map((_, k) => k));
}

describe('groupTraitsByMissingness (FinnGen-style step-1 trait groups)', () => {
  const cols = fixture();

  for (const [minJaccard, max] of [
    [0.95, 100],
    [0.9, 3],
    [0.8, 100],
  ] as const) {
    it(`equals an independent R implementation of the rule (J ≥ ${minJaccard}, ≤ ${max} traits)`, () => {
      const ours = groupTraitsByMissingness(cols, { minJaccard, maxGroupSize: max });
      const ref = groupsInR(cols, minJaccard, max);
      console.log(
        `J ≥ ${minJaccard}, max ${max}: ${ours.groups.length} groups: ` +
          ours.groups
            .map((g) => `[${g.traits.join(',')}] n=${g.persons.length} J=${g.jaccard.toFixed(3)}`)
            .join('; '),
      );
      expect(ours.unobserved).toEqual(ref.unobserved);
      expect(ours.groups.map((g) => g.traits)).toEqual(ref.groups.map((g) => g.traits));
      expect(ours.groups.map((g) => [...g.persons])).toEqual(ref.groups.map((g) => [...g.persons]));
      expect(ours.groups.map((g) => g.nComplete)).toEqual(ref.groups.map((g) => g.nComplete));
      checkInvariants(cols, ours, minJaccard, max);
    });
  }

  it('groups the planted patterns as FinnGen would: sexes apart, the 20 % exclusions apart', () => {
    const { groups, unobserved } = groupTraitsByMissingness(cols);
    expect(unobserved).toEqual([17]);
    const groupOf = (k: number) => groups.findIndex((g) => g.traits.includes(k));
    // female-only traits (6–9) and the duplicate of trait 2 (16) share groups with their kind only
    expect(new Set([6, 7, 8, 9].map(groupOf)).size).toBe(1);
    expect(new Set([10, 11, 12].map(groupOf)).size).toBe(1);
    expect(groupOf(6)).not.toBe(groupOf(10));
    expect(groupOf(16)).toBe(groupOf(2));
    expect(groupOf(13)).not.toBe(groupOf(0));
    expect(groupOf(19)).not.toBe(groupOf(6));
  });

  it('limiting cases: J = 1 joins identical patterns only; fully observed traits fill groups of maxGroupSize', () => {
    const cols = fixture();
    const exact = groupTraitsByMissingness(cols, { minJaccard: 1 });
    for (const g of exact.groups) {
      expect(g.jaccard).toBe(1);
      expect(g.nComplete).toBe(g.persons.length);
    }
    expect(exact.groups.find((g) => g.traits.includes(2))?.traits).toEqual([2, 16]);
    const full = Array.from({ length: 7 }, () => new Float64Array(N));
    const g = groupTraitsByMissingness(full, { maxGroupSize: 3 });
    expect(g.groups.map((x) => x.traits)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(g.groups.every((x) => x.persons.length === N)).toBe(true);
    expect(groupTraitsByMissingness([])).toEqual({ groups: [], unobserved: [] });
    expect(() => groupTraitsByMissingness(full, { minJaccard: 0 })).toThrow(/minJaccard/);
    expect(() => groupTraitsByMissingness(full, { maxGroupSize: 0 })).toThrow(/maxGroupSize/);
    expect(() => groupTraitsByMissingness([new Float64Array(3), new Float64Array(4)])).toThrow(/rows/);
  });
});

describe('step 1 by trait group (gwas/step1.ts)', () => {
  let engine: TestEngine;
  let worker: { stop(): Promise<void> };
  let analysis: AnalysisTable;
  let run: RunContext;
  let traits: Step1Traits;
  let columns: Float64Array[] = [];
  let oneSex = new Uint8Array(0);
  const spec = (releaseId: string) =>
    studySpecSchema.parse({
      studyId: 'grouping',
      kind: 'phenotype-first',
      release: releaseId,
      phenotype: { type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' },
      covariates: ['age', 'sex', 'PC1', 'PC2'],
      gwas: { shardVariants: 5000, maxParallelShards: 2, chromosomes: ['22'] },
      phewas: { phecodeVersion: '1.2', leadLoci: { max: 0 } },
    });

  beforeAll(async () => {
    engine = await makeTestEngine();
    worker = await engine.startWorker();
    const synth = await generateBiobank({
      size: 'custom',
      persons: 800,
      variants: 3000,
      seed: 11,
      releaseId: 'trait-groups',
      out: join(dir, 'synth'),
    });
    const release = await ingestManifest(engine.client, engine.taskQueue, synth.manifestPath);
    const s = spec(release.releaseId);
    const runId = await runIdOf(engine.config, s);
    await engine.client.workflow.execute('phenotypeFirstStudy', {
      workflowId: runId,
      taskQueue: engine.taskQueue,
      args: [s],
    });
    const rd = runDir(engine.dataDir, runId);
    analysis = JSON.parse(readFileSync(join(rd, 'analysis.parquet.json'), 'utf8')) as AnalysisTable;
    run = {
      runId: 'grouping',
      studyId: 'grouping',
      releaseId: release.releaseId,
      releaseFingerprint: release.fingerprint,
      releaseDir: join(engine.dataDir, 'releases', release.releaseId, release.fingerprint.slice(0, 12)),
      specHash: 'grouping',
      runDir: join(dir, 'run'),
    };
    const sexCol = analysis.covariates.find((c) => c.startsWith('sex'));
    expect(sexCol).toBeDefined();
    oneSex = await withCompute(engine.config, async (conn) =>
      Uint8Array.from(
        (
          await conn.runAndReadAll(
            `SELECT "cov_${sexCol}"::DOUBLE FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
          )
        ).getRows(),
        (r) => (Number(r[0]) === 1 ? 1 : 0),
      ),
    );
    const n = oneSex.length;
    const r = rng(777);
    const draw = (keep: (i: number) => boolean) =>
      Float64Array.from({ length: n }, (_, i) => (keep(i) ? (r.next() < 0.2 ? 1 : 0) : Number.NaN));
    columns = [
      draw(() => true),
      draw(() => true),
      draw((i) => oneSex[i] === 1),
      draw((i) => oneSex[i] === 1),
      draw(() => false),
    ];
    const all = new Float64Array(n * columns.length);
    for (const [k, y] of columns.entries()) all.set(y, k * n);
    mkdirSync(run.runDir, { recursive: true });
    const path = join(run.runDir, 'traits.f64');
    writeFileSync(path, new Uint8Array(all.buffer));
    traits = { path, K: columns.length, binary: true };
  }, 300_000);

  afterAll(async () => {
    await worker?.stop();
    await engine?.cleanup();
  });

  async function step1(
    table: AnalysisTable,
    grouping: { groupMinJaccard: number } = { groupMinJaccard: 0.95 },
  ) {
    const gwas = spec(run.releaseId);
    if (gwas.kind !== 'phenotype-first') throw new Error('unreachable');
    const plan = await withCompute(engine.config, (conn) =>
      planStep1(
        conn,
        engine.config,
        run,
        table,
        { ...gwas.gwas, loco: { blockSize: 200, ...grouping } },
        traits,
      ),
    );
    for (const t of plan.tasks)
      await computeLevel0(engine.config, { run, analysis: table, dir: plan.dir, traits, ...t }, () => {});
    const summary = await computeLevel1(
      engine.config,
      { run, analysis: table, dir: plan.dir, traits },
      () => {},
    );
    const loco = columns.map((_, k) => {
      const b = readFileSync(join(plan.dir, `loco-${k}.f64`));
      return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    });
    return { summary, loco, dir: plan.dir };
  }

  it('without groupMinJaccard (the default) fits one step 1 for every trait over every person', async () => {
    const a = await step1(analysis, { groupMinJaccard: 0 });
    expect(a.summary.groups.map((g) => g.traits)).toEqual([[0, 1, 2, 3]]);
    expect(a.summary.unobserved).toEqual([4]);
    expect(a.summary.groups.map((g) => g.nSamples)).toEqual([oneSex.length]);
    // the one-sex traits get predictions outside their sex too (missing counts as 0 there)
    const n = oneSex.length;
    expect(a.loco[2].some((v, t) => oneSex[t % n] !== 1 && v !== 0)).toBe(true);
  });

  it('fits one step 1 per group on its persons only', async () => {
    const a = await step1(analysis);
    const n = oneSex.length;
    const expected = groupTraitsByMissingness(columns);
    const s: Step1Summary = a.summary;
    expect(s.groups.map((g) => g.traits)).toEqual(expected.groups.map((g) => g.traits));
    expect(s.groups.map((g) => g.traits)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(s.groups.map((g) => g.nSamples)).toEqual([n, oneSex.reduce((x, v) => x + v, 0)]);
    expect(s.unobserved).toEqual([4]);
    expect(s.traits.map((t) => t.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'too_few_samples']);
    const rows = (k: number, inside: boolean) => {
      const out: number[] = [];
      for (let c = 0; c < a.loco[k].length / n; c++)
        for (let i = 0; i < n; i++) if ((k < 2 || oneSex[i] === 1) === inside) out.push(a.loco[k][c * n + i]);
      return out;
    };
    for (const k of [2, 3]) {
      expect(rows(k, false).every((v) => v === 0)).toBe(true);
      expect(rows(k, true).some((v) => v !== 0)).toBe(true);
    }
    expect(a.loco[4].every((v) => v === 0)).toBe(true);
    expect(rows(0, true).some((v) => v !== 0)).toBe(true);

    // Change the age of every person outside the one-sex group: a new analysis table.
    const other = join(dir, 'analysis-other.parquet');
    await withCompute(engine.config, async (conn) => {
      await conn.run(
        `COPY (SELECT * REPLACE (CASE WHEN "cov_${analysis.covariates.find((c) => c.startsWith('sex'))}" = 1
                 THEN cov_age ELSE cov_age + 7.5 * sin(sample_idx) END AS cov_age)
               FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx)
         TO ${sqlString(other)} (FORMAT parquet)`,
      );
    });
    const b = await step1({ ...analysis, path: other });
    expect(b.dir).not.toBe(a.dir);
    for (const k of [2, 3]) expect(b.loco[k]).toEqual(a.loco[k]);
    let diff = 0;
    for (const k of [0, 1])
      for (let t = 0; t < a.loco[k].length; t++) diff = Math.max(diff, Math.abs(a.loco[k][t] - b.loco[k][t]));
    console.log(`largest LOCO change of the all-persons traits: ${diff.toExponential(3)}`);
    expect(diff).toBeGreaterThan(1e-8);
  }, 300_000);
});
