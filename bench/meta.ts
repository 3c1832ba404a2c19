/**
 * Benchmark: a federated meta-analysis of five gzipped GWAS-SSF inputs of 1,000,000 variants
 * each (issue 15 target: ≤ 60 s and ≤ 2 GiB on 2 cores), through the whole activity path of the
 * `metaAnalysis` workflow without a server: read + validate + normalise every input
 * (`prepareMeta`), join + align + meta-analyse per chromosome + write Parquet
 * (`analyseMetaInputs`), lead loci (`metaLoci`), and the recorded tables (`recordMeta`).
 * Wall time and peak RSS of that process come from GNU time -v (bench/measure.ts); each phase's
 * time is printed by the child.
 *
 *   node --import tsx bench/meta.ts [--work dir] [--variants 1000000] [--inputs 5] [--threads 2]
 *
 * The inputs are generated once (seeded) under <work>/inputs: a universe of 1.2 × variants SNPs
 * over 22 chromosomes, each input holding ~83 % of it (overlapping, not identical), 5 % of its
 * entries written with the alleles swapped, 3 % of the SNPs strand-ambiguous (A/T, C/G; a third
 * of them at EAF near 0.5, so dropped), null effects plus 30 planted loci.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { loadavg, timed } from './measure.js';

const { values } = parseArgs({
  options: {
    work: { type: 'string', default: resolve('.biobank', 'bench-meta') },
    variants: { type: 'string', default: '1000000' },
    inputs: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    child: { type: 'boolean', default: false },
  },
});
const work = resolve(values.work!);
const M = Number(values.variants);
const K = Number(values.inputs);
const inputsDir = join(work, `inputs-${K}x${M}`);

/** mulberry32, as stats/random.ts (kept here so the generator is self-contained). */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}

/** Two-sided normal p of z (Abramowitz–Stegun 7.1.26 is enough for generated files). */
function pOf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const y = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.max(y * Math.exp(-x * x), 1e-300);
}

async function generate(): Promise<string[]> {
  mkdirSync(inputsDir, { recursive: true });
  const files = Array.from({ length: K }, (_, i) => join(inputsDir, `site${i + 1}.tsv.gz`));
  if (files.every(existsSync)) return files;
  console.error(`generating ${K} × ${M} variants into ${inputsDir} …`);
  const U = Math.round(M * 1.2);
  const { next, normal } = rng(15);
  const pairs = ['AG', 'GA', 'CT', 'TC', 'AC', 'CA', 'GT', 'TG'];
  const chromLen = Array.from({ length: 22 }, (_, c) => 250 - 9 * c);
  const total = chromLen.reduce((a, b) => a + b, 0);
  const chrom = new Uint8Array(U);
  const pos = new Int32Array(U);
  const eff = new Array<string>(U);
  const oth = new Array<string>(U);
  const af = new Float64Array(U);
  const mu = new Float64Array(U);
  let u = 0;
  for (let c = 0; c < 22; c++) {
    const n = c === 21 ? U - u : Math.round((U * chromLen[c]) / total);
    const step = Math.floor((chromLen[c] * 1e6) / n);
    for (let j = 0; j < n; j++, u++) {
      chrom[u] = c + 1;
      pos[u] = 1 + j * step + Math.floor(next() * step);
      const r = next();
      const pair = r < 0.015 ? 'AT' : r < 0.03 ? 'CG' : pairs[Math.floor(next() * pairs.length)];
      eff[u] = pair[0];
      oth[u] = pair[1];
      af[u] =
        pair === 'AT' || pair === 'CG'
          ? next() < 0.33
            ? 0.45 + 0.1 * next()
            : 0.05 + 0.3 * next()
          : 0.02 + 0.96 * next();
      mu[u] = 0;
    }
  }
  for (let h = 0; h < 30; h++) {
    const at = Math.floor(next() * U);
    for (let d = -20; d <= 20; d++) if (at + d >= 0 && at + d < U) mu[at + d] = 0.08 * (1 - Math.abs(d) / 25);
  }
  for (let i = 0; i < K; i++) {
    const n = 20_000 + 10_000 * i;
    const out = createGzip();
    const done = new Promise<void>((res, rej) => {
      const ws = createWriteStream(files[i]);
      out.pipe(ws);
      ws.on('finish', () => res());
      ws.on('error', rej);
    });
    out.write(
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value\tn\n',
    );
    let buf: string[] = [];
    for (let v = 0; v < U; v++) {
      if (next() > 0.83) continue;
      const f = Math.min(0.99, Math.max(0.01, af[v] + 0.01 * normal()));
      const se = 1 / Math.sqrt(2 * n * f * (1 - f));
      let beta = mu[v] + se * normal();
      let e = eff[v];
      let o = oth[v];
      let ef = f;
      if (next() < 0.05) {
        [e, o] = [o, e];
        beta = -beta;
        ef = 1 - f;
      }
      buf.push(
        `${chrom[v]}\t${pos[v]}\t${e}\t${o}\t${beta.toPrecision(6)}\t${se.toPrecision(6)}\t${ef.toFixed(4)}\t${pOf(beta / se).toPrecision(4)}\t${n}`,
      );
      if (buf.length === 50_000) {
        if (!out.write(`${buf.join('\n')}\n`)) await new Promise((r) => out.once('drain', r));
        buf = [];
      }
    }
    out.end(buf.length ? `${buf.join('\n')}\n` : '');
    await done;
  }
  return files;
}

async function child(): Promise<void> {
  const { createMetaActivities } = await import('../activities/meta.js');
  const { loadConfig } = await import('../temporal.config.js');
  const { parseMetaSpec } = await import('../meta/spec.js');
  const data = join(work, 'data');
  rmSync(data, { recursive: true, force: true });
  const config = loadConfig({
    BIOBANK_DATA_DIR: data,
    BIOBANK_DUCKDB_THREADS: values.threads!,
    BIOBANK_DUCKDB_MEMORY: '1GB',
  });
  const spec = parseMetaSpec({
    metaId: 'bench-meta',
    baseDir: inputsDir,
    inputs: Array.from({ length: K }, (_, i) => ({ path: `site${i + 1}.tsv.gz`, label: `site ${i + 1}` })),
  });
  const acts = createMetaActivities(config);
  const t: Record<string, number> = {};
  let t0 = Date.now();
  const lap = (name: string) => {
    t[name] = (Date.now() - t0) / 1000;
    t0 = Date.now();
  };
  const prepared = await acts.prepareMeta({ spec, workflowId: 'bench' });
  lap('prepareMeta');
  const core = await acts.analyseMetaInputs({ run: prepared.run, spec, inputs: prepared.inputs });
  lap('analyseMetaInputs');
  await acts.metaLoci({ run: prepared.run, spec, core });
  lap('metaLoci');
  const result = await acts.recordMeta({ run: prepared.run, spec, inputs: prepared.inputs, core });
  lap('recordMeta');
  // stderr: the parent reads it back from GNU time's capture
  console.error(
    `RESULT ${JSON.stringify({
      phases: t,
      nVariants: core.nVariants,
      nAnalysed: core.nAnalysed,
      byK: core.byK,
      alignDropped: core.alignDropped,
      lambdaGc: core.lambdaGc,
      leadLoci: result.leadLoci.length,
      rowsKept: prepared.inputs.map((x) => x.rowsKept),
    })}`,
  );
}

if (values.child) {
  await child();
} else {
  const files = await generate();
  const size = execFileSync('du', ['-cb', ...files], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop();
  console.error(`inputs: ${size}; load ${loadavg()}`);
  const r = timed('node', [
    '--import',
    'tsx',
    join(import.meta.dirname, 'meta.ts'),
    '--child',
    '--work',
    work,
    '--variants',
    String(M),
    '--inputs',
    String(K),
    '--threads',
    values.threads!,
  ]);
  if (r.code !== 0) throw new Error(`child failed:\n${r.stderr.slice(-3000)}`);
  const detail = /^RESULT (.*)$/m.exec(r.stderr)?.[1];
  if (detail) console.log(JSON.stringify(JSON.parse(detail), null, 1));
  console.log(
    `| ${K} × ${M.toLocaleString('en')} GWAS-SSF (gz) | ${r.wallS.toFixed(1)} s | ${r.cpuS.toFixed(1)} s | ${r.peakRssMiB.toFixed(0)} MiB | ${values.threads} | ${loadavg()} |`,
  );
}
