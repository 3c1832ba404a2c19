import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { withEngineDb } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { atomicWriteFile } from '../../engine/fsutil.js';
import { runUserSql } from '../../engine/sql-sandbox.js';
import { arrowIpcFile } from '../../export/arrow.js';
import { loadConfig } from '../../temporal.config.js';
import { parse } from '../args.js';
import { CliError, type Command, EXIT } from '../command.js';
import { type Format, type Row, render } from '../format.js';

const FORMATS = ['table', 'tsv', 'csv', 'json', 'arrow'] as const;

export const queryCommand: Command = {
  name: 'query',
  summary: 'run read-only SQL over the engine database (releases, runs, results)',
  usage: `
Usage: biobank query "<SQL>" [--format table|tsv|csv|json|arrow] [--out FILE] [--max-rows N]

Opens the engine database (BIOBANK_DB, default <dataDir>/engine.duckdb) READ-ONLY and prints
the result. Read statements only (SELECT, WITH, EXPLAIN, DESCRIBE, SHOW, SUMMARIZE), decided by
DuckDB's parser; anything else is refused with exit code 2. Files can be read only inside the
data folder (read_parquet() over the release folders works); no extension is installed or loaded.

Options:
  --format F     table (default), tsv, csv, json, or arrow (an Arrow IPC file; needs --out)
  --out FILE     write the result to FILE instead of printing it (written whole, then renamed)
  --max-rows N   stop printing after N rows in table format (default 200; 0 = all)`,
  examples: [
    'biobank query "SHOW TABLES"',
    `biobank query "SELECT chrom, count(*) FROM variants GROUP BY ALL ORDER BY 1" --format csv`,
  ],
  async run(argv) {
    const { values, positionals } = parse(
      argv,
      {
        format: { type: 'string', default: 'table' },
        out: { type: 'string' },
        'max-rows': { type: 'string', default: '200' },
      },
      true,
    );
    if (positionals.length !== 1)
      throw new CliError('expected exactly one SQL statement in quotes', EXIT.usage);
    const format = values.format as (typeof FORMATS)[number];
    if (!FORMATS.includes(format))
      throw new CliError(`--format must be one of ${FORMATS.join(', ')}`, EXIT.usage);
    if (format === 'arrow' && values.out === undefined)
      throw new CliError('--format arrow writes a binary file: give it with --out FILE', EXIT.usage);
    const maxRows = Number(values['max-rows']);
    if (!Number.isInteger(maxRows) || maxRows < 0)
      throw new CliError('--max-rows must be a whole number', EXIT.usage);
    const config = loadConfig();
    if (!existsSync(config.database)) {
      throw new CliError(
        `no engine database at ${config.database}`,
        EXIT.failed,
        "run 'biobank demo' or 'biobank release add <manifest.json>' first, or set BIOBANK_DATA_DIR",
      );
    }
    const result = await withEngineDb(
      config,
      async (conn) => {
        const reader = await runUserSql(conn, config, positionals[0]);
        if (format === 'arrow') {
          const types = reader.columnTypes().map(String);
          const values = reader.getColumnsJS();
          const columns = reader
            .columnNames()
            .map((name, i) => ({ name, type: types[i], values: values[i] }));
          return {
            columns: reader.columnNames(),
            rows: [] as Row[],
            arrow: arrowIpcFile(columns),
            nRows: reader.currentRowCount,
          };
        }
        return {
          columns: reader.columnNames(),
          rows: reader.getRowObjectsJson() as Row[],
          arrow: undefined,
          nRows: 0,
        };
      },
      { readOnly: true, lockTimeoutMs: 30_000 },
    ).catch((err: Error) => {
      if (err instanceof InputError) throw err;
      throw new CliError(err.message.split('\n')[0], EXIT.failed);
    });
    const { columns, rows } = result;
    if (result.arrow) {
      await atomicWriteFile(resolve(values.out as string), result.arrow);
      console.error(
        `wrote ${result.nRows} rows × ${columns.length} columns to ${values.out} (Arrow IPC file)`,
      );
      return EXIT.ok;
    }
    const shown = format === 'table' && maxRows > 0 ? rows.slice(0, maxRows) : rows;
    const text = render(columns, shown, format as Format);
    if (values.out !== undefined) {
      await atomicWriteFile(resolve(values.out), `${text}\n`);
      console.error(`wrote ${rows.length} rows to ${values.out}`);
      return EXIT.ok;
    }
    console.log(text);
    if (shown.length < rows.length)
      console.error(`(showing ${shown.length} of ${rows.length} rows; --max-rows 0 for all)`);
    return EXIT.ok;
  },
};
