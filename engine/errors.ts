/**
 * Errors the engine raises for bad input. They carry the file, line and field so a
 * user can fix the input, and they are never retried: activities convert them to
 * non-retryable `ApplicationFailure`s (see `activities/failures.ts`).
 */

export interface InputLocation {
  /** The file that holds the bad value (absolute or as the user gave it). */
  file?: string;
  /** 1-based line number in that file, where it applies. */
  line?: number;
  /** Column, field or JSON path of the bad value. */
  field?: string;
}

/** Bad user input: a spec, a manifest, a table row, a VCF record. */
export class InputError extends Error {
  override name = 'InputError';
  readonly location: InputLocation;
  readonly hint?: string;

  constructor(message: string, location: InputLocation = {}, hint?: string) {
    super(InputError.format(message, location));
    this.location = location;
    this.hint = hint;
  }

  static format(message: string, { file, line, field }: InputLocation): string {
    const where = [
      file,
      line !== undefined ? `line ${line}` : undefined,
      field ? `field ${field}` : undefined,
    ]
      .filter(Boolean)
      .join(', ');
    return where ? `${where}: ${message}` : message;
  }
}

/** The Temporal server could not be reached at an address the user configured; nothing was started. */
export class ServerUnreachableError extends Error {
  override name = 'ServerUnreachableError';
}

/** Failure type names that workflows and retry policies treat as non-retryable (a contract: schemas/presets.ts). */
export { NON_RETRYABLE_TYPES } from '../schemas/presets.js';
