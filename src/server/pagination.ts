/**
 * Builds one page of a list route that pages by id, newest first. `rows` were
 * fetched with `limit + 1`, so an extra row means an older page exists, and
 * `nextBefore` is then the id to pass as `before` for it.
 */
export function keysetPage<Row extends { id: number }, Item>(rows: readonly Row[], limit: number, toItem: (row: Row) => Item) {
  const page = rows.slice(0, limit);
  const nextBefore = rows.length > limit ? (page[page.length - 1]?.id ?? null) : null;
  return { items: page.map(toItem), nextBefore };
}
