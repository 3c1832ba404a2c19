import { writeRunReport } from '../../report/index.js';
import { RUN_ID_PATTERN } from '../../schemas/results.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'write the HTML report of a run (Manhattan, QQ, lead loci, PheWAS, burden, QC, provenance)',
  usage: `
Usage: biobank report <run_id> [--out <folder>] [--no-suppress]

Writes ONE self-contained HTML file (the plotting libraries are inlined, so it opens offline and
can be mailed): <folder>/report.html, by default <dataDir>/runs/<run_id>/report.html. The file
is written to a temp name and renamed, so an interrupted run leaves no half-written report.

Options:
  --out DIR        write DIR/report.html instead (DIR is created if missing)
  --no-suppress    show person counts from 1 to 20 as they are. By default they are shown as
                   ≤20 (All of Us dissemination policy), and counts they could be derived from
                   are rounded down to a multiple of 20.

Find run ids with: biobank query "SELECT run_id, study_id, status FROM runs ORDER BY started_at DESC"`,
  examples: [
    'biobank report ldl-gwas-13ad6f1b16e287a4',
    'biobank report ldl-gwas-13ad6f1b16e287a4 --out reports/ldl',
    'biobank report ldl-gwas-13ad6f1b16e287a4 --out /secure/share --no-suppress',
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      { out: { type: 'string' }, 'no-suppress': { type: 'boolean', default: false } },
      true,
    );
    if (positionals.length !== 1)
      throw new CliError('expected one run id', EXIT.usage, 'biobank report <run_id> [--out <folder>]');
    const runId = positionals[0];
    if (!RUN_ID_PATTERN.test(runId))
      throw new CliError(
        `${JSON.stringify(runId)} is not a run id (expected <studyId>-<16 hex digits>)`,
        EXIT.usage,
        'list runs with: biobank query "SELECT run_id, study_id, status FROM runs"',
      );
    const config = loadConfig();
    const { path, bytes } = await writeRunReport(config, runId, values.out, {
      noSuppress: values['no-suppress'],
    });
    console.log(
      `wrote ${path} (${(bytes / 1e6).toFixed(1)} MB)${values['no-suppress'] ? ' — counts NOT suppressed' : ` — counts 1-${config.privacy.smallCellMax} shown as ≤${config.privacy.smallCellMax}`}`,
    );
    return EXIT.ok;
  },
};
