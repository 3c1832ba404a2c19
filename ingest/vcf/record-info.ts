/** Reading values of the INFO column of a VCF record (`KEY=v1,v2;FLAG;…`). */

/** The value of INFO key `key` (null when absent; '' for a flag). */
export function infoValue(info: string, key: string): string | null {
  let i = 0;
  while (i <= info.length) {
    const semi = info.indexOf(';', i);
    const end = semi < 0 ? info.length : semi;
    if (info.startsWith(key, i) && (info[i + key.length] === '=' || i + key.length === end)) {
      return info[i + key.length] === '=' ? info.slice(i + key.length + 1, end) : '';
    }
    if (semi < 0) break;
    i = semi + 1;
  }
  return null;
}

/** The comma-separated numbers of INFO key `key`, `.` or a non-number as null; null when absent or a flag. */
export function infoNumbers(info: string, key: string): Array<number | null> | null {
  const v = infoValue(info, key);
  if (v === null || v === '') return null;
  return v
    .split(',')
    .map((x) => (x === '.' || x === '' ? null : Number.isFinite(Number(x)) ? Number(x) : null));
}
