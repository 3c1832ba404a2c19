/**
 * The Temporal development server (`temporal server start-dev`), with its state in a SQLite
 * file under the data folder so workflow histories survive restarts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineConfig } from '../temporal.config.js';
import { isServerReachable } from './temporal.js';
import { requireTemporalCli } from './temporal-bin.js';

export function devServerDbPath(config: EngineConfig): string {
  return join(config.dataDir, 'temporal', 'dev.db');
}

export function devServerArgs(
  config: EngineConfig,
  opts: { headless?: boolean; dynamicConfig?: Record<string, string | number> } = {},
): string[] {
  const [host, port] = splitAddress(config.temporal.address);
  return [
    'server',
    'start-dev',
    '--db-filename',
    devServerDbPath(config),
    '--ip',
    host,
    '--port',
    port,
    '--namespace',
    config.temporal.namespace,
    '--log-level',
    'warn',
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(config.temporal.uiPort)]),
    ...Object.entries(opts.dynamicConfig ?? {}).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]),
  ];
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}

export interface RunningDevServer {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Start the dev server as a child process and wait until it answers. */
export async function startDevServer(
  config: EngineConfig,
  opts: {
    headless?: boolean;
    stdio?: 'inherit' | 'ignore';
    timeoutMs?: number;
    /** Dynamic config values (e.g. lowered history limits for tests). */
    dynamicConfig?: Record<string, string | number>;
  } = {},
): Promise<RunningDevServer> {
  await mkdir(join(config.dataDir, 'temporal'), { recursive: true });
  const child = spawn(requireTemporalCli(), devServerArgs(config, opts), {
    stdio: opts.stdio ?? 'ignore',
  });
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  while (!(await isServerReachable(config.temporal.address, 1000))) {
    if (exited !== undefined) throw new Error(`temporal server start-dev exited early with code ${exited}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`temporal dev server did not answer at ${config.temporal.address} in time`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
