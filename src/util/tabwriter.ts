/**
 * Go's text/tabwriter as BuildKit's printers use it (minwidth 0, tabwidth 0, pad character ' ', no flags): each
 * row's cells but the last are padded to their column's widest cell plus `padding`, the last written as is.
 * Every row given has the same number of cells (one column block), as the printers write them.
 */
export function tabulate(rows: readonly (readonly string[])[], padding: number): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.slice(0, -1).forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length + padding);
    });
  }
  return rows
    .map((row) => {
      const last = row.length - 1;
      const cells = row.map((cell, i) =>
        i === last ? cell : cell + " ".repeat(widths[i]! - [...cell].length),
      );
      return `${cells.join("")}\n`;
    })
    .join("");
}
