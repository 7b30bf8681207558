/*
 * Turns a job's JSON summary into the `path: value` lines of a report
 * section. Findings come first, in the order the section names them, then
 * every other value with keys in alphabetical order at every level, so the
 * text does not depend on the key order of the jsonb column.
 */

/** Items of a list shown before "and N more". */
export const MAX_LIST_ITEMS = 10;
/** Characters of one value on a `path: value` line, and of one value inside a list item. */
const MAX_VALUE_LENGTH = 160;
const MAX_ITEM_VALUE_LENGTH = 80;
// A list of scalars longer than this on one line prints one item per line instead.
const MAX_INLINE_LIST_LENGTH = 100;
/** Characters of a text item printed on its own line, such as a problem a job reports. */
const MAX_TEXT_ITEM_LENGTH = 300;
// Objects nest into `a.b.c` paths this deep; below that a value prints as compact JSON.
const MAX_PATH_DEPTH = 4;
/** Keys that name a list item, printed first on its line in this order. */
const LABEL_KEYS = ['ip', 'account', 'email', 'name', 'endpoint', 'target', 'component', 'table', 'index', 'path', 'category', 'action', 'id'];

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => value !== null && typeof value === 'object' && !Array.isArray(value);
const isScalar = (value: unknown) => value === null || ['string', 'number', 'boolean'].includes(typeof value);

function truncate(text: string, limit = MAX_VALUE_LENGTH): string {
  return text.length > limit ? `${text.slice(0, limit - 3)}...` : text;
}

/** Formats a value for one line: scalars as text, anything else as compact JSON with sorted keys. */
function inlineText(value: unknown, limit = MAX_VALUE_LENGTH): string {
  if (value === null || value === undefined) return '-';
  if (isScalar(value)) return truncate(String(value), limit);
  return truncate(JSON.stringify(sortKeys(value)), limit);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key])]));
}

/** Returns the keys of an object: label keys first, then the rest alphabetically. */
function orderedKeys(value: JsonObject): string[] {
  const labels = LABEL_KEYS.filter((key) => key in value);
  const rest = Object.keys(value).filter((key) => !LABEL_KEYS.includes(key)).sort();
  return [...labels, ...rest];
}

/** Formats one list item as `key=value, ...`, its label first. */
function itemText(item: unknown): string {
  if (!isObject(item)) return inlineText(item, MAX_TEXT_ITEM_LENGTH);
  return orderedKeys(item).map((key) => `${key}=${inlineText(item[key], MAX_ITEM_VALUE_LENGTH)}`).join(', ');
}

const more = (total: number) => (total > MAX_LIST_ITEMS ? [`and ${total - MAX_LIST_ITEMS} more`] : []);

function listLines(path: string, list: unknown[]): string[] {
  if (list.length === 0) return [`${path}: none`];
  if (list.every(isScalar)) {
    const inline = [...list.slice(0, MAX_LIST_ITEMS).map((item) => inlineText(item)), ...more(list.length)].join(', ');
    if (inline.length <= MAX_INLINE_LIST_LENGTH) return [`${path}: ${inline}`];
  }
  const items = list.slice(0, MAX_LIST_ITEMS).map((item) => `  - ${itemText(item)}`);
  const rest = more(list.length).map((line) => `  - ${line}`);
  return [`${path}: ${list.length} item${list.length === 1 ? '' : 's'}`, ...items, ...rest];
}

/**
 * Flattens a summary to `path: value` lines. Objects become dotted paths with
 * sorted keys. A short list of scalars fits on one line. Any other list gets
 * a count line and one `  - item` line per item, objects as `key=value`
 * pairs with their label first. Lists stop after
 * MAX_LIST_ITEMS items with "and N more".
 */
export function summaryLines(value: unknown, path = '', depth = 0): string[] {
  if (value === null || value === undefined) return path ? [`${path}: -`] : [];
  if (Array.isArray(value)) return listLines(path, value);
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    if (keys.length === 0) return [`${path}: none`];
    if (depth >= MAX_PATH_DEPTH) return [`${path}: ${inlineText(value)}`];
    return keys.flatMap((key) => summaryLines(value[key], path ? `${path}.${key}` : key, depth + 1));
  }
  return [`${path}: ${inlineText(value)}`];
}

function valueAt(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) current = isObject(current) ? current[key] : undefined;
  return current;
}

/** Returns a copy of `value` without the values at `paths`. */
function withoutPaths(value: unknown, paths: readonly string[]): unknown {
  if (!isObject(value)) return value;
  const copy: JsonObject = { ...value };
  for (const path of paths) {
    const [head, ...rest] = path.split('.');
    if (!(head! in copy)) continue;
    if (rest.length === 0) delete copy[head!];
    else copy[head!] = withoutPaths(copy[head!], [rest.join('.')]);
  }
  return copy;
}

/** Flattens a summary with the values at `findings` first, in that order, then the rest. */
export function sectionLines(summary: unknown, findings: readonly string[] = []): string[] {
  const present = findings.filter((path) => valueAt(summary, path) !== undefined);
  const first = present.flatMap((path) => summaryLines(valueAt(summary, path), path));
  return [...first, ...summaryLines(withoutPaths(summary, present))];
}
