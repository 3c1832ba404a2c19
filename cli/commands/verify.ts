import { gwasFilesOnDisk } from '../../engine/results.js';
import { verifyRunFiles } from '../../engine/run-files.js';
import { RUN_ID_PATTERN } from '../../schemas/results.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check every recorded result file against the catalog (size and sha256)',
  usage: `
Usage: biobank verify [--run ID] [--json]

Checks each result file a run recorded in the catalog (run_files: path, size, sha256) and lists
the files that are missing, changed since they were recorded, or present under a run's gwas/
folder without being recorded (a stray or half-written file; the results views never read it).
Exit code 0 when everything matches, 1 when anything does not.`,
  examples: ['biobank verify', 'biobank verify --run ldl-gwas-13ad6f1b16e287a4 --json'],
  async run(argv) {
    const { values } = parse(argv, { run: { type: 'string' }, json: { type: 'boolean', default: false } });
    if (values.run !== undefined && !RUN_ID_PATTERN.test(values.run))
      throw new CliError(`'${values.run}' is not a run id`, EXIT.usage);
    const config = loadConfig();
    const report = await verifyRunFiles(
      config,
      (runId) => gwasFilesOnDisk(config.dataDir, runId),
      values.run,
    );
    const bad = report.missing.length + report.changed.length + report.unrecorded.length;
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      for (const f of report.missing) console.log(`missing    ${f.path} (run ${f.run_id})`);
      for (const f of report.changed)
        console.log(
          `changed    ${f.path} (run ${f.run_id}): ${f.actualSize} bytes, sha256 ${f.actualSha256.slice(0, 12)}… recorded ${f.size} bytes, ${f.sha256.slice(0, 12)}…`,
        );
      for (const f of report.unrecorded) console.log(`unrecorded ${f}`);
      console.log(
        bad === 0
          ? `ok: ${report.checked} recorded files match the catalog`
          : `${bad} problem(s): ${report.missing.length} missing, ${report.changed.length} changed, ${report.unrecorded.length} unrecorded (of ${report.checked} recorded)`,
      );
    }
    return bad === 0 ? EXIT.ok : EXIT.failed;
  },
};
