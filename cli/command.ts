/** The shape of one `biobank` sub-command. Each lives in `cli/commands/<name>.ts`. */
export interface Command {
  /** The word after `biobank`, e.g. `query` or `release add`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Usage and options text shown by `--help`. */
  usage: string;
  /** Example invocations shown by `--help`. */
  examples: string[];
  /** Runs the command; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Exit codes, so scripts can tell failures apart. */
export const EXIT = {
  ok: 0,
  /** The command ran and the work failed (a study failed, a query errored). */
  failed: 1,
  /** Bad usage or bad input: fix the command line, spec or file. */
  usage: 2,
  /** A service the command needs (Temporal server, database lock) was not reachable. */
  unavailable: 3,
  /** Interrupted by SIGINT/SIGTERM. */
  interrupted: 130,
} as const;

/** An error the CLI prints as one line plus a hint, without a stack trace. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
    readonly hint?: string,
  ) {
    super(message);
  }
}
