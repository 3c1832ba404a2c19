/** Small wrapper over node:util parseArgs that turns its errors into CLI usage errors. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CliError, EXIT } from './command.js';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new CliError((err as Error).message, EXIT.usage, 'see --help for the options');
  }
}
