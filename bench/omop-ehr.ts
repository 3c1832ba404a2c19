/**
 * Benchmark: an OMOP CDM EHR → phenome against the flat-table path on the same events, in the
 * same run (issue target: ≤ 1.5×). 100,000 persons with ~40 condition records each (4 M rows,
 * bench/synth-ehr.ts), written once as flat Parquet tables and once as CDM CSV files
 * (synth/omop.ts: integer person ids, source concepts, a quarter of the rows with only a source
 * value; such a value that is the code of concepts in two vocabularies is skipped, as
 * docs/omop.md says, so the OMOP phenome has slightly fewer case pairs). Each side: EHR ingest (ingest/ehr/ehr.ts; the OMOP side in ingest/omop/) then the phecode
 * phenome (phenotype/build.ts), on the engine's DuckDB with 2 threads.
 *
 *   node --import tsx bench/omop-ehr.ts [--persons 100000] [--records-per-person 40] [--version 1.2|X]
 */
import { mkdir, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { withCompute } from '../engine/duckdb.js';
import { ingestEhr } from '../ingest/ehr/ehr.js';
import { buildPhenome } from '../phenotype/build.js';
import { type ReleaseManifest, releaseManifestSchema } from '../schemas/release.js';
import { writeOmopCdm } from '../synth/omop.js';
import { loadConfig } from '../temporal.config.js';
import { shippedMaps, synthesiseEhr } from './synth-ehr.js';

const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '100000' },
    'records-per-person': { type: 'string', default: '40' },
    version: { type: 'string', default: '1.2' },
    runs: { type: 'string', default: '2' },
  },
});
const version = values.version === 'X' ? 'X' : '1.2';
const mapsDir = shippedMaps(version);
const root = join(tmpdir(), `biobank-bench-omop-${process.pid}`);
const config = loadConfig({
  BIOBANK_DATA_DIR: root,
  BIOBANK_DUCKDB_THREADS: '2',
  BIOBANK_DUCKDB_MEMORY: '4GB',
});
const src = join(root, 'src');
await mkdir(join(src, 'omop'), { recursive: true });

const nRecords = await withCompute(config, async (conn) => {
  const n = await synthesiseEhr(conn, {
    releaseDir: src,
    mapsDir,
    version,
    persons: Number(values.persons),
    recordsPerPerson: Number(values['records-per-person']),
  });
  await writeOmopCdm(
    conn,
    {
      persons: `read_parquet('${join(src, 'persons.parquet')}')`,
      conditions: `read_parquet('${join(src, 'conditions.parquet')}')`,
    },
    join(src, 'omop'),
  );
  return n;
});

const manifests: Record<'flat' | 'omop', ReleaseManifest> = {
  flat: releaseManifestSchema.parse({
    releaseId: 'bench-flat',
    genotypes: ['none.vcf'],
    persons: { path: 'persons.parquet', format: 'parquet', idColumn: 'person_id' },
    conditions: { path: 'conditions.parquet', format: 'parquet', idColumn: 'person_id' },
  }),
  omop: releaseManifestSchema.parse({
    releaseId: 'bench-omop',
    genotypes: ['none.vcf'],
    ehr: { format: 'omop', path: 'omop' },
  }),
};

async function side(kind: 'flat' | 'omop') {
  const out = join(root, `out-${kind}`);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ehr = await withCompute(config, (conn) =>
    ingestEhr(conn, {
      manifest: manifests[kind],
      baseDir: src,
      outDir: out,
      quarantine: false,
      today: new Date().toISOString().slice(0, 10),
    }),
  );
  const t1 = performance.now();
  const phenome = await withCompute(config, (conn) =>
    buildPhenome(conn, { releaseId: `bench-${kind}`, releaseDir: out, version, mapsDir }),
  );
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  return {
    ingestS: (t1 - t0) / 1000,
    phenomeS: (t2 - t1) / 1000,
    totalS: (t2 - t0) / 1000,
    cpuS: (cpu.user + cpu.system) / 1e6,
    conditions: ehr.nConditions,
    casePairs: phenome.nCasePairs,
    notes: ehr.notes,
  };
}

const load0 = loadavg()[0].toFixed(1);
const rows: string[] = [];
let lastNotes: string[] = [];
for (let r = 0; r < Number(values.runs); r++) {
  const flat = await side('flat');
  const omop = await side('omop');
  lastNotes = omop.notes;
  rows.push(
    `| ${new Date().toISOString().slice(0, 16).replace('T', ' ')} | ${values.persons} persons, ${nRecords.toLocaleString('en-US')} condition rows, phecode ${version} | ${flat.ingestS.toFixed(1)} + ${flat.phenomeS.toFixed(1)} = ${flat.totalS.toFixed(1)} s | ${omop.ingestS.toFixed(1)} + ${omop.phenomeS.toFixed(1)} = ${omop.totalS.toFixed(1)} s | ${(omop.totalS / flat.totalS).toFixed(2)}× | ${flat.casePairs.toLocaleString('en-US')} / ${omop.casePairs.toLocaleString('en-US')} | load ${load0} → ${loadavg()[0].toFixed(1)} |`,
  );
}
console.log(
  '| date (UTC) | EHR | flat: ingest + phenome | OMOP: ingest + phenome | ratio | case pairs flat / OMOP | machine |',
);
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\nOMOP notes (last run):\n${lastNotes.join('\n')}`);
await rm(root, { recursive: true, force: true });
