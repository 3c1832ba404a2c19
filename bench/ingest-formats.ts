/**
 * Benchmark: `.bed`, `.pgen` and BGEN 8-bit → release (`biobank release add`), against PLINK 2's
 * own imports in the same run: `plink2 --vcf … --make-pgen` (the target for `.bed` and `.pgen` is
 * ≤ 0.5× of it) and `plink2 --bgen … ref-first --make-pgen` (the target for BGEN is ≤ 1×).
 * Wall time, CPU and peak RSS of each (GNU time -v), as Markdown rows for BENCHMARKS.md.
 *
 *   node --import tsx bench/ingest-formats.ts [--work dir] [--persons N --variants N] [--shards N] [--only bed,pgen,bgen]
 *
 * The input files are made once from the bench VCF (10,000 × 100,000, `biobank synth`, shared
 * with bench/ingest.ts under <work>/release) by plink2 and reused.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchVcf, du, loadavg, type Timed, timed } from './measure.js';

const { values } = parseArgs({
  options: {
    persons: { type: 'string', default: '10000' },
    variants: { type: 'string', default: '100000' },
    work: { type: 'string', default: resolve('.biobank', 'bench-ingest') },
    shards: { type: 'string', default: String(Math.max(2, cpus().length)) },
    only: { type: 'string', default: 'bed,pgen,bgen' },
  },
});

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'biobank.mjs');
const work = resolve(values.work);
const rel = join(work, 'release');
const fmt = join(work, 'formats');
mkdirSync(fmt, { recursive: true });

const vcf = benchVcf(bin, rel, values.persons!, values.variants!);

function plink2(args: string[]): Timed {
  const t = timed('plink2', [...args, '--silent']);
  if (t.code !== 0) throw new Error(`plink2 ${args.join(' ')} failed:\n${t.stderr.slice(-2000)}`);
  return t;
}

// The inputs, made once.
if (!existsSync(join(fmt, 'g.bed'))) plink2(['--vcf', vcf, '--make-bed', '--out', join(fmt, 'g')]);
if (!existsSync(join(fmt, 'g.pgen'))) plink2(['--vcf', vcf, '--make-pgen', '--out', join(fmt, 'g')]);
if (!existsSync(join(fmt, 'g.bgen')))
  plink2(['--vcf', vcf, '--export', 'bgen-1.2', 'bits=8', 'ref-first', '--out', join(fmt, 'g')]);
const samples = readFileSync(join(fmt, 'g.fam'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => l.split(/\s+/)[1]);
writeFileSync(
  join(fmt, 'persons.tsv'),
  `person_id\tsex\tbirth_year\n${samples.map((s) => `${s}\tU\t1970`).join('\n')}\n`,
);
writeFileSync(join(fmt, 'conditions.csv'), 'person_id,code,vocabulary,date\n');

function releaseAdd(file: string): Timed {
  const manifest = join(fmt, `release-${file.replace('.', '-')}.json`);
  writeFileSync(
    manifest,
    JSON.stringify({
      releaseId: `bench-${file.replace('.', '-')}`,
      genotypes: [file],
      persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
      conditions: { path: 'conditions.csv', format: 'csv', idColumn: 'person_id' },
    }),
  );
  const dataDir = join(work, `data-${file.replace('.', '-')}`);
  rmSync(dataDir, { recursive: true, force: true });
  const t = timed('node', [bin, 'release', 'add', manifest, '--in-process', '--shards', values.shards!], {
    ...process.env,
    BIOBANK_DATA_DIR: dataDir,
  });
  if (t.code !== 0) throw new Error(`release add ${file} failed:\n${t.stderr.slice(-3000)}`);
  return t;
}

const fmtT = (t: Timed) =>
  `${t.wallS.toFixed(1)} s / ${t.cpuS.toFixed(1)} s / ${(t.peakRssMiB / 1024).toFixed(2)} GiB`;
const only = new Set(values.only!.split(','));
const rows: string[] = [];
const loadBefore = loadavg();
const out = join(work, 'plink-out');
// Baselines, in this run.
const fromVcf = plink2(['--vcf', vcf, '--make-pgen', '--out', out]);
for (const [kind, file] of [
  ['bed', 'g.bed'],
  ['pgen', 'g.pgen'],
  ['bgen', 'g.bgen'],
] as const) {
  if (!only.has(kind)) continue;
  const base =
    kind === 'bgen'
      ? {
          name: 'plink2 --bgen … ref-first --make-pgen',
          t: plink2([
            '--bgen',
            join(fmt, 'g.bgen'),
            'ref-first',
            '--sample',
            join(fmt, 'g.sample'),
            '--make-pgen',
            '--out',
            out,
          ]),
        }
      : { name: 'plink2 --vcf … --make-pgen', t: fromVcf };
  execFileSync('cat', [join(fmt, file)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const ours = releaseAdd(file);
  rows.push(
    `| ${new Date().toISOString().slice(0, 16).replace('T', ' ')} | ${samples.length} × ${file} (${du(join(fmt, file)).toFixed(0)} MiB) | ${base.name}: ${fmtT(base.t)} | ${fmtT(ours)} | ${(ours.wallS / base.t.wallS).toFixed(2)}× / ${(ours.cpuS / base.t.cpuS).toFixed(2)}× | ${cpus().length} CPUs, load ${loadBefore} → ${loadavg()} |`,
  );
}
console.log(
  '| date (UTC) | input | baseline (same run) wall / CPU / peak RSS | biobank release add wall / CPU / peak RSS | ratio wall / CPU | machine |',
);
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
