/**
 * `biobank worker` as a separate OS process, for fault tests: it can be killed with SIGKILL
 * mid-activity and started again, and two of them can serve one task queue.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve(__dirname, '../../bin/biobank.mjs');

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the worker wrote to stderr so far. */
  log(): string;
  /** SIGKILL: no graceful shutdown, no heartbeat, no cleanup. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for a graceful exit. */
  stop(): Promise<number | null>;
}

export async function startWorkerProcess(
  env: Record<string, string>,
  identity: string,
): Promise<WorkerProcess> {
  let log = '';
  const child = spawn('node', [BIN, 'worker', '--identity', identity], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    log += d.toString();
  });
  child.stderr?.on('data', (d) => {
    log += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`worker ${identity} did not start:\n${log}`)), 60_000);
    const check = setInterval(() => {
      if (log.includes('polling')) {
        clearInterval(check);
        clearTimeout(timer);
        ok();
      }
      if (child.exitCode !== null) {
        clearInterval(check);
        clearTimeout(timer);
        fail(new Error(`worker ${identity} exited with ${child.exitCode}:\n${log}`));
      }
    }, 100);
  });
  return {
    child,
    log: () => log,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
