#!/usr/bin/env node
// Launcher for the `biobank` command: raises the libuv thread pool above the activity
// concurrency (DuckDB and file I/O use it), then runs the TypeScript CLI through tsx.
import { availableParallelism } from 'node:os';

const activities = Number(process.env.BIOBANK_MAX_ACTIVITIES) || 2;
const wanted = Math.max(8, activities * 2 + 4, availableParallelism() + 4);
if (!(Number(process.env.UV_THREADPOOL_SIZE) >= wanted)) process.env.UV_THREADPOOL_SIZE = String(wanted);

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
// A command has finished. If a stray handle (a native library's thread, a socket a library
// forgot to close) would keep the process alive, exit anyway once output has had time to flush.
setTimeout(() => process.exit(), 3000).unref();
