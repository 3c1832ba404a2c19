import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { devServerArgs, devServerDbPath } from '../../engine/dev-server.js';
import { requireTemporalCli } from '../../engine/temporal-bin.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const devServerCommand: Command = {
  name: 'dev-server',
  summary: 'run a local Temporal server whose state persists under the data folder',
  usage: `
Usage: biobank dev-server [--headless]

Runs \`temporal server start-dev --db-filename <dataDir>/temporal/dev.db\` on TEMPORAL_ADDRESS
(default 127.0.0.1:7233), with the web UI on BIOBANK_UI_PORT (default 8233). Workflow
histories are kept in the SQLite file, so stopping and restarting the server keeps them.

Options:
  --headless   do not serve the web UI`,
  examples: ['biobank dev-server', 'BIOBANK_DATA_DIR=/scratch/biobank biobank dev-server --headless'],
  async run(argv) {
    const { values } = parse(argv, { headless: { type: 'boolean', default: false } });
    const config = loadConfig();
    const cli = requireTemporalCli();
    await mkdir(dirname(devServerDbPath(config)), { recursive: true });
    const args = devServerArgs(config, { headless: values.headless });
    console.error(`biobank: ${cli} ${args.join(' ')}`);
    const child = spawn(cli, args, { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(signal ? EXIT.interrupted : (c ?? EXIT.failed)));
    });
    if (code !== 0 && code !== EXIT.interrupted) {
      throw new CliError(
        `the Temporal dev server exited with code ${code}`,
        EXIT.failed,
        'is the port already in use?',
      );
    }
    return code === EXIT.interrupted ? EXIT.ok : code;
  },
};
