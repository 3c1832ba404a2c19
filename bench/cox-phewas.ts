/**
 * Cox PheWAS benchmark (issue 16): one predictor against every phecode 1.2 code with a
 * time-to-event outcome (`coxFitAll`, phewas/schedule.ts), timed against the logistic PheWAS of
 * the same predictor on the same sets and covariates (`fitAll`) in the same run.
 *
 *   node --import tsx bench/cox-phewas.ts [--persons 50000] [--runs 3] [--modes all|<m>,<m>…]
 *                                         [--reuse] [--save-rows]
 *
 * Modes (each run `--runs` times in round-robin order, one child process per run; median reported):
 *   cox-inline       coxFitAll, threads 1
 *   cox-threads      coxFitAll, the default threading (min(CPUs, BIOBANK_DUCKDB_THREADS) pooled threads)
 *   logistic-inline  fitAll, threads 1, the spec's default SPA ('auto')
 *   logistic         fitAll, the default threading, default SPA
 *   logistic-nospa   fitAll, the default threading, spa 'never'
 *
 * Data: the PheWAS bench's synthetic release (bench/synth-ehr.ts: 50,000 persons, ≈ 2 M condition
 * records over the real phecode 1.2 map, covariates sex, age, a PC; an allele dosage 0/1/2 with
 * allele frequency 0.25 that raises the odds of 250.2 and 401.1), its phenome built once through
 * `buildRunPhenome` (untimed), and a synthetic timeline on the age scale made here from hashes of
 * the sample and phecode indexes: entry age uniform 30–70, follow-up uniform 1–15 years (exit =
 * entry + follow-up), per case of a phecode: 20 % prevalent (first code uniform in the 20 years
 * before entry), else the first code uniform within follow-up; the event (the second distinct
 * date) on the same day for half of them, else uniform within the following 2 years, so some
 * cases are diagnosed after exit (censored); all times in whole days, so event times tie.
 *
 * Timed: only the fitting call (inputs loaded, sets built before the clock starts), wall clock
 * inside the child; peak RSS and CPU of the whole child from GNU time. `--save-rows` writes each
 * mode's rows of the first run to <out>/rows-<mode>.json (to compare results between code
 * versions). The data stay in <out> for `--reuse` (≈ 0.3 GB at 50,000 persons).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createPhewasActivities } from '../activities/phewas.js';
import { sqlString, withCompute } from '../engine/duckdb.js';
import type { CoxPhecodeFit, CoxPhecodeSets } from '../phewas/cox.js';
import type { PhecodeFit, PhecodeSets } from '../phewas/fit.js';
import { loadPhewasInputs, loadPredictor } from '../phewas/inputs.js';
import { coxFitAll, fitAll, type Heartbeat, type Threading } from '../phewas/schedule.js';
import { phewasSpecSchema } from '../schemas/study.js';
import type { AnalysisTable, PhenomeRef, PhewasPredictor, RunContext } from '../schemas/study-io.js';
import { loadConfig } from '../temporal.config.js';
import { loadavg } from './measure.js';
import { personIdSql, shippedMaps, synthesiseEhr } from './synth-ehr.js';

const MODES = ['cox-inline', 'cox-threads', 'logistic-inline', 'logistic', 'logistic-nospa'] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '50000' },
    runs: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'all' },
    out: { type: 'string', default: 'bench/out/cox-phewas' },
    reuse: { type: 'boolean', default: false },
    'save-rows': { type: 'boolean', default: false },
    /** Internal: one timed run of `--mode` on the prepared folder; prints JSON. */
    child: { type: 'boolean', default: false },
    mode: { type: 'string' },
  },
});
const N = Number(values.persons);
const RUNS = Math.max(1, Number(values.runs));
const OUT = resolve(values.out as string);
const MAPS = shippedMaps('1.2');
const releaseDir = join(OUT, 'release');
const config = loadConfig({
  BIOBANK_DATA_DIR: join(OUT, 'data'),
  BIOBANK_DUCKDB_THREADS: '2',
  BIOBANK_DUCKDB_MEMORY: '4GB',
});
const run: RunContext = {
  runId: 'bench-cox-phewas-0123456789abcdef',
  studyId: 'bench-cox-phewas',
  releaseId: 'bench',
  releaseFingerprint: '0'.repeat(64),
  releaseDir,
  specHash: '0'.repeat(64),
  runDir: join(OUT, 'run'),
};
const analysis: AnalysisTable = {
  path: join(OUT, 'analysis.parquet'),
  trait: 'none',
  nSamples: N,
  covariates: ['sex', 'age', 'pc1'],
  droppedCovariates: [],
};
const predictorPath = join(OUT, 'predictor.parquet');
const predictor: PhewasPredictor = {
  type: 'column',
  id: 'bench-dosage',
  path: join(OUT, 'predictor.parquet'),
  column: 'score',
};
const phewas = phewasSpecSchema.parse({ phecodeVersion: '1.2', maps: MAPS });
const phenomeRefPath = join(OUT, 'phenome-ref.json');
const dosageSql = (i: string) =>
  `((hash(${i}, 11) % 1000 < 250)::INTEGER + (hash(${i}, 12) % 1000 < 250)::INTEGER)`;

/** The synthetic release, analysis table and predictor (as bench/phewas.ts), then the phenome. */
async function generate(): Promise<void> {
  await rm(OUT, { recursive: true, force: true });
  await mkdir(OUT, { recursive: true });
  const t0 = performance.now();
  await withCompute(config, async (conn) => {
    const planted = [
      ['E11.9', 31],
      ['I10', 32],
    ]
      .map(
        ([code, salt]) => `
        SELECT ${personIdSql('i')} AS person_id, '${code}' AS code, 'ICD10CM' AS vocabulary,
               DATE '2012-01-01' + (hash(i, ${salt}, d) % 2500)::INTEGER AS date
        FROM range(${N}) t(i), range(2) s(d)
        WHERE (hash(i, ${salt}) % 1000000) / 1e6 < 1 / (1 + exp(3 - 0.4 * ${dosageSql('i')}))`,
      )
      .join(' UNION ALL ');
    const records = await synthesiseEhr(conn, {
      releaseDir,
      mapsDir: MAPS,
      version: '1.2',
      persons: N,
      recordsPerPerson: 16,
      datesPerCode: 4,
      extraRecords: planted,
    });
    await conn.run(
      `COPY (
         SELECT i::INTEGER AS sample_idx, p.person_id, 0.0::DOUBLE AS y,
                (p.sex = 'M')::INTEGER::DOUBLE AS cov_sex,
                ((DATE '2020-01-01' - p.birth_date) / 365.25)::DOUBLE AS cov_age,
                sqrt(-2 * ln(((hash(i, 41) % 999983) + 1) / 999984.0)) * cos(2 * pi() * (hash(i, 42) % 1000000) / 1e6) AS cov_pc1
         FROM range(${N}) t(i) JOIN read_parquet(${sqlString(join(releaseDir, 'persons.parquet'))}) p
           ON p.person_id = ${personIdSql('i')}
         ORDER BY i)
       TO ${sqlString(analysis.path)} (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT ${personIdSql('i')} AS person_id, ${dosageSql('i')}::DOUBLE AS score FROM range(${N}) t(i))
       TO ${sqlString(predictorPath)} (FORMAT parquet)`,
    );
    console.error(`synthesised ${N} persons, ${records} condition records`);
  });
  const acts = createPhewasActivities(config);
  const phenome = (await new MockActivityEnvironment().run(acts.buildRunPhenome, {
    run,
    analysis,
    phewas,
  })) as PhenomeRef;
  await writeFile(phenomeRefPath, JSON.stringify(phenome));
  console.error(
    `data and phenome (${phenome.nPhecodes} phecodes) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

/** Uniform (0, 1) from a hash of three integers (murmur3's 32-bit finaliser over a mix). */
function unif(a: number, b: number, c: number): number {
  let h =
    Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35) ^ Math.imul(c, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return ((h >>> 0) + 0.5) / 4294967296;
}

const DAY = 1 / 365.25;
const days = (years: number) => Math.round(years / DAY) * DAY;

/** The synthetic timeline (module comment): entry/exit per sample, onsets per case. */
function timeline(n: number, sets: PhecodeSets[]) {
  const entry = new Float64Array(n);
  const exit = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    entry[i] = days(30 + 40 * unif(i, 1, 0));
    exit[i] = entry[i] + days(1 + 14 * unif(i, 2, 0));
  }
  const coxSets: CoxPhecodeSets[] = sets.map((s) => {
    const first = new Float64Array(s.cases.length);
    const event = new Float64Array(s.cases.length);
    for (let j = 0; j < s.cases.length; j++) {
      const i = s.cases[j];
      const k = s.index + 3;
      const f =
        unif(i, k, 1) < 0.2
          ? entry[i] - days(20 * unif(i, k, 2))
          : Math.max(entry[i] + DAY, entry[i] + days((exit[i] - entry[i]) * unif(i, k, 3)));
      first[j] = f;
      event[j] = unif(i, k, 4) < 0.5 ? f : f + days(2 * unif(i, k, 5));
    }
    return { ...s, first, event };
  });
  return { entry, exit, sets: coxSets };
}

/** Child: one timed run of `mode`. */
async function child(mode: Mode) {
  const phenome = JSON.parse(await readFile(phenomeRefPath, 'utf8')) as PhenomeRef;
  const { inp, x } = await withCompute(config, async (conn) => {
    const inp = await loadPhewasInputs(conn, analysis, phenome);
    const x = await loadPredictor(conn, run, predictor, inp.ids, inp.a.sampleIdx);
    return { inp, x };
  });
  const threading: Threading = {
    threads: mode.endsWith('inline')
      ? 1
      : Math.max(1, Math.min(availableParallelism(), config.worker.duckdbThreads)),
    minWork: config.worker.phewasThreadMinWork,
  };
  const ctx: Heartbeat = { heartbeat() {}, signal: new AbortController().signal };
  const common = {
    n: inp.a.n,
    x,
    cov: inp.a.cov,
    nCov: inp.a.c,
    sexCols: inp.sexCols,
    minCases: phewas.minCases,
    minControls: phewas.minControls,
    firth: phewas.firth,
  };
  let rows: (CoxPhecodeFit | PhecodeFit)[];
  let seconds: number;
  if (mode.startsWith('cox')) {
    const tl = timeline(inp.a.n, inp.sets);
    const t0 = performance.now();
    rows = await coxFitAll(
      { ...common, entry: tl.entry, exit: tl.exit, ties: 'efron' },
      tl.sets,
      threading,
      ctx,
    );
    seconds = (performance.now() - t0) / 1000;
  } else {
    const t0 = performance.now();
    rows = await fitAll(
      {
        ...common,
        spa: mode === 'logistic-nospa' ? 'never' : phewas.spa,
        spaCaseFraction: phewas.spaCaseFraction,
      },
      inp.sets,
      threading,
      ctx,
    );
    seconds = (performance.now() - t0) / 1000;
  }
  const tested = rows.filter((r) => r.status === 'ok').length;
  const statuses: Record<string, number> = {};
  for (const r of rows) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  if (values['save-rows']) await writeFile(join(OUT, `rows-${mode}.json`), JSON.stringify(rows));
  process.stdout.write(`${JSON.stringify({ mode, seconds, phecodes: rows.length, tested, statuses })}\n`);
  process.exit(0);
}

interface RunResult {
  mode: Mode;
  seconds: number;
  phecodes: number;
  tested: number;
  statuses: Record<string, number>;
  wall: number;
  peakRssMiB: number;
  cpu: number;
}

function runChild(mode: Mode, saveRows: boolean): RunResult {
  const args = [
    '-f',
    'BENCH_TIME %e %M %U %S',
    process.execPath,
    ...process.execArgv,
    join(import.meta.dirname, 'cox-phewas.ts'),
    '--child',
    '--mode',
    mode,
    '--out',
    OUT,
    '--persons',
    String(N),
  ];
  if (saveRows) args.push('--save-rows');
  const c = spawnSync('/usr/bin/time', args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (c.status !== 0) throw new Error(`${mode} child failed:\n${c.stdout}\n${c.stderr}`);
  const m = /BENCH_TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(c.stderr);
  const r = JSON.parse(c.stdout.trim().split('\n').pop() as string);
  return {
    ...r,
    wall: m ? Number(m[1]) : Number.NaN,
    peakRssMiB: m ? Math.round(Number(m[2]) / 1024) : Number.NaN,
    cpu: m ? Number(m[3]) + Number(m[4]) : Number.NaN,
  };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  if (values.child) return child(values.mode as Mode);
  const modes = (values.modes === 'all' ? [...MODES] : (values.modes as string).split(',')) as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (${MODES.join(', ')})`);
  if (!values.reuse || !existsSync(phenomeRefPath)) await generate();
  const loadBefore = loadavg();
  const results = new Map<Mode, RunResult[]>(modes.map((m) => [m, []]));
  for (let k = 0; k < RUNS; k++)
    for (const mode of modes) {
      const r = runChild(mode, Boolean(values['save-rows']) && k === 0);
      console.error(`run ${k + 1}/${RUNS} ${mode}: ${r.seconds.toFixed(1)} s (RSS ${r.peakRssMiB} MiB)`);
      results.get(mode)?.push(r);
    }
  const summary = modes.map((mode) => {
    const rs = results.get(mode) as RunResult[];
    return {
      mode,
      medianSeconds: Number(median(rs.map((r) => r.seconds)).toFixed(1)),
      seconds: rs.map((r) => Number(r.seconds.toFixed(1))),
      peakRssMiB: Math.max(...rs.map((r) => r.peakRssMiB)),
      childCpuSeconds: Number(median(rs.map((r) => r.cpu)).toFixed(1)),
      tested: rs[0].tested,
      phecodes: rs[0].phecodes,
      statuses: rs[0].statuses,
    };
  });
  const med = new Map(summary.map((s) => [s.mode, s.medianSeconds]));
  const ratio = (a: Mode, b: Mode) =>
    med.has(a) && med.has(b) ? Number(((med.get(a) as number) / (med.get(b) as number)).toFixed(2)) : null;
  const report = {
    bench: 'cox-phewas',
    date: new Date().toISOString().slice(0, 16).replace('T', ' '),
    persons: N,
    runs: RUNS,
    loadBefore,
    loadAfter: loadavg(),
    summary,
    ratios: {
      coxInlineVsLogisticInline: ratio('cox-inline', 'logistic-inline'),
      coxThreadsVsLogistic: ratio('cox-threads', 'logistic'),
      coxThreadsVsLogisticNoSpa: ratio('cox-threads', 'logistic-nospa'),
      coxInlineVsLogistic: ratio('cox-inline', 'logistic'),
    },
  };
  console.log('| mode | median s | runs (s) | peak RSS MiB | tested / phecodes |');
  console.log('|---|---:|---|---:|---:|');
  for (const s of summary)
    console.log(
      `| ${s.mode} | ${s.medianSeconds} | ${s.seconds.join(', ')} | ${s.peakRssMiB} | ${s.tested} / ${s.phecodes} |`,
    );
  console.log(JSON.stringify(report, null, 2));
  await writeFile(join(OUT, `result-${Date.now()}.json`), `${JSON.stringify(report, null, 2)}\n`);
}

await main();
