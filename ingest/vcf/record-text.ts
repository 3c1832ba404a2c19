/**
 * The error type of the byte-level VCF record parser and its latin1 text helpers, shared by
 * record.ts and record-decode.ts.
 */

/** A problem in one record, located by field; the caller adds file and line. */
export class RecordError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

const TAB = 9;

export const COLUMN_NAMES = ['CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT'];

const decoder = new TextDecoder('latin1');
export function latin1(buf: Uint8Array, start: number, end: number): string {
  return decoder.decode(buf.subarray(start, end));
}

export function peek(buf: Uint8Array, p: number, end: number): string {
  let q = p;
  while (q < end && buf[q] !== TAB && q - p < 20) q++;
  return latin1(buf, p, q);
}
