import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { buildPhenome, recordPhenomeCounts } from '../../phenotype/build.js';
import { mapsDir, parseVersion, releaseFromOptions } from '../../phenotype/cli-support.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

export const phenomeBuildCommand: Command = {
  name: 'phenome build',
  summary: 'materialise the case/control/excluded phenome of a release for phecode 1.2 or X',
  usage: `
Usage: biobank phenome build (--release <id> | --release-dir <folder>) --phecode-version 1.2|X
                             [--maps <folder>] [--min-code-count N] [--no-exclusions] [--json]

Maps every condition code to phecodes (exact (vocabulary, code) match, rolled up to every
ancestor), applies the case/control/exclusion rules of docs/phenotyping.md to every person of
the release, writes <release>/derived/phenome/<key>/ (phenome.parquet, cohort.parquet,
code_counts.parquet, counts.parquet, info.json) and replaces the release's rows in the engine
database table phenome_counts (release_id, phecode_version, phecode, n_cases, n_controls,
n_excluded). Re-running with the same inputs reuses the folder.

Options:
  --release ID          a release of the catalog (or <dataDir>/releases/ID/)
  --release-dir DIR     a folder with persons.parquet and conditions.parquet
  --phecode-version V   1.2 or X
  --maps DIR            the map files (default <dataDir>/phecode/<V>, see 'biobank phecodes')
  --min-code-count N    distinct code dates for a case (default 2)
  --no-exclusions       phecode 1.2 without exclusion ranges (X never has them)
  --json                print the build result as JSON`,
  examples: [
    'biobank phenome build --release demo-2026-11 --phecode-version 1.2',
    'biobank phenome build --release-dir ./.biobank/releases/demo/abc123def456 --phecode-version X --maps ./my-maps/X',
  ],
  async run(argv) {
    const { values } = parse(argv, {
      release: { type: 'string' },
      'release-dir': { type: 'string' },
      'phecode-version': { type: 'string' },
      maps: { type: 'string' },
      'min-code-count': { type: 'string', default: '2' },
      'no-exclusions': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    const version = parseVersion(values['phecode-version']);
    const minCodeCount = Number(values['min-code-count']);
    if (!Number.isInteger(minCodeCount) || minCodeCount < 1) {
      throw new CliError('--min-code-count must be a whole number >= 1', EXIT.usage);
    }
    const config = loadConfig();
    const { releaseId, releaseDir } = await releaseFromOptions(config, values);
    const t0 = performance.now();
    const res = await withCompute(config, (conn) =>
      buildPhenome(conn, {
        releaseId,
        releaseDir,
        version,
        mapsDir: mapsDir(config, version, values.maps),
        minCodeCount,
        exclusions: values['no-exclusions'] ? false : undefined,
      }),
    );
    await withEngineDb(config, (conn) => recordPhenomeCounts(conn, res.counts, releaseId, version));
    if (values.json) {
      console.log(JSON.stringify(res, null, 2));
      return EXIT.ok;
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `phenome of release ${releaseId}, phecode ${version}${res.reused ? ' (reused)' : ''} in ${secs} s`,
    );
    console.log(
      `  persons ${res.nPersons}; phecodes with a case or exclusion ${res.nRows}; case pairs ${res.nCasePairs}`,
    );
    console.log(
      `  rules: case >= ${res.minCodeCount} distinct dates; exclusion ranges ${res.exclusions ? 'on' : 'off'}`,
    );
    console.log(`  maps: ${res.maps.files.map((f) => `${f.name} ${f.sha256.slice(0, 12)}`).join(', ')}`);
    console.log(
      `  codes without a phecode: ${res.unmapped.distinctCodes} distinct, ${res.unmapped.records} records`,
    );
    for (const u of res.unmapped.top.slice(0, 10)) {
      console.log(
        `    ${u.vocabulary.padEnd(8)} ${u.code.padEnd(10)} ${String(u.records).padStart(8)} records ${String(u.persons).padStart(7)} persons`,
      );
    }
    console.log(`  written to ${res.dir}; counts in engine table phenome_counts`);
    return EXIT.ok;
  },
};

export const phenomeCommands: Command[] = [phenomeBuildCommand];
