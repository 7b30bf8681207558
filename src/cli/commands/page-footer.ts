/** Prints how to fetch the next page of a list; `nextBefore` is null on the last page. */
export function printPageFooter(nextBefore: number | null): void {
  if (nextBefore !== null) console.log(`more: add --before ${nextBefore} for older ones`);
}
