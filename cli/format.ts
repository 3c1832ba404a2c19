/** Rendering query results as an aligned table, TSV, CSV or JSON. */

export type Format = 'table' | 'tsv' | 'csv' | 'json';
export type Row = Record<string, unknown>;

function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : formatNumber(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function formatNumber(x: number): string {
  if (x !== 0 && (Math.abs(x) < 1e-4 || Math.abs(x) >= 1e9)) return x.toExponential(4);
  return String(Number(x.toPrecision(6)));
}

function csvField(text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function render(columns: string[], rows: Row[], format: Format): string {
  switch (format) {
    case 'json':
      return JSON.stringify(rows, null, 2);
    case 'tsv':
      return [
        columns.join('\t'),
        ...rows.map((r) => columns.map((c) => cell(r[c]).replace(/[\t\n]/g, ' ')).join('\t')),
      ].join('\n');
    case 'csv':
      return [
        columns.map(csvField).join(','),
        ...rows.map((r) =>
          columns.map((c) => (r[c] === null || r[c] === undefined ? '' : csvField(cell(r[c])))).join(','),
        ),
      ].join('\n');
    case 'table': {
      const body = rows.map((r) => columns.map((c) => truncate(cell(r[c]), 60)));
      const widths = columns.map((c, i) => Math.max(c.length, ...body.map((b) => b[i].length)));
      const line = (cells: string[]) =>
        cells
          .map((v, i) => (isNumeric(v) ? v.padStart(widths[i]) : v.padEnd(widths[i])))
          .join('  ')
          .trimEnd();
      const rule = widths.map((w) => '─'.repeat(w)).join('  ');
      return [
        line(columns),
        rule,
        ...body.map(line),
        `(${rows.length} row${rows.length === 1 ? '' : 's'})`,
      ].join('\n');
    }
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function isNumeric(s: string): boolean {
  return /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(s);
}
