#!/usr/bin/env node
// Launcher for the `biobank` command: raises the libuv thread pool above the activity
// concurrency (DuckDB and file I/O use it), then runs the CLI from its JavaScript build in dist/
// (scripts/build.mjs, run by `npm run setup`). When the sources changed since the build, it is
// rebuilt first (about half a second, once), so the command never compiles TypeScript as it runs.
import { availableParallelism } from 'node:os';
import { build, isFresh } from '../scripts/build.mjs';

const activities = Number(process.env.BIOBANK_MAX_ACTIVITIES) || 2;
const wanted = Math.max(8, activities * 2 + 4, availableParallelism() + 4);
if (!(Number(process.env.UV_THREADPOOL_SIZE) >= wanted)) process.env.UV_THREADPOOL_SIZE = String(wanted);

let main;
try {
  if (!isFresh()) await build();
  ({ main } = await import('../dist/cli/main.js'));
} catch (err) {
  // No build possible (e.g. esbuild missing): run the sources through tsx, and say so.
  console.error(`note: running from TypeScript sources (${err?.message ?? err}); run 'npm run setup'`);
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
// A command has finished. If a stray handle (a native library's thread, a socket a library
// forgot to close) would keep the process alive, exit anyway once output has had time to flush.
setTimeout(() => process.exit(), 3000).unref();
