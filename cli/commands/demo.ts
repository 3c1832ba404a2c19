import { withEngineDb } from '../../engine/duckdb.js';
import { sha256Text } from '../../engine/fsutil.js';
import { ensureServices } from '../../engine/services.js';
import { startOrAttach } from '../../engine/temporal.js';
import { loadConfig } from '../../temporal.config.js';
import type { EngineSelfTestResult } from '../../workflows/selftest.js';
import { parse } from '../args.js';
import type { Command } from '../command.js';
import { EXIT } from '../command.js';
import { type Row, render } from '../format.js';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the demo study end to end on the embedded synthetic biobank',
  usage: `
Usage: biobank demo [--seed N]

Brings up a Temporal dev server and a worker if none is reachable, runs the demo through
real workflows and DuckDB, prints a summary read back from the engine database and where
the results are, then stops whatever it started.

Options:
  --seed N   seed of the synthetic data (default 1)`,
  examples: ['biobank demo', 'BIOBANK_DATA_DIR=/tmp/demo biobank demo --seed 7'],
  async run(argv) {
    const { values } = parse(argv, { seed: { type: 'string', default: '1' } });
    const seed = Number(values.seed);
    const config = loadConfig();
    const t0 = Date.now();
    const services = await ensureServices(config);
    try {
      const input = {
        runId: `selftest-${sha256Text(`v1:${seed}:20000`).slice(0, 12)}`,
        nVariants: 20_000,
        seed,
      };
      const { handle, started } = await startOrAttach(services.client, 'engineSelfTest', {
        workflowId: input.runId,
        taskQueue: config.temporal.taskQueue,
        args: [input],
      });
      console.error(`${started ? 'started' : 'already ran'}: workflow ${handle.workflowId}`);
      const result = (await handle.result()) as EngineSelfTestResult;
      const rows = await withEngineDb(
        config,
        async (conn) =>
          (
            await conn.runAndReadAll(
              'SELECT run_id, workflow_id, n_variants, round(mean_af, 4) AS mean_af FROM selftest_runs WHERE run_id = $1',
              [result.runId],
            )
          ).getRowObjectsJson() as Row[],
        { readOnly: true },
      );
      console.log('Engine self-test (read back from DuckDB):');
      console.log(render(['run_id', 'workflow_id', 'n_variants', 'mean_af'], rows, 'table'));
      console.log(`\nParquet:  ${result.parquetPath}`);
      console.log(`Database: ${config.database}`);
      console.log(`Query it: biobank query "SELECT * FROM selftest_runs"`);
      console.log(`Done in ${((Date.now() - t0) / 1000).toFixed(1)} s.`);
      return EXIT.ok;
    } finally {
      await services.stop();
    }
  },
};
