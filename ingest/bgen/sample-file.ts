/**
 * The Oxford `.sample` file beside a BGEN: whitespace-separated columns, a header line of
 * column names (`ID_1 ID_2 missing …`), a second line of column types (`0 0 0 D …`; the id
 * columns are typed 0), then one line per sample in the order of the `.bgen`. The sample id is
 * the `ID_2` column. QCTOOL v2 (`sample-v2`) files have one id column, `ID`, which is used when
 * there is no `ID_2`.
 */
import { readFile } from 'node:fs/promises';
import { InputError } from '../../engine/errors.js';

/**
 * The sample ids of a `.sample` file at `path`, named `file` in errors.
 * @throws InputError when the file is missing, has no id column, or lacks the types line
 */
export async function readSampleFile(path: string, file: string): Promise<string[]> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') throw new InputError('sample file not found', { file });
    throw e;
  });
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').trim().split(/\s+/);
  let col = header.indexOf('ID_2');
  if (col < 0) col = header.indexOf('ID');
  if (col < 0)
    throw new InputError(
      `no ID_2 (or ID) column in the header: ${lines[0] ?? ''}`,
      { file, line: 1 },
      'a .sample file starts with "ID_1 ID_2 missing" and a types line "0 0 0"',
    );
  const types = (lines[1] ?? '').trim().split(/\s+/);
  if (types.length !== header.length || types[col] !== '0')
    throw new InputError(
      `the second line must be the column types (${header.length} of them, 0 for the id columns)`,
      { file, line: 2 },
    );
  const ids: string[] = [];
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    if (f.length <= col)
      throw new InputError(`${f.length} columns; the header has ${header.length}`, { file, line: i + 1 });
    ids.push(f[col]);
  }
  return ids;
}
