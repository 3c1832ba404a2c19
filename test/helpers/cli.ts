/** Running the `biobank` command as a user does: a new Node process, its exit code and output. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export const BIOBANK_BIN = resolve(import.meta.dirname, '../../bin/biobank.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `biobank …args` with `env` added to this process's environment; never rejects. */
export function runBiobank(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return promisify(execFile)('node', [BIOBANK_BIN, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: CliResult) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}
