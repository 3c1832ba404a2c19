/**
 * The `.psam` sample file of a PLINK 2 fileset (PLINK 2 file format specification, "PSAM"):
 *
 * - Fields are separated by tabs or spaces (a run counts as one separator); lines end in
 *   `\n` or `\r\n`; blank lines are skipped.
 * - The initial lines starting with `#` are the header; the last of them starts with `#FID`
 *   or `#IID` and names the columns. Without a header the file is a PLINK 1 `.fam`:
 *   `FID IID PAT MAT SEX [PHENO1]`.
 * - A sample's id is its IID (the engine ignores FID and SID, so IIDs must be unique).
 * - SEX: `1`/`M`/`m` male, `2`/`F`/`f` female, anything else (`NA`, `0`) unknown.
 *
 * Sample order is the file's order, which is the order of the samples in the `.pgen`.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../../engine/errors.js';
import { isMaleCode } from '../genotype-reader.js';

export interface PsamSamples {
  /** IIDs in file order. */
  ids: string[];
  /** 1 for a male sample, 0 otherwise. */
  males: Uint8Array;
}

const FAM_COLUMNS = ['FID', 'IID', 'PAT', 'MAT', 'SEX', 'PHENO1'];

/** Split a text line into fields at runs of tabs and spaces. */
export function splitFields(line: string): string[] {
  const t = line.trim();
  return t === '' ? [] : t.split(/[\t ]+/);
}

/**
 * Read a `.psam` (or `.fam`) file.
 * @param path where to read it
 * @param file its name as the manifest gives it, for error messages
 * @throws InputError for a missing IID column, a short line or a duplicate IID (naming both lines)
 */
export async function readPsam(path: string, file: string): Promise<PsamSamples> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new InputError('sample file not found', { file });
    throw err;
  });
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let first = 0;
  while (first < lines.length && lines[first].startsWith('#')) first++;
  let columns: string[] | null = null;
  if (first > 0) {
    const head = lines[first - 1].replace(/\r$/, '');
    if (!/^#(FID|IID)([\t ]|$)/.test(head))
      throw new InputError('the last header line must start with #FID or #IID', { file, line: first });
    columns = splitFields(head.slice(1));
  }
  const iid = columns ? columns.indexOf('IID') : 1;
  const sex = columns ? columns.indexOf('SEX') : 4;
  if (iid < 0) throw new InputError('no IID column', { file, line: first, field: 'IID' });

  const ids: string[] = [];
  const sexes: number[] = [];
  const seen = new Map<string, number>();
  let need = columns ? columns.length : 0;
  for (let i = first; i < lines.length; i++) {
    const f = splitFields(lines[i]);
    if (f.length === 0) continue;
    const line = i + 1;
    if (!columns) {
      // A .fam: five or six columns, decided by the first sample line.
      if (need === 0) need = Math.min(f.length, FAM_COLUMNS.length);
      if (need < 5) throw new InputError(`expected at least 5 columns, found ${f.length}`, { file, line });
    }
    if (f.length < need)
      throw new InputError(`expected at least ${need} columns, found ${f.length}`, { file, line });
    const id = f[iid];
    const prev = seen.get(id);
    if (prev !== undefined)
      throw new InputError(`duplicate sample id ${id} (also on line ${prev})`, { file, line, field: 'IID' });
    seen.set(id, line);
    ids.push(id);
    sexes.push(sex >= 0 && isMaleCode(f[sex]) ? 1 : 0);
  }
  return { ids, males: Uint8Array.from(sexes) };
}
