import { withCompute } from '../../engine/duckdb.js';
import { mapsDir, parseVersion, releaseFromOptions } from '../../phenotype/cli-support.js';
import { explainPhenotype } from '../../phenotype/explain.js';
import { loadPhecodeMaps } from '../../phenotype/maps.js';
import { releaseTables } from '../../phenotype/release.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const explainCommand: Command = {
  name: 'explain',
  summary: 'say why a person is a case, control or excluded for a phecode',
  usage: `
Usage: biobank explain <person_id> <phecode> (--release <id> | --release-dir <folder>)
                       [--phecode-version 1.2|X] [--maps <folder>] [--min-code-count N] [--no-exclusions] [--json]

Re-derives the decision from the person's dated codes: which codes map to the phecode (after
rollup) on how many distinct dates, which codes hit the phecode's exclusion range (1.2), and
the sex restriction. The version defaults to X for phecodes with a letter prefix (EM_202.2),
else 1.2.`,
  examples: [
    'biobank explain P0000042 250.2 --release demo-2026-11',
    'biobank explain P0000042 EM_202.2 --release demo-2026-11 --json',
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        release: { type: 'string' },
        'release-dir': { type: 'string' },
        'phecode-version': { type: 'string' },
        maps: { type: 'string' },
        'min-code-count': { type: 'string', default: '2' },
        'no-exclusions': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length !== 2) throw new CliError('expected <person_id> <phecode>', EXIT.usage);
    const [person, phecode] = positionals;
    const version = parseVersion(values['phecode-version'] ?? (/^[A-Z]{2}_/.test(phecode) ? 'X' : '1.2'));
    const minCodeCount = Number(values['min-code-count']);
    if (!Number.isInteger(minCodeCount) || minCodeCount < 1) {
      throw new CliError('--min-code-count must be a whole number >= 1', EXIT.usage);
    }
    const config = loadConfig();
    const { releaseDir } = await releaseFromOptions(config, values);
    const e = await withCompute(config, async (conn) => {
      await loadPhecodeMaps(conn, mapsDir(config, version, values.maps), version);
      return explainPhenotype(conn, releaseTables(releaseDir), person, phecode, {
        version,
        minCodeCount,
        exclusions: values['no-exclusions'] ? false : undefined,
      });
    });
    console.log(values.json ? JSON.stringify(e, null, 2) : e.text.join('\n'));
    return EXIT.ok;
  },
};
