/**
 * Benchmark: VCF.gz → Parquet (`biobank release add`) against PLINK 2's VCF import
 * (`plink2 --vcf … --make-pgen`) on the same file, in the same run. Reports wall time and
 * peak RSS of each (GNU time -v), the ratio, and the machine load, as a Markdown table row
 * for BENCHMARKS.md.
 *
 * Usage:
 *   npx tsx bench/ingest.ts [--vcf file.vcf.gz] [--persons N --variants N] [--work dir]
 *
 * Without --vcf it makes a release with `biobank synth --size bench` (10,000 × 100,000)
 * once, in <work>/release (default ./.biobank/bench-ingest), and reuses it afterwards.
 * Our side ingests a manifest with that VCF, persons listing its samples and an empty
 * conditions table, so the time is the VCF path (plus the fingerprint's sha256 of the
 * file, which every release add pays).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchVcf, du, loadavg, timed } from './measure.js';

const { values } = parseArgs({
  options: {
    vcf: { type: 'string' },
    persons: { type: 'string', default: '10000' },
    variants: { type: 'string', default: '100000' },
    work: { type: 'string', default: resolve('.biobank', 'bench-ingest') },
    shards: { type: 'string', default: String(Math.max(2, cpus().length)) },
    layout: { type: 'string' },
    'layout-variants': { type: 'string', default: '4000' },
  },
});

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'biobank.mjs');
const work = resolve(values.work);
mkdirSync(work, { recursive: true });

/**
 * `--layout <release data folder>`: measure genotype layouts on the first `--layout-variants`
 * variants of an ingested release: the wide BLOB row per variant (as written, Snappy,
 * ROW_GROUP_SIZE 256), the same with ZSTD, the same with ROW_GROUP_SIZE 8192, and a long
 * sparse table (variant_idx, sample_idx, gt) of the non-zero calls. For each: bytes on
 * disk, a full per-variant scan computing AC in JavaScript, and 200 point look-ups.
 */
async function layoutBench(dataPath: string, nVariants: number): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:', { threads: '2', preserve_insertion_order: 'false' });
  const conn = await db.connect();
  const dir = join(work, 'layout');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const src = `read_parquet('${join(dataPath, 'genotypes', '*.parquet')}')`;
  const subset = `SELECT variant_idx, gt FROM ${src} WHERE variant_idx < ${nVariants}`;
  const files: Record<string, string> = {
    'wide BLOB, Snappy, RG 256': join(dir, 'wide-snappy-256.parquet'),
    'wide BLOB, ZSTD, RG 256 (chosen)': join(dir, 'wide-zstd-256.parquet'),
    'wide BLOB, ZSTD, RG 64': join(dir, 'wide-zstd-64.parquet'),
    'wide BLOB, Snappy, RG 8192': join(dir, 'wide-snappy-8192.parquet'),
  };
  await conn.run(
    `COPY (${subset} ORDER BY variant_idx) TO '${files['wide BLOB, Snappy, RG 256']}' (FORMAT parquet, ROW_GROUP_SIZE 256)`,
  );
  await conn.run(
    `COPY (${subset} ORDER BY variant_idx) TO '${files['wide BLOB, ZSTD, RG 256 (chosen)']}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 256)`,
  );
  await conn.run(
    `COPY (${subset} ORDER BY variant_idx) TO '${files['wide BLOB, ZSTD, RG 64']}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 64)`,
  );
  await conn.run(
    `COPY (${subset} ORDER BY variant_idx) TO '${files['wide BLOB, Snappy, RG 8192']}' (FORMAT parquet, ROW_GROUP_SIZE 8192)`,
  );
  // Long sparse layout: one row per non-zero call (missing = 255 kept).
  await conn.run('CREATE TABLE long_gt (variant_idx BIGINT, sample_idx INTEGER, gt UTINYINT)');
  const app = await conn.createAppender('long_gt');
  const rows = await conn.runAndReadAll(`${subset} ORDER BY variant_idx`);
  for (const [v, gt] of rows.getRows() as Array<[bigint, { bytes: Uint8Array }]>) {
    const b = gt.bytes;
    for (let i = 0; i < b.length; i++)
      if (b[i] !== 0) {
        app.appendBigInt(v);
        app.appendInteger(i);
        app.appendUTinyInt(b[i]);
        app.endRow();
      }
  }
  app.closeSync();
  const longFile = join(dir, 'long-sparse.parquet');
  await conn.run(
    `COPY (SELECT * FROM long_gt ORDER BY variant_idx, sample_idx) TO '${longFile}' (FORMAT parquet, ROW_GROUP_SIZE 122880)`,
  );
  await conn.run('DROP TABLE long_gt');

  const time = async (fn: () => Promise<void>) => {
    const t0 = performance.now();
    await fn();
    return (performance.now() - t0) / 1000;
  };
  const picks = Array.from({ length: 200 }, (_, i) => (i * 7919) % nVariants);
  console.log(`
Genotype layouts, first ${nVariants} variants of ${dataPath}:`);
  console.log('| layout | MiB on disk | full scan → AC per variant (JS) | 200 point look-ups |');
  console.log('|---|---|---|---|');
  for (const [name, file] of Object.entries(files)) {
    const scan = await time(async () => {
      const res = await conn.stream(`SELECT variant_idx, gt FROM '${file}'`);
      let total = 0;
      for (;;) {
        const chunk = await res.fetchChunk();
        if (!chunk || chunk.rowCount === 0) break;
        for (const [, gt] of chunk.getRows() as Array<[bigint, { bytes: Uint8Array }]>) {
          const b = gt.bytes;
          for (let i = 0; i < b.length; i++) if (b[i] !== 255) total += b[i];
        }
      }
      if (total < 0) throw new Error('unreachable');
    });
    const look = await time(async () => {
      for (const v of picks) await conn.runAndReadAll(`SELECT gt FROM '${file}' WHERE variant_idx = ${v}`);
    });
    console.log(`| ${name} | ${du(file).toFixed(1)} | ${scan.toFixed(2)} s | ${look.toFixed(2)} s |`);
  }
  const scanLong = await time(async () => {
    const res = await conn.stream(`SELECT variant_idx, sample_idx, gt FROM '${longFile}'`);
    const ac = new Float64Array(nVariants);
    for (;;) {
      const chunk = await res.fetchChunk();
      if (!chunk || chunk.rowCount === 0) break;
      for (const [v, , g] of chunk.getRows() as Array<[bigint, number, number]>)
        if (g !== 255) ac[Number(v)] += g;
    }
  });
  const lookLong = await time(async () => {
    for (const v of picks)
      await conn.runAndReadAll(`SELECT sample_idx, gt FROM '${longFile}' WHERE variant_idx = ${v}`);
  });
  console.log(
    `| long sparse (variant_idx, sample_idx, gt), non-zero calls | ${du(longFile).toFixed(1)} | ${scanLong.toFixed(2)} s | ${lookLong.toFixed(2)} s |`,
  );
  conn.closeSync();
}

if (values.layout) {
  await layoutBench(resolve(values.layout), Number(values['layout-variants']));
  process.exit(0);
}

let vcf = values.vcf ? resolve(values.vcf) : '';
if (!vcf) {
  const rel = join(work, 'release');
  vcf = benchVcf(bin, rel, values.persons!, values.variants!);
}

// A minimal release around the VCF: persons = its samples, no conditions.
const samples = execFileSync('bcftools', ['query', '-l', vcf], { encoding: 'utf8', maxBuffer: 64 << 20 })
  .trim()
  .split('\n');
const relDir = join(work, 'vcf-only');
mkdirSync(relDir, { recursive: true });
const link = join(relDir, basename(vcf));
rmSync(link, { force: true });
execFileSync('ln', ['-s', vcf, link]);
writeFileSync(
  join(relDir, 'persons.tsv'),
  `person_id\tsex\tbirth_year\n${samples.map((s) => `${s}\tU\t1970`).join('\n')}\n`,
);
writeFileSync(join(relDir, 'conditions.csv'), 'person_id,code,vocabulary,date\n');
writeFileSync(
  join(relDir, 'release.json'),
  JSON.stringify({
    releaseId: 'bench-ingest',
    genotypes: [basename(vcf)],
    persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
    conditions: { path: 'conditions.csv', format: 'csv', idColumn: 'person_id' },
  }),
);

const loadBefore = loadavg();
// PLINK 2 first (its page cache warm-up benefits us equally: the file is read once before).
execFileSync('cat', [vcf], { stdio: ['ignore', 'ignore', 'inherit'] });
const plinkOut = join(work, 'plink');
const plink = timed('plink2', ['--vcf', vcf, '--make-pgen', '--out', plinkOut, '--silent']);
if (plink.code !== 0) throw new Error(`plink2 failed:\n${plink.stderr.slice(-2000)}`);

const dataDir = join(work, 'data');
rmSync(dataDir, { recursive: true, force: true });
const ours = timed(
  'node',
  [bin, 'release', 'add', join(relDir, 'release.json'), '--in-process', '--shards', values.shards!],
  {
    ...process.env,
    BIOBANK_DATA_DIR: dataDir,
  },
);
if (ours.code !== 0) throw new Error(`biobank release add failed:\n${ours.stderr.slice(-3000)}`);
const loadAfter = loadavg();

const pgenMiB = du(`${plinkOut}.pgen`);
const oursMiB = du(dataDir);
const row = [
  new Date().toISOString().slice(0, 16).replace('T', ' '),
  `${samples.length} × ${basename(vcf)}`,
  `${plink.wallS.toFixed(1)} s / ${plink.cpuS.toFixed(1)} s / ${(plink.peakRssMiB / 1024).toFixed(2)} GiB`,
  `${ours.wallS.toFixed(1)} s / ${ours.cpuS.toFixed(1)} s / ${(ours.peakRssMiB / 1024).toFixed(2)} GiB`,
  `${(ours.wallS / plink.wallS).toFixed(2)}× / ${(ours.cpuS / plink.cpuS).toFixed(2)}×`,
  `${pgenMiB.toFixed(0)} MiB / ${oursMiB.toFixed(0)} MiB`,
  `${cpus().length} CPUs, load ${loadBefore} → ${loadAfter}`,
];
console.log(
  '| date (UTC) | file | plink2 --make-pgen wall / CPU / peak RSS | biobank release add wall / CPU / peak RSS | ratio wall / CPU | .pgen / our data folder | machine |',
);
console.log('|---|---|---|---|---|---|---|');
console.log(`| ${row.join(' | ')} |`);
