/**
 * `biobank` command dispatcher. Sub-commands are registered in `cli/commands/index.ts`;
 * names may have two words (`release add`). Errors print as one line plus a hint; the
 * stack trace only with `--verbose`.
 */
import { ZodError } from 'zod';
import { InputError, ServerUnreachableError } from '../engine/errors.js';
import { ConfigError } from '../temporal.config.js';
import { CliError, type Command, EXIT } from './command.js';
import { type CommandEntry, commands, groupOf } from './commands/index.js';
import { explainFailure } from './failure.js';

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'biobank — durable GWAS/PheWAS studies on Temporal and DuckDB',
    '',
    'Usage: biobank <command> [options]   (biobank <command> --help for details)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options: --verbose (stack traces on errors), --help',
    'Configuration: environment variables, see temporal.config.ts (TEMPORAL_ADDRESS, BIOBANK_DATA_DIR, …)',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `biobank ${c.name} — ${c.summary}`,
    '',
    c.usage.trim(),
    '',
    'Examples:',
    ...c.examples.map((e) => `  ${e}`),
  ].join('\n');
}

function findCommand(argv: string[]): { command?: CommandEntry; rest: string[] } {
  const two = argv.slice(0, 2).join(' ');
  const byTwo = commands.find((c) => c.name.includes(' ') && c.name === two);
  if (byTwo) return { command: byTwo, rest: argv.slice(2) };
  return { command: commands.find((c) => c.name === argv[0]), rest: argv.slice(1) };
}

/** Help for a group word: its sub-commands. */
function groupHelp(word: string, entries: CommandEntry[]): string {
  const width = Math.max(...entries.map((c) => c.name.length));
  return [
    `biobank ${word} — ${entries.length} commands`,
    '',
    ...entries.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run 'biobank ${entries[0].name} --help' for a command's options and examples.`,
  ].join('\n');
}

export function formatError(err: unknown, verbose: boolean): { text: string; code: number } {
  const e = err as Error;
  let text: string;
  let code: number = EXIT.failed;
  let hint: string | undefined;
  if (err instanceof CliError) {
    text = err.message;
    code = err.exitCode;
    hint = err.hint;
  } else if (err instanceof InputError) {
    text = err.message;
    code = EXIT.usage;
    hint = err.hint;
  } else if (err instanceof ConfigError) {
    text = err.message;
    code = EXIT.usage;
    hint = 'check the environment variables listed in temporal.config.ts';
  } else if (err instanceof ServerUnreachableError) {
    text = err.message;
    code = EXIT.unavailable;
    hint =
      "start the server (e.g. 'biobank dev-server'), or unset TEMPORAL_ADDRESS to let the command start a local one";
  } else if (err instanceof ZodError) {
    text = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    code = EXIT.usage;
  } else if (explainFailure(err)) {
    const f = explainFailure(err) as NonNullable<ReturnType<typeof explainFailure>>;
    text = f.text;
    code = f.code;
    if (f.code === EXIT.usage) hint = 'fix the input named above and run the command again';
  } else {
    text = e?.message ?? String(err);
  }
  const lines = [`error: ${text}`];
  if (hint) lines.push(`hint: ${hint}`);
  if (verbose && e?.stack) lines.push(e.stack);
  else if (!(err instanceof CliError || err instanceof InputError))
    lines.push('(run with --verbose for details)');
  return { text: lines.join('\n'), code };
}

export async function main(argv: string[]): Promise<number> {
  const verbose = argv.includes('--verbose');
  const args = argv.filter((a) => a !== '--verbose');
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
    console.log(helpText());
    return EXIT.ok;
  }
  const { command, rest } = findCommand(args);
  if (!command) {
    const group = groupOf(args[0]);
    if (group.length > 0) {
      const asked = args.length === 1 || args[1] === '--help' || args[1] === '-h' || args[1] === 'help';
      console[asked ? 'log' : 'error'](
        asked
          ? groupHelp(args[0], group)
          : `error: unknown command '${args.slice(0, 2).join(' ')}'\n${groupHelp(args[0], group)}`,
      );
      return asked ? EXIT.ok : EXIT.usage;
    }
    console.error(`error: unknown command '${args[0]}'\nhint: run 'biobank --help' for the list`);
    return EXIT.usage;
  }
  const loaded = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(loaded));
    return EXIT.ok;
  }
  try {
    return await loaded.run(rest);
  } catch (err) {
    const { text, code } = formatError(err, verbose);
    console.error(text);
    return code;
  }
}
