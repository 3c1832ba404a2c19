/**
 * Benchmark of `gwas.relatedness: "loco"` (issue 14): REGENIE-style step 1 (gwas/step1.ts) and
 * the LOCO study end to end, against a plain study and against PLINK 2 / BOLT-LMM measured in the
 * same run on the same genotypes.
 *
 *   node --import tsx bench/loco.ts [--persons 10000] [--variants 100000] [--traits 1,4] [--keep]
 *                                  [--level0 auto|blocks|genome]
 *                                  [--bolt inf|lmm|none] [--bolt-timeout 2700] [--profile] [--prepare]
 *
 * 1. Data (made once, reused): `biobank synth --size custom` into bench/out/loco/release, ingested
 *    with `biobank release add --in-process` into BIOBANK_DATA_DIR=bench/out/loco/data; the VCF
 *    imported once into .pgen (and .bed with 1 cM/Mb genetic positions, for BOLT) by plink2.
 *    Other sizes use bench/out/loco/<persons>x<variants>/. `--prepare` stops here.
 * 2. End to end: `biobank dev-server --headless` and `biobank worker` in the background on a free
 *    port and a task queue of their own, then `biobank study run <spec> --quiet` timed (GNU time)
 *    for a warm-up plain study (computes the release's PCs, loads the worker's threads: not
 *    reported as a figure), (a) the plain LDL GWAS (data/demo/ldl-gwas.json on the bench release,
 *    `phewas.leadLoci.max: 0`, the schema's default `shardVariants`), (b) the same with
 *    `relatedness: "loco"` after deleting <dataDir>/step1 (cold step 1), (c) (b) under another
 *    studyId (step 1 cached). The worker's CPU seconds per study come from /proc/<pid>/stat.
 * 3. Step 1 alone, in-process, one child process per K (so `maxRSS` is per K): on the LOCO run's
 *    analysis table (K = 1) or that table with K − 1 extra traits y_k = y + noise (K > 1), with
 *    <dataDir>/step1 deleted: `planStep1`, the level-0 tasks two at a time (per-block times from
 *    the activities' heartbeats), `runStep1Level1`, through `MockActivityEnvironment` and
 *    `createGwasActivities` on pooled threads loaded before the clock starts (as a worker does).
 *    `--profile` (or a step 1 over 60 s) then times, on one thread, the setup each level-0 task
 *    repeats (analysis table, covariate basis), reading the genotypes of every 10th block through
 *    DuckDB, and `level0Block` on them, to say where level 0 spends.
 * 4. Baselines in the same run: `plink2 --pfile … --glm hide-covar` of the same trait and
 *    covariates (the plain run's analysis table) with the spec's variant filters, 2 threads
 *    (after one warm-up run); `bolt --lmmInfOnly` (or `--lmm` with `--bolt lmm`)
 *    `--LDscoresUseChip --numThreads 2` on the .bed, under a timeout.
 *
 * Prints one Markdown row per measurement and writes them with the raw figures to
 * <work>/result.md and result.json. Run it under `flock /tmp/bench.lock` on a shared machine.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DuckDBBlobVector, DuckDBIntegerVector } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createGwasActivities } from '../activities/gwas.js';
import { blobItems, computeDb, sqlString, withCompute } from '../engine/duckdb.js';
import { runDir } from '../engine/run-paths.js';
import { resolveRelease } from '../engine/study.js';
import { isServerReachable } from '../engine/temporal.js';
import { prewarmThreads, sourceModule } from '../engine/thread.js';
import type { Step1Plan, Step1Summary } from '../gwas/step1.js';
import { loadAnalysis } from '../phenotype/analysis-table.js';
import { gwasSpecSchema } from '../schemas/study.js';
import type { AnalysisTable, RunContext } from '../schemas/study-io.js';
import { orthonormalBasis } from '../stats/linalg.js';
import { foldsOf, type Level0Setup, level0Block, prepareLevel0Traits } from '../stats/ridge-level0.js';
import { loadConfig } from '../temporal.config.js';
import { THREAD_MODULES } from '../worker.js';
import { benchVcf, loadavg, type Timed, timed } from './measure.js';

const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '10000' },
    variants: { type: 'string', default: '100000' },
    traits: { type: 'string', default: '1,4' },
    /** The LOCO study's `gwas.loco.level0` (auto: the spec default). */
    level0: { type: 'string', default: 'auto' },
    keep: { type: 'boolean', default: false },
    /** BOLT-LMM model: `inf` (--lmmInfOnly), `lmm` (--lmm: infinitesimal and Bayesian mixture), `none`. */
    bolt: { type: 'string', default: 'inf' },
    'bolt-timeout': { type: 'string', default: '2700' },
    /** Time genotype reads and level0Block of a sample of blocks after step 1 (always when step 1 > 60 s). */
    profile: { type: 'boolean', default: false },
    /** Make the data (synth, ingest, plink imports) and stop. */
    prepare: { type: 'boolean', default: false },
    /** Internal: step 1 alone for K traits on the run's analysis table, as JSON on stdout. */
    'step1-only': { type: 'string' },
    'run-id': { type: 'string' },
    'release-id': { type: 'string' },
  },
});

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'biobank.mjs');
const N = values.persons as string;
const M = values.variants as string;
const DEFAULT_SIZE = N === '10000' && M === '100000';
const WORK = resolve(ROOT, 'bench', 'out', 'loco', ...(DEFAULT_SIZE ? [] : [`${N}x${M}`]));
const REL = join(WORK, 'release');
const DATA = join(WORK, 'data');
const PLINK = join(WORK, 'plink');
const STEP1_TARGET_S = 60;

const now = () => Number(process.hrtime.bigint()) / 1e9;
const stamp = () => new Date().toISOString().slice(0, 16).replace('T', ' ');
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

// --- 1. Data -------------------------------------------------------------------------------

function plink2(args: string[]): Timed {
  const t = timed('plink2', [...args, '--silent']);
  if (t.code !== 0) throw new Error(`plink2 ${args.join(' ')} failed:\n${t.stderr.slice(-2000)}`);
  return t;
}

/** Synth release, ingested; pgen and bed (Morgans = bp / 1e8 for BOLT) of its VCF. Returns the release id. */
function prepareData(): { releaseId: string; vcf: string } {
  execFileSync('node', [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  mkdirSync(WORK, { recursive: true });
  const vcf = benchVcf(BIN, REL, N, M);
  const manifest = JSON.parse(readFileSync(join(REL, 'manifest.json'), 'utf8')) as { releaseId: string };
  const add = timed('node', [BIN, 'release', 'add', join(REL, 'manifest.json'), '--in-process'], {
    ...process.env,
    BIOBANK_DATA_DIR: DATA,
  });
  if (add.code !== 0) throw new Error(`release add failed:\n${add.stderr.slice(-3000)}`);
  console.error(`release ${manifest.releaseId} in ${DATA} (release add ${add.wallS.toFixed(1)} s)`);
  mkdirSync(PLINK, { recursive: true });
  const g = join(PLINK, 'g');
  if (!existsSync(`${g}.pgen`)) plink2(['--vcf', vcf, '--make-pgen', '--out', g]);
  if (!existsSync(`${g}.bed`)) {
    plink2(['--pfile', g, '--make-bed', '--out', join(PLINK, 'g-tmp')]);
    // BOLT's LD-score windows and leave-out chunks need genetic positions: 1 cM per Mb, in Morgans.
    const bim = readFileSync(join(PLINK, 'g-tmp.bim'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => {
        const f = l.split('\t');
        f[2] = String(Number(f[3]) / 1e8);
        return f.join('\t');
      });
    writeFileSync(`${g}.bim`, `${bim.join('\n')}\n`);
    execFileSync('mv', [join(PLINK, 'g-tmp.fam'), `${g}.fam`]);
    execFileSync('mv', [join(PLINK, 'g-tmp.bed'), `${g}.bed`]);
    rmSync(join(PLINK, 'g-tmp.bim'), { force: true });
  }
  return { releaseId: manifest.releaseId, vcf };
}

// --- 2. End to end through Temporal ---------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Service {
  name: string;
  pid: number;
  log: string;
  exited: Promise<void>;
}

/** A background process in its own process group, output to a log file. */
function startService(name: string, args: string[], env: NodeJS.ProcessEnv): Service {
  const log = join(WORK, `${name}.log`);
  const fd = openSync(log, 'w');
  const child = spawn('node', [BIN, ...args], { env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return { name, pid: child.pid, log, exited };
}

async function stopService(s: Service): Promise<void> {
  try {
    process.kill(-s.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000).unref());
  if ((await Promise.race([s.exited, timeout])) === 'timeout') {
    try {
      process.kill(-s.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, s: Service, ms = 180_000) {
  const deadline = Date.now() + ms;
  let dead = false;
  void s.exited.then(() => {
    dead = true;
  });
  while (!(await ok())) {
    if (dead)
      throw new Error(`${s.name} exited before ${what}:\n${readFileSync(s.log, 'utf8').slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out (see ${s.log})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** CPU seconds (user + system, all threads) of a live process. */
function procCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function procPeakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface StudyTiming extends Timed {
  label: string;
  studyId: string;
  runId: string;
  workerCpuS: number;
  /** The worker's peak RSS so far (VmHWM after this study). */
  workerPeakRssMiB: number;
  date: string;
  summary: string;
  /** From the summary: variants tested, λGC, whether step 1 was reused. */
  nTested: number;
  lambdaGc: number;
  step1Reused: boolean;
  loadBefore: string;
  loadAfter: string;
}

function studySpec(releaseId: string, studyId: string, loco: boolean): Record<string, unknown> {
  const demo = JSON.parse(readFileSync(join(ROOT, 'data', 'demo', 'ldl-gwas.json'), 'utf8')) as {
    gwas: Record<string, unknown>;
    phewas: { leadLoci: Record<string, unknown> } & Record<string, unknown>;
  } & Record<string, unknown>;
  // The demo's 2,500-variant shards suit its 10,000 variants; the bench uses the spec default.
  const { shardVariants: _demoShards, ...gwas } = demo.gwas;
  return {
    ...demo,
    studyId,
    release: releaseId,
    gwas: {
      ...gwas,
      ...(loco ? { relatedness: 'loco' } : {}),
      ...(loco && values.level0 !== 'auto' ? { loco: { level0: values.level0 } } : {}),
    },
    phewas: { ...demo.phewas, leadLoci: { ...demo.phewas.leadLoci, max: 0 } },
  };
}

function studyRun(
  env: NodeJS.ProcessEnv,
  worker: Service,
  releaseId: string,
  label: string,
  studyId: string,
  loco: boolean,
): StudyTiming {
  const specs = join(WORK, 'specs');
  mkdirSync(specs, { recursive: true });
  const spec = join(specs, `${studyId}.json`);
  writeFileSync(spec, `${JSON.stringify(studySpec(releaseId, studyId, loco), null, 2)}\n`);
  const out = join(specs, `${studyId}.out`);
  const loadBefore = loadavg();
  const date = stamp();
  const cpu0 = procCpuS(worker.pid);
  const t = timed('sh', ['-c', 'exec node "$0" study run "$1" --quiet > "$2"', BIN, spec, out], env);
  const workerCpuS = procCpuS(worker.pid) - cpu0;
  if (t.code !== 0) throw new Error(`study ${studyId} failed:\n${t.stderr.slice(-3000)}`);
  const m = /(started|attached to existing) \S+ (\S+)/.exec(t.stderr);
  if (!m) throw new Error(`no run id in the output of study run:\n${t.stderr.slice(-2000)}`);
  if (m[1] !== 'started') throw new Error(`study ${studyId} was not started fresh (${m[0]})`);
  const summary = readFileSync(out, 'utf8').trim();
  const g = /GWAS: (\d+) variants tested, λGC ([\d.]+)/.exec(summary);
  const r: StudyTiming = {
    ...t,
    label,
    studyId,
    runId: m[2],
    workerCpuS,
    workerPeakRssMiB: procPeakRssMiB(worker.pid),
    date,
    summary,
    nTested: g ? Number(g[1]) : Number.NaN,
    lambdaGc: g ? Number(g[2]) : Number.NaN,
    step1Reused: summary.includes('reused from an earlier run'),
    loadBefore,
    loadAfter: loadavg(),
  };
  console.error(
    `${label}: ${r.wallS.toFixed(1)} s wall, worker CPU ${workerCpuS.toFixed(1)} s (load ${loadBefore} → ${r.loadAfter})`,
  );
  return r;
}

async function endToEnd(releaseId: string) {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BIOBANK_DATA_DIR: DATA,
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    BIOBANK_TASK_QUEUE: `loco-bench-${process.pid}`,
    BIOBANK_SHUTDOWN_GRACE: '5',
  };
  const services: Service[] = [];
  const stopAll = async () => {
    for (const s of services.reverse()) await stopService(s);
  };
  const onSignal = () => void stopAll().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const server = startService('dev-server', ['dev-server', '--headless'], env);
    services.push(server);
    await waitFor(
      'the dev server answers',
      () => isServerReachable(env.TEMPORAL_ADDRESS as string, 1000),
      server,
    );
    const worker = startService('worker', ['worker', '--identity', 'loco-bench'], env);
    services.push(worker);
    await waitFor('the worker polls', () => readFileSync(worker.log, 'utf8').includes('polling'), worker);
    const id = `${Date.now().toString(36)}`;
    // Warm-up: the release's PCs (computed once per release), the worker's threads and bundle.
    const warm = studyRun(env, worker, releaseId, 'warm-up (plain)', `loco-bench-warm-${id}`, false);
    const plain = studyRun(env, worker, releaseId, '(a) plain', `loco-bench-plain-${id}`, false);
    rmSync(join(DATA, 'step1'), { recursive: true, force: true });
    const locoCold = studyRun(env, worker, releaseId, '(b) loco, step 1 cold', `loco-bench-loco-${id}`, true);
    const locoCached = studyRun(
      env,
      worker,
      releaseId,
      '(c) loco, step 1 cached',
      `loco-bench-loco2-${id}`,
      true,
    );
    if (locoCold.step1Reused || !locoCached.step1Reused)
      throw new Error('step 1 should be computed in (b) and reused in (c): see the study summaries');
    return { warm, plain, locoCold, locoCached };
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// --- 3. Step 1 alone, in-process (child process per K) ---------------------------------------

/** The run's analysis table with K − 1 extra traits y_k = y + sd(y)·noise (independent per k). */
async function multiTraitAnalysis(rec: AnalysisTable, k: number): Promise<AnalysisTable> {
  const path = join(WORK, `analysis-${k}.parquet`);
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const extra = Array.from(
    { length: k - 1 },
    (_, j) =>
      `y + s.sd * ((hash(sample_idx * 131 + ${j + 1}) % 20001)::DOUBLE / 10000.0 - 1.0) AS y_${j + 1}`,
  );
  await conn.run(
    `COPY (SELECT a.*, ${extra.join(', ')}
           FROM read_parquet(${q(rec.path)}) a, (SELECT stddev(y) AS sd FROM read_parquet(${q(rec.path)})) s
           ORDER BY sample_idx)
     TO ${q(path)} (FORMAT parquet)`,
  );
  conn.closeSync();
  db.closeSync();
  return { ...rec, path, traits: ['y', ...Array.from({ length: k - 1 }, (_, j) => `y_${j + 1}`)] };
}

interface Step1Timing {
  K: number;
  /** level 0 as run (`loco.level0`, auto resolved) */
  level0: string;
  nSamples: number;
  nVariants: number;
  nBlocks: number;
  nTasks: number;
  planS: number;
  level0S: number;
  level1S: number;
  totalS: number;
  cpuS: number;
  peakRssMiB: number;
  /** Wall seconds between consecutive heartbeats of a level-0 task (the first includes the task's setup). */
  blockS: { first: number[]; median: number; p90: number; max: number };
  lambdas: number[];
  profile?: Awaited<ReturnType<typeof profileLevel0>>;
}

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

async function step1Only(k: number, runId: string, releaseId: string): Promise<Step1Timing> {
  const config = loadConfig({ ...process.env, BIOBANK_DATA_DIR: DATA });
  const release = await resolveRelease(config, releaseId);
  const rd = runDir(config.dataDir, runId);
  const rec = JSON.parse(readFileSync(join(rd, 'analysis.parquet.json'), 'utf8')) as AnalysisTable;
  const analysis = k > 1 ? await multiTraitAnalysis(rec, k) : rec;
  const spec = JSON.parse(
    readFileSync(join(WORK, 'specs', `${runId.replace(/-[0-9a-f]{16}$/, '')}.json`), 'utf8'),
  );
  const gwas = gwasSpecSchema.parse(spec.gwas);
  const run: RunContext = {
    runId,
    studyId: 'loco-bench-step1',
    releaseId,
    releaseFingerprint: release.fingerprint,
    releaseDir: release.dataPath,
    specHash: '0'.repeat(64),
    runDir: join(WORK, 'step1-run'),
  };
  rmSync(join(config.dataDir, 'step1'), { recursive: true, force: true });
  // As a running worker: threads loaded (modules, DuckDB, WASM) and its DuckDB open before the clock.
  await prewarmThreads([...THREAD_MODULES, sourceModule('gwas/step1-thread.ts')], 2, config);
  await computeDb(config);
  const acts = createGwasActivities(config);

  const cpu0 = process.cpuUsage();
  const t0 = now();
  const plan = (await new MockActivityEnvironment().run(acts.planStep1, {
    run,
    analysis,
    gwas,
  })) as Step1Plan;
  const t1 = now();
  if (plan.done) throw new Error('step 1 was cached: the cache should have been deleted');
  const queue = [...plan.tasks];
  const first: number[] = [];
  const rest: number[] = [];
  await Promise.all(
    [0, 1].map(async () => {
      for (let task = queue.shift(); task; task = queue.shift()) {
        const env = new MockActivityEnvironment();
        let last = now();
        let n = 0;
        env.on('heartbeat', () => {
          const t = now();
          (n++ === 0 ? first : rest).push(t - last);
          last = t;
        });
        await env.run(acts.runStep1Level0, { run, analysis, dir: plan.dir, from: task.from, to: task.to });
      }
    }),
  );
  const t2 = now();
  const summary = (await new MockActivityEnvironment().run(acts.runStep1Level1, {
    run,
    analysis,
    dir: plan.dir,
  })) as Step1Summary;
  const t3 = now();
  const cpu = process.cpuUsage(cpu0);
  const out: Step1Timing = {
    K: k,
    level0: summary.level0,
    nSamples: summary.nSamples,
    nVariants: plan.nVariants,
    nBlocks: plan.nBlocks,
    nTasks: plan.tasks.length,
    planS: t1 - t0,
    level0S: t2 - t1,
    level1S: t3 - t2,
    totalS: t3 - t0,
    cpuS: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    blockS: { first, median: quantile(rest, 0.5), p90: quantile(rest, 0.9), max: Math.max(...rest) },
    lambdas: summary.traits.map((t) => t.lambda),
  };
  if (k === 1 && (values.profile || out.totalS > STEP1_TARGET_S))
    out.profile = await profileLevel0(config, run, analysis, plan);
  return out;
}

/**
 * Where level 0 spends, on one thread: for every 10th block, read its genotypes through DuckDB
 * (the query step 1 uses: a variant_idx range over the genotype files, streamed) and run
 * `level0Block` on them, timing the two apart.
 */
async function profileLevel0(
  config: ReturnType<typeof loadConfig>,
  run: RunContext,
  analysis: AnalysisTable,
  plan: Step1Plan,
) {
  const planFile = JSON.parse(readFileSync(join(plan.dir, 'plan.json'), 'utf8')) as {
    blocks: [number, number, number][];
    lambdas: number[];
    settings: { folds: number };
  };
  const buf = readFileSync(join(plan.dir, 'variants.i32'));
  const variants = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return withCompute({ ...config, worker: { ...config.worker, duckdbThreads: 1 } }, async (conn) => {
    // The per-task setup every level-0 activity repeats: analysis table, sample count, basis, traits.
    const tSetup = now();
    const a = await loadAnalysis(conn, analysis);
    const nGeno = Number(
      (
        await conn.runAndReadAll(
          `SELECT count(*) FROM read_parquet(${q(join(run.releaseDir, 'samples.parquet'))})`,
        )
      ).getRows()[0][0],
    );
    const z = new Float64Array(a.n * (a.c + 1));
    z.fill(1, 0, a.n);
    z.set(a.cov, a.n);
    const b = orthonormalBasis(z, a.n, a.c + 1);
    const basis = b.q.subarray(0, a.n * b.rank);
    const K = a.ys.length;
    const yRaw = new Float64Array(a.n * K);
    for (let t = 0; t < K; t++) yRaw.set(a.ys[t], t * a.n);
    const setup: Level0Setup = {
      n: a.n,
      nGeno,
      sampleIdx: a.sampleIdx,
      fold: foldsOf(a.n, planFile.settings.folds),
      nFolds: planFile.settings.folds,
      basis,
      q: b.rank,
      y: prepareLevel0Traits(yRaw, K, basis, b.rank).y,
      K,
      lambdas: Float64Array.from(planFile.lambdas),
    };
    const setupS = now() - tSetup;
    const glob = sqlString(join(run.releaseDir, 'genotypes', '*.parquet'));
    const read: number[] = [];
    const compute: number[] = [];
    const cpuRead: number[] = [];
    const cpuCompute: number[] = [];
    const items = new Array<Uint8Array | null>(2048);
    for (let bk = 0; bk < planFile.blocks.length; bk += 10) {
      const [, off, count] = planFile.blocks[bk];
      const idx = variants.subarray(off, off + count);
      const want = new Set(idx);
      const c0 = process.cpuUsage();
      const t0 = now();
      const gts: Uint8Array[] = [];
      const res = await conn.stream(
        `SELECT variant_idx::INTEGER AS i, gt FROM read_parquet(${glob}) WHERE variant_idx BETWEEN $1 AND $2`,
        [idx[0], idx[idx.length - 1]],
      );
      for (let ch = await res.fetchChunk(); ch && ch.rowCount > 0; ch = await res.fetchChunk()) {
        const iv = ch.getColumnVector(0) as DuckDBIntegerVector;
        blobItems(ch.getColumnVector(1) as DuckDBBlobVector, ch.rowCount, items);
        for (let r = 0; r < ch.rowCount; r++)
          if (want.has(iv.getItem(r) as number)) gts.push(items[r] as Uint8Array);
      }
      const t1 = now();
      const c1 = process.cpuUsage();
      level0Block(setup, gts);
      const c2 = process.cpuUsage();
      read.push(t1 - t0);
      compute.push(now() - t1);
      cpuRead.push((c1.user + c1.system - c0.user - c0.system) / 1e6);
      cpuCompute.push((c2.user + c2.system - c1.user - c1.system) / 1e6);
    }
    const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
    return {
      setupS,
      blocksSampled: read.length,
      meanBlockVariants: variants.length / planFile.blocks.length,
      readS: { mean: sum(read) / read.length, cpuMean: sum(cpuRead) / read.length },
      level0BlockS: { mean: sum(compute) / compute.length, cpuMean: sum(cpuCompute) / compute.length },
      /** Estimated single-thread CPU of all blocks: (read + compute) × nBlocks. */
      estimatedCpuS: ((sum(cpuRead) + sum(cpuCompute)) / read.length) * planFile.blocks.length,
    };
  });
}

function runStep1Child(k: number, runId: string, releaseId: string): Step1Timing {
  const child = spawnSync(
    'node',
    [
      '--import',
      'tsx',
      join(ROOT, 'bench', 'loco.ts'),
      '--persons',
      N,
      '--variants',
      M,
      '--step1-only',
      String(k),
      '--run-id',
      runId,
      '--release-id',
      releaseId,
      ...(values.profile ? ['--profile'] : []),
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20, cwd: ROOT },
  );
  if (child.status !== 0) throw new Error(`step 1 (K = ${k}) failed:\n${child.stderr.slice(-3000)}`);
  return JSON.parse(child.stdout.trim().split('\n').pop() as string) as Step1Timing;
}

// --- 4. Baselines ------------------------------------------------------------------------------

/**
 * pheno/covar files from an analysis table (plink2: IID; BOLT: FID IID, FID 0 as in the .fam), the
 * table's covariates renamed c1…cK (one-hot names hold `=` and `.`). Returns the covariate names.
 */
async function baselineInputs(rec: AnalysisTable, releaseDir: string): Promise<string[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const covs = rec.covariates.map((c, j) => `a."cov_${c.replaceAll('"', '""')}" AS c${j + 1}`);
  const names = rec.covariates.map((_, j) => `c${j + 1}`);
  await conn.run(
    `CREATE TABLE t AS SELECT s.sample_id AS iid, a.y, ${covs.join(', ')}
     FROM read_parquet(${q(rec.path)}) a JOIN read_parquet(${q(join(releaseDir, 'samples.parquet'))}) s USING (sample_idx)
     ORDER BY a.sample_idx`,
  );
  const files: [string, string][] = [
    ['SELECT iid AS IID, y FROM t', 'pheno.tsv'],
    [`SELECT iid AS IID, ${names.join(', ')} FROM t`, 'covar.tsv'],
    ["SELECT '0' AS FID, iid AS IID, y FROM t", 'bolt-pheno.tsv'],
    [`SELECT '0' AS FID, iid AS IID, ${names.join(', ')} FROM t`, 'bolt-covar.tsv'],
  ];
  for (const [sql, f] of files)
    await conn.run(`COPY (${sql}) TO ${q(join(PLINK, f))} (FORMAT csv, DELIMITER '\t', HEADER true)`);
  conn.closeSync();
  db.closeSync();
  return names;
}

function plinkGlm(gwas: Record<string, number>): {
  t: Timed;
  date: string;
  args: string[];
  loadBefore: string;
  loadAfter: string;
} {
  const args = [
    '--pfile',
    join(PLINK, 'g'),
    '--pheno',
    join(PLINK, 'pheno.tsv'),
    '--covar',
    join(PLINK, 'covar.tsv'),
    '--glm',
    'hide-covar',
    '--mac',
    String(gwas.minMac),
    '--maf',
    String(gwas.minMaf),
    '--geno',
    String(gwas.maxMissing),
    '--hwe',
    String(gwas.hweP),
    '--threads',
    '2',
    '--memory',
    '8000',
    '--out',
    join(PLINK, 'glm'),
  ];
  plink2(args); // warm the page cache once
  const loadBefore = loadavg();
  const date = stamp();
  const t = plink2(args);
  return { t, args: ['plink2', ...args], date, loadBefore, loadAfter: loadavg() };
}

function boltLmm(covCols: string[]) {
  if (values.bolt === 'none') return null;
  const args = [
    '--bfile',
    join(PLINK, 'g'),
    '--phenoFile',
    join(PLINK, 'bolt-pheno.tsv'),
    '--phenoCol',
    'y',
    '--covarFile',
    join(PLINK, 'bolt-covar.tsv'),
    ...covCols.flatMap((c) => ['--qCovarCol', c]),
    values.bolt === 'lmm' ? '--lmm' : '--lmmInfOnly',
    '--LDscoresUseChip',
    '--numThreads',
    '2',
    '--statsFile',
    join(PLINK, 'bolt.stats'),
  ];
  const loadBefore = loadavg();
  const date = stamp();
  // BOLT logs to stdout: keep it in bolt.log.
  const log = join(PLINK, 'bolt.log');
  const t = timed(
    'sh',
    ['-c', 'exec timeout "$0" bolt "$@" > "$BOLT_LOG"', values['bolt-timeout'] as string, ...args],
    { ...process.env, BOLT_LOG: log },
  );
  const timedOut = t.code === 124;
  if (t.code !== 0 && !timedOut) throw new Error(`bolt failed (code ${t.code}), see ${log}`);
  return { t, timedOut, args: ['bolt', ...args], date, loadBefore, loadAfter: loadavg() };
}

// --- Main --------------------------------------------------------------------------------------

const s1 = (x: number) => x.toFixed(1);
const gib = (mib: number) => `${(mib / 1024).toFixed(2)} GiB`;

async function main() {
  if (values['step1-only']) {
    const r = await step1Only(
      Number(values['step1-only']),
      values['run-id'] as string,
      values['release-id'] as string,
    );
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const { releaseId } = prepareData();
  if (values.prepare) return;
  const ks = (values.traits as string).split(',').map(Number);
  const machine = `${cpus().length} CPUs`;

  const e2e = await endToEnd(releaseId);
  const step1 = ks.map((k) => {
    const loadBefore = loadavg();
    const date = stamp();
    const r = runStep1Child(k, e2e.locoCold.runId, releaseId);
    console.error(
      `step 1, K = ${k}: ${s1(r.totalS)} s (plan ${s1(r.planS)}, level 0 ${s1(r.level0S)}, level 1 ${s1(r.level1S)}), ` +
        `CPU ${s1(r.cpuS)} s, peak RSS ${r.peakRssMiB.toFixed(0)} MiB`,
    );
    return { ...r, date, loadBefore, loadAfter: loadavg() };
  });

  const config = loadConfig({ ...process.env, BIOBANK_DATA_DIR: DATA });
  const release = await resolveRelease(config, releaseId);
  const rec = JSON.parse(
    readFileSync(join(runDir(config.dataDir, e2e.plain.runId), 'analysis.parquet.json'), 'utf8'),
  ) as AnalysisTable;
  const covCols = await baselineInputs(rec, release.dataPath);
  const spec = studySpec(releaseId, 'x', false) as { gwas: Record<string, number> };
  const glm = plinkGlm(spec.gwas);
  console.error(`plink2 --glm: ${s1(glm.t.wallS)} s`);
  const bolt = boltLmm(covCols);
  if (bolt) console.error(`bolt: ${bolt.timedOut ? 'timed out after' : ''} ${s1(bolt.t.wallS)} s`);

  const k1 = step1.find((s) => s.K === 1);
  const rows: string[] = [];
  const row = (cells: string[]) => rows.push(`| ${cells.join(' | ')} |`);
  rows.push('| date (UTC) | measurement | wall | CPU | peak RSS | ratio | load before → after |');
  rows.push('|---|---|---|---|---|---|---|');
  const size = `${N} × ${M}`;
  for (const s of [e2e.warm, e2e.plain, e2e.locoCold, e2e.locoCached]) {
    const ratio =
      s === e2e.locoCold
        ? `**${(s.wallS / e2e.plain.wallS).toFixed(2)}×** of (a); ${(s.wallS / glm.t.wallS).toFixed(1)}× plink2 --glm`
        : s === e2e.locoCached
          ? `${(s.wallS / e2e.plain.wallS).toFixed(2)}× of (a)`
          : s === e2e.plain
            ? `${(s.wallS / glm.t.wallS).toFixed(1)}× plink2 --glm`
            : '';
    row([
      s.date,
      `${size}: study ${s.label} (\`biobank study run\`; ${s.nTested} tested, λGC ${s.lambdaGc})`,
      `${s1(s.wallS)} s`,
      `worker ${s1(s.workerCpuS)} s + CLI ${s1(s.cpuS)} s`,
      `worker ${gib(s.workerPeakRssMiB)} (peak so far)`,
      ratio,
      `${s.loadBefore} → ${s.loadAfter}`,
    ]);
  }
  for (const s of step1) {
    row([
      s.date,
      `${size}: step 1 in-process, K = ${s.K} (${s.nVariants} variants, level 0 ${s.level0}: ${s.nBlocks} blocks, ${s.nTasks} tasks): ` +
        `plan ${s1(s.planS)} + level 0 ${s1(s.level0S)} + level 1 ${s1(s.level1S)} s`,
      `**${s1(s.totalS)} s**`,
      `${s1(s.cpuS)} s`,
      `${s.peakRssMiB.toFixed(0)} MiB`,
      s.K > 1 && k1
        ? `${(s.totalS / k1.totalS).toFixed(2)}× time, ${(s.peakRssMiB / k1.peakRssMiB).toFixed(2)}× RSS of K = 1`
        : '',
      `${s.loadBefore} → ${s.loadAfter}`,
    ]);
  }
  row([
    glm.date,
    `${size}: plink2 --glm hide-covar, same trait, covariates and filters, 2 threads`,
    `${s1(glm.t.wallS)} s`,
    `${s1(glm.t.cpuS)} s`,
    `${glm.t.peakRssMiB.toFixed(0)} MiB`,
    '',
    `${glm.loadBefore} → ${glm.loadAfter}`,
  ]);
  if (bolt)
    row([
      bolt.date,
      `${size}: bolt ${values.bolt === 'lmm' ? '--lmm' : '--lmmInfOnly'} --LDscoresUseChip, 2 threads`,
      `${bolt.timedOut ? '> ' : ''}${s1(bolt.t.wallS)} s`,
      `${s1(bolt.t.cpuS)} s`,
      `${bolt.t.peakRssMiB.toFixed(0)} MiB`,
      k1 && !bolt.timedOut ? `step 1 / bolt ${(k1.totalS / bolt.t.wallS).toFixed(2)}×` : '',
      `${bolt.loadBefore} → ${bolt.loadAfter}`,
    ]);
  const md = `${rows.join('\n')}\n`;
  console.log(`\n${machine}\n${md}`);
  writeFileSync(join(WORK, 'result.md'), md);
  writeFileSync(
    join(WORK, 'result.json'),
    `${JSON.stringify(
      {
        size,
        machine,
        e2e: Object.fromEntries(
          Object.entries(e2e).map(([k, v]) =>
            typeof v === 'object' ? [k, { ...v, stderr: undefined }] : [k, v],
          ),
        ),
        step1,
        glm: { ...glm, t: { ...glm.t, stderr: undefined } },
        bolt: bolt ? { ...bolt, t: { ...bolt.t, stderr: undefined } } : null,
      },
      null,
      2,
    )}\n`,
  );
  if (!values.keep) {
    for (const p of [
      join(DATA, 'step1'),
      join(WORK, 'step1-run'),
      ...ks.map((k) => join(WORK, `analysis-${k}.parquet`)),
    ])
      rmSync(p, { recursive: true, force: true });
  }
}

await main();
