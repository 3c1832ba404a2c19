// Build the engine's TypeScript into plain JavaScript under dist/, one file per module (no
// bundling: imports stay as written, so dist/ mirrors the source tree), so the `biobank` command
// starts without compiling TypeScript (bin/biobank.mjs). Idempotent: nothing is done when
// dist/.sources matches the sources' fingerprint. Writes a new dist.tmp-* folder and renames it
// into place, so a concurrent build or a running command never sees half a build.
//   node scripts/build.mjs           build if stale
//   node scripts/build.mjs --check   exit 0 if fresh, 1 if stale (no build)
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Folders (and files) of the engine that the CLI and the worker import. */
export const SOURCES = [
  'activities',
  'burden',
  'cli',
  'engine',
  'export',
  'gwas',
  'ingest',
  'meta',
  'phenotype',
  'phewas',
  'report',
  'schemas',
  'stats',
  'study',
  'synth',
  'viewer',
  'workflows',
  'temporal.config.ts',
  'worker.ts',
];

function listTs(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) listTs(join(path, name), out);
  } else if (path.endsWith('.ts') && !path.endsWith('.d.ts')) {
    out.push({ path, size: st.size, mtime: st.mtimeMs });
  }
  return out;
}

/** The TypeScript sources and a fingerprint of their paths, sizes and modification times. */
export function sources(root = ROOT) {
  const files = [];
  for (const s of SOURCES) if (existsSync(join(root, s))) listTs(join(root, s), files);
  const hash = createHash('sha256');
  for (const f of files) hash.update(`${relative(root, f.path)}\t${f.size}\t${f.mtime}\n`);
  return { files: files.map((f) => f.path), fingerprint: hash.digest('hex') };
}

/** True when dist/ was built from the current sources. */
export function isFresh(root = ROOT) {
  try {
    return readFileSync(join(root, 'dist', '.sources'), 'utf8') === sources(root).fingerprint;
  } catch {
    return false;
  }
}

export async function build(root = ROOT) {
  const { files, fingerprint } = sources(root);
  if (isFresh(root)) return false;
  const { build: esbuild } = await import('esbuild');
  const tmp = join(root, `dist.tmp-${process.pid}-${Date.now()}`);
  try {
    await esbuild({
      entryPoints: files,
      outdir: tmp,
      outbase: root,
      bundle: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      logLevel: 'error',
    });
    writeFileSync(join(tmp, '.sources'), fingerprint);
    const old = join(root, `dist.old-${process.pid}-${Date.now()}`);
    if (existsSync(join(root, 'dist'))) renameSync(join(root, 'dist'), old);
    try {
      renameSync(tmp, join(root, 'dist'));
    } catch (err) {
      // Another build won the rename: use it.
      if (!existsSync(join(root, 'dist'))) throw err;
    }
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--check')) process.exit(isFresh() ? 0 : 1);
  const t0 = Date.now();
  const built = await build();
  if (built) console.error(`build: dist/ from ${sources().files.length} modules in ${Date.now() - t0} ms`);
}
