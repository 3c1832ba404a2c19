/**
 * Finding the Temporal CLI, which doubles as the development server. No npm or Debian
 * package ships it, so `scripts/ensure-temporal.sh` builds the official CLI with Go into
 * `.tools/bin`. Order: $TEMPORAL_CLI_PATH, a `temporal` on PATH, then `.tools/bin/temporal`.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root folder (the one holding package.json), found from this module's own place
 * so it is the same whether the engine runs from its TypeScript sources or from the JavaScript
 * build in `dist/` (scripts/build.mjs).
 */
export const PROJECT_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(from, '..');
  }
}
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export const INSTALL_HINT =
  `install the Temporal CLI: run \`bash scripts/ensure-temporal.sh\` (builds ` +
  `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION} with Go into .tools/bin), ` +
  'or put a `temporal` binary on PATH, or set TEMPORAL_CLI_PATH';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Absolute path of the Temporal CLI, or undefined if none is installed. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI_PATH && isExecutable(env.TEMPORAL_CLI_PATH)) return resolve(env.TEMPORAL_CLI_PATH);
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'temporal'))) return join(dir, 'temporal');
  }
  const local = join(PROJECT_ROOT, '.tools', 'bin', 'temporal');
  return isExecutable(local) ? local : undefined;
}

/** Like `findTemporalCli`, but throws with install instructions when it is missing. */
export function requireTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const path = findTemporalCli(env);
  if (!path) throw new Error(`the Temporal CLI was not found; ${INSTALL_HINT}`);
  return path;
}
