const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: unknown) => value === null || typeof value !== 'object';

/** Formats one value for a table cell on a single line; null and undefined become "-". */
export function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value.replace(/\s*\n\s*/g, ' ');
  if (Array.isArray(value) && value.every(isScalar)) return value.length === 0 ? '(none)' : value.map(formatCell).join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Flattens nested objects into dotted keys, for example
 * `{ steps: { audit_logs: { rows: 3 } } }` into `steps.audit_logs.rows = 3`.
 * Arrays of scalars stay one entry; arrays containing objects get index keys.
 */
export function flatten(value: unknown, prefix: string): Array<[string, unknown]> {
  const join = (key: string) => (prefix ? `${prefix}.${key}` : key);

  if (isPlainObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return [[prefix, value]];
    return keys.flatMap((key) => flatten(value[key], join(key)));
  }
  if (Array.isArray(value) && !value.every(isScalar)) {
    return value.flatMap((item, index) => flatten(item, join(String(index))));
  }
  return [[prefix, value]];
}

/** Renders rows as left-aligned columns under a header line, two spaces apart. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly unknown[]>): string {
  const cells = rows.map((row) => headers.map((_header, column) => formatCell(row[column])));
  const widths = headers.map((header, column) => Math.max(header.length, ...cells.map((row) => row[column]!.length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();

  return [line(headers), ...cells.map(line)].join('\n');
}

/** Renders a value as a two-column field/value table with dotted keys. */
/** Returns true for a non-empty array of flat objects, which reads best as a table of its own. */
export function isRecordList(value: unknown): value is Array<Record<string, unknown>> {
  return Array.isArray(value) && value.length > 0 && value.every((item) => isPlainObject(item) && Object.values(item).every(isScalar));
}

/** Renders flat objects as a table, one row each, with the union of their keys as columns in first-seen order. */
export function renderRecords(records: ReadonlyArray<Record<string, unknown>>): string {
  const headers = [...new Set(records.flatMap((record) => Object.keys(record)))];
  return renderTable(headers, records.map((record) => headers.map((header) => record[header])));
}

/**
 * Renders a result: its fields as a field/value table, then each top-level
 * list of flat objects (for example the accounts of audit-admins) as a table
 * of its own under its name.
 */
export function renderResult(value: unknown, rootName = 'value'): string {
  if (!isPlainObject(value)) return renderFields(value, rootName);

  const fields: Record<string, unknown> = {};
  const lists: string[] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (isRecordList(entry)) lists.push(`${key}\n${renderRecords(entry)}`);
    else fields[key] = entry;
  }
  const parts = Object.keys(fields).length > 0 ? [renderFields(fields, rootName), ...lists] : lists;
  return parts.join('\n\n');
}

export function renderFields(value: unknown, rootName = 'value'): string {
  const entries = flatten(value, '').map(([key, entry]) => [key || rootName, entry] as const);
  return renderTable(['field', 'value'], entries);
}
