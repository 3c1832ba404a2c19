/**
 * Temporal plumbing shared by the CLI, the demo and the tests: connecting, checking that a
 * server is reachable, bundling workflow code once, and building the engine's worker.
 */
import { readdir, readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import type { EngineConfig } from '../temporal.config.js';
import { atomicWriteFile, exists, sha256Text } from './fsutil.js';
import { PROJECT_ROOT } from './temporal-bin.js';

export const WORKFLOWS_PATH = join(PROJECT_ROOT, 'workflows', 'index.ts');

function tcpOpen(address: string, timeoutMs: number): Promise<boolean> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * True if a Temporal frontend answers at `address` within `timeoutMs`: the port accepts a TCP
 * connection and the frontend returns its system info.
 */
export async function isServerReachable(address: string, timeoutMs = 1500): Promise<boolean> {
  if (!(await tcpOpen(address, timeoutMs))) return false;
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close();
  }
}

/** A client for the configured server and namespace. Close `client.connection` when done. */
export async function connectClient(config: EngineConfig): Promise<Client> {
  const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: 5000 });
  return new Client({ connection, namespace: config.temporal.namespace });
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(path)));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out.sort();
}

/**
 * The workflow bundle, built once and cached under `<dataDir>/tmp` by a hash of the code it
 * can import (workflows/, schemas/, engine/errors.ts, stats/ and the lockfile). Worker
 * start-ups after the first skip webpack entirely.
 */
export async function workflowBundle(config: EngineConfig): Promise<{ code: string }> {
  const files = [
    ...(await sourceFiles(join(PROJECT_ROOT, 'workflows'))),
    ...(await sourceFiles(join(PROJECT_ROOT, 'schemas'))),
    join(PROJECT_ROOT, 'engine', 'errors.ts'),
    join(PROJECT_ROOT, 'package-lock.json'),
  ];
  const parts = await Promise.all(files.map(async (f) => `${f}\n${await readFile(f, 'utf8')}`));
  const key = sha256Text(parts.join('\n')).slice(0, 16);
  const cached = join(config.dataDir, 'tmp', `workflow-bundle-${key}.js`);
  if (await exists(cached)) return { code: await readFile(cached, 'utf8') };
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  await atomicWriteFile(cached, code);
  return { code };
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};

let runtimeInstalled = false;

/**
 * Install the Temporal runtime once per process with a quieter logger (BIOBANK_LOG_LEVEL,
 * default WARN) and graceful shutdown on SIGINT/SIGTERM.
 */
export function installRuntime(level: EngineConfig['worker']['logLevel'] = 'WARN'): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: ['SIGINT', 'SIGTERM'] });
  } catch {
    // Already installed by the embedding process (e.g. a test harness): keep theirs.
  }
}

/**
 * Start a workflow whose id comes from its content, or attach to the one that already ran.
 * A second start with the same id returns the existing execution's handle instead of running
 * the work again.
 */
export async function startOrAttach<A extends unknown[]>(
  client: Client,
  workflowType: string,
  options: { workflowId: string; taskQueue: string; args: A },
): Promise<{ handle: ReturnType<Client['workflow']['getHandle']>; started: boolean }> {
  try {
    const handle = await client.workflow.start(workflowType, {
      workflowId: options.workflowId,
      taskQueue: options.taskQueue,
      args: options.args,
      // A completed run attaches (the start is refused as a duplicate); a failed, cancelled,
      // terminated or timed-out one may start again under the same id, as a new attempt.
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return { handle, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { handle: client.workflow.getHandle(options.workflowId), started: false };
    }
    throw err;
  }
}
