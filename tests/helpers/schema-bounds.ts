/**
 * Finds every string without a length limit and every array without an item
 * limit in a JSON schema. A string counts as bounded by maxLength, enum or
 * const, a format whose values have a fixed maximum length, or an anchored
 * pattern without an open-ended repetition (*, + or {n,}).
 */
export function findUnboundedFields(schema: unknown, path: string): string[] {
  const problems: string[] = [];
  walk(schema, path, problems);
  return problems;
}

const BOUNDED_FORMATS = new Set(['date', 'time', 'uuid', 'ipv4', 'ipv6']);

function boundedPattern(pattern: unknown): boolean {
  if (typeof pattern !== 'string' || !pattern.startsWith('^') || !pattern.endsWith('$')) return false;
  // Drop escaped characters and character classes, then look for an open-ended repetition.
  const stripped = pattern.replace(/\\./g, 'x').replace(/\[[^\]]*\]/g, 'x');
  return !/[*+]|\{\d+,\}/.test(stripped);
}

function walk(node: unknown, path: string, problems: string[]): void {
  if (Array.isArray(node)) {
    node.forEach((item, index) => walk(item, `${path}[${index}]`, problems));
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const schema = node as Record<string, unknown>;
  const types = ([] as unknown[]).concat(schema.type ?? []);

  if (types.includes('string') && schema.maxLength === undefined && schema.enum === undefined && schema.const === undefined) {
    const formatBounded = typeof schema.format === 'string' && BOUNDED_FORMATS.has(schema.format);
    if (!formatBounded && !boundedPattern(schema.pattern)) problems.push(`${path}: string without maxLength`);
  }
  if (types.includes('array') && schema.maxItems === undefined) problems.push(`${path}: array without maxItems`);

  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && value && typeof value === 'object') {
      for (const [name, child] of Object.entries(value)) walk(child, `${path}.${name}`, problems);
    } else if (key === 'items' || key === 'additionalProperties' || key === 'not') {
      walk(value, `${path}[]`, problems);
    } else if (key === 'patternProperties' && value && typeof value === 'object') {
      for (const child of Object.values(value)) walk(child, `${path}[]`, problems);
    } else if (key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
      walk(value, path, problems);
    }
  }
}
