import { cp, mkdir, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { withCompute } from '../../engine/duckdb.js';
import { atomicProduce } from '../../engine/fsutil.js';
import { parseVersion } from '../../phenotype/cli-support.js';
import { FetchError, fetchPhecodeMaps, PHECODE_SOURCES } from '../../phenotype/fetch.js';
import { loadPhecodeMaps, mapFilePath, PHECODE_FILES } from '../../phenotype/maps.js';
import type { PhecodeMapInfo } from '../../schemas/phenotype.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';

function printInfo(info: PhecodeMapInfo, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(info, null, 2));
    return;
  }
  console.log(`phecode ${info.version} maps in ${info.folder}`);
  for (const f of info.files)
    console.log(`  ${f.name.padEnd(32)} ${String(f.rows).padStart(7)} rows  sha256 ${f.sha256}`);
}

export const phecodesFetchCommand: Command = {
  name: 'phecodes fetch',
  summary: 'download the public phecode 1.2 or phecodeX maps into the data folder',
  usage: `
Usage: biobank phecodes fetch --version 1.2|X [--force] [--json]

Downloads the maps from their public sources into <dataDir>/phecode/<version>/, checks them,
and prints each file's row count and sha256 (what studies record). Studies need no fetch: the
engine ships both versions (data/phecode, see SOURCE.md there); fetch a newer release only.
  1.2  CSV from the PhecodeXVocabulary repository (${PHECODE_SOURCES['1.2'].baseUrl});
       announced there but not yet published (data/phecode/SOURCE.md): use --base-url
  X    CSV from the PhecodeX repository (${PHECODE_SOURCES.X.baseUrl})
Without internet, copy the files from a machine that has it and use 'biobank phecodes load'.

Options:
  --version V   1.2 or X
  --force       download again even if the folder exists
  --base-url U  download from a mirror holding the same file names
  --json        print the map info as JSON`,
  examples: [
    'biobank phecodes fetch --version X',
    'biobank phecodes fetch --version X --force',
    'biobank phecodes fetch --version 1.2 --base-url https://mirror.example.org/phecode/v1.2/',
  ],
  async run(argv) {
    const { values } = parse(argv, {
      version: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'base-url': { type: 'string' },
    });
    const version = parseVersion(values.version, '--version');
    const config = loadConfig();
    try {
      const info = await withCompute(config, (conn) =>
        fetchPhecodeMaps(conn, config.dataDir, version, { force: values.force, baseUrl: values['base-url'] }),
      );
      printInfo(info, values.json);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof FetchError) {
        throw new CliError(
          err.message,
          EXIT.unavailable,
          `copy the public files (${PHECODE_FILES[version].map((f) => f.name).join(', ')}) to a folder and run 'biobank phecodes load --version ${version} --from <folder>', or pass --maps <folder> to 'biobank phenome build'`,
        );
      }
      throw err;
    }
  },
};

export const phecodesLoadCommand: Command = {
  name: 'phecodes load',
  summary: 'check phecode map files from a local folder and install them in the data folder',
  usage: `
Usage: biobank phecodes load --version 1.2|X --from <folder> [--json]

Checks the public map files in <folder> (names and columns as published; see docs/phenotyping.md),
copies them into <dataDir>/phecode/<version>/ and prints each file's row count and sha256.`,
  examples: ['biobank phecodes load --version 1.2 --from ./my-maps/v1.2'],
  async run(argv) {
    const { values } = parse(argv, {
      version: { type: 'string' },
      from: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const version = parseVersion(values.version, '--version');
    if (!values.from) throw new CliError('--from <folder> is required', EXIT.usage);
    const from = resolve(values.from);
    const config = loadConfig();
    const target = join(config.dataDir, 'phecode', version);
    const info = await withCompute(config, async (conn) => {
      await loadPhecodeMaps(conn, from, version); // validate first
      await mkdir(join(config.dataDir, 'phecode'), { recursive: true });
      await atomicProduce(target, async (tmp) => {
        await mkdir(tmp, { recursive: true });
        for (const f of PHECODE_FILES[version]) {
          const src = mapFilePath(from, f.name) as string; // checked by the load above
          await cp(src, join(tmp, basename(src)));
        }
        // The installed version is replaced only once the new copy is complete.
        await rm(target, { recursive: true, force: true });
      });
      return loadPhecodeMaps(conn, target, version);
    });
    printInfo(info, values.json);
    return EXIT.ok;
  },
};

export const phecodesCommands: Command[] = [phecodesFetchCommand, phecodesLoadCommand];
