/**
 * Benchmark: build the full phecode 1.2 phenome (all phecodes, case/control/exclusion) for a
 * synthetic 100,000-person release, on the engine's DuckDB with 2 threads.
 *
 *   node --import tsx bench/phenome.ts [--persons 100000] [--records-per-person 40] [--version 1.2|X] [--memory 2GB]
 *
 * The conditions table is synthesised in SQL (bench/synth-ehr.ts): each person gets a Poisson-ish number of
 * records (mean `records-per-person`) whose codes are drawn from the real map's ICD codes
 * with a skewed (power-law) frequency, dated over 10 years. The maps are read from
 * the shipped public maps (data/phecode). Prints wall time of the build (maps load + phenome + Parquet)
 * and the process's peak RSS (VmHWM), plus the CPU seconds of the build and the machine's load
 * average (the wall time is only meaningful on an otherwise idle machine).
 */
import { readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { withCompute } from '../engine/duckdb.js';
import { buildPhenome } from '../phenotype/build.js';
import { loadConfig } from '../temporal.config.js';
import { shippedMaps, synthesiseEhr } from './synth-ehr.js';

const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '100000' },
    'records-per-person': { type: 'string', default: '40' },
    version: { type: 'string', default: '1.2' },
    threads: { type: 'string', default: '2' },
    memory: { type: 'string', default: '2GB' },
  },
});
const nPersons = Number(values.persons);
const perPerson = Number(values['records-per-person']);
const version = values.version === 'X' ? 'X' : '1.2';
const mapsDir = shippedMaps(version);
const dataDir = join(tmpdir(), `biobank-bench-phenome-${process.pid}`);
const config = loadConfig({
  BIOBANK_DATA_DIR: dataDir,
  BIOBANK_DUCKDB_THREADS: values.threads,
  BIOBANK_DUCKDB_MEMORY: values.memory,
});
const releaseDir = join(dataDir, 'releases', 'bench', '000000000000');

async function peakRssMiB(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8');
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const t0 = performance.now();
await withCompute(config, async (conn) => {
  const n = await synthesiseEhr(conn, {
    releaseDir,
    mapsDir,
    version,
    persons: nPersons,
    recordsPerPerson: perPerson,
  });
  console.log(
    `synthesised ${nPersons} persons, ${n} condition records in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
});

const rssBefore = await peakRssMiB();
const cpu0 = process.cpuUsage();
const t1 = performance.now();
const res = await withCompute(config, (conn) =>
  buildPhenome(conn, { releaseId: 'bench', releaseDir, version, mapsDir }),
);
const seconds = (performance.now() - t1) / 1000;
const cpu = process.cpuUsage(cpu0);
const peak = await peakRssMiB();
const { stat } = await import('node:fs/promises');
const size = (await stat(res.phenome)).size / 2 ** 20;
console.log(
  JSON.stringify(
    {
      bench: 'phenome',
      version,
      persons: res.nPersons,
      rows: res.nRows,
      casePairs: res.nCasePairs,
      threads: Number(values.threads),
      seconds: Number(seconds.toFixed(2)),
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
      loadAverage1m: Number(loadavg()[0].toFixed(1)),
      peakRssMiB: Math.round(peak),
      peakRssBeforeBuildMiB: Math.round(rssBefore),
      phenomeParquetMiB: Number(size.toFixed(1)),
      unmappedDistinctCodes: res.unmapped.distinctCodes,
    },
    null,
    2,
  ),
);
if (!process.env.KEEP) await rm(dataDir, { recursive: true, force: true });
