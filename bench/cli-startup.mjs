// CLI start-up: wall time of `biobank --help` and `biobank query "SELECT 1"` (the built CLI in
// dist/), against the same commands run from the TypeScript sources through tsx, in one run.
//   node bench/cli-startup.mjs [--runs N]
// Prints the median and the range of N runs each (default 10) and the machine's load average.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;
const dataDir = mkdtempSync(join(tmpdir(), 'biobank-bench-cli-'));
const env = { ...process.env, BIOBANK_DATA_DIR: dataDir };
execFileSync('node', ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
// An engine database to query.
execFileSync(
  'node',
  [
    '-e',
    `const { DuckDBInstance } = require('@duckdb/node-api');
  (async () => { const db = await DuckDBInstance.create(${JSON.stringify(join(dataDir, 'engine.duckdb'))});
  const c = await db.connect(); await c.run('CREATE TABLE t (x INTEGER)'); c.closeSync(); })();`,
  ],
  { cwd: root },
);

const fromSources = `const { register } = await import('tsx/esm/api'); register();
  const { main } = await import(${JSON.stringify(join(root, 'cli', 'main.ts'))});
  process.exitCode = await main(process.argv.slice(1));`;
const cases = [
  ['biobank --help', ['bin/biobank.mjs', '--help']],
  ['biobank query "SELECT 1"', ['bin/biobank.mjs', 'query', 'SELECT 1']],
  ['from sources (tsx): --help', ['--input-type=module', '-e', fromSources, '--', '--help']],
  ['from sources (tsx): query', ['--input-type=module', '-e', fromSources, '--', 'query', 'SELECT 1']],
];
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${runs} runs each`,
);
for (const [label, args] of cases) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('node', args, { cwd: root, env, encoding: 'utf8' });
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (r.status !== 0) throw new Error(`${label} failed: ${r.stderr}`);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `${label.padEnd(30)} median ${median.toFixed(3)} s  (${times[0].toFixed(3)}–${times.at(-1).toFixed(3)})`,
  );
}
rmSync(dataDir, { recursive: true, force: true });
