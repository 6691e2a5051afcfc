import type { Writable } from "node:stream";
import { BerthError } from "../errors.ts";
import { streamOf } from "./stdio.ts";

/** Where the CLI writes: data to stdout, messages and progress to stderr. */
export interface Output {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  quiet: boolean;
}

/**
 * Where `-o PATH` writes: `-` is standard output (not a terminal: a tar there helps nobody), anything else a
 * path, made through a temp file and a rename (a symbolic link or device there is refused: util/fs.ts).
 */
export function outputOf(path: string, out: Output): string | Writable {
  if (path !== "-") return path;
  if (out.stdout.isTTY) {
    throw new BerthError("USAGE", "refusing to write a tar to a terminal (-o -)", {
      hint: "redirect standard output to a file or a pipe, or give -o FILE",
    });
  }
  // Node's stream itself: pipelines know it (they leave process.stdout open)
  return streamOf(out.stdout);
}

/**
 * The version of every `--json` document's schema (README: "JSON output"); raised when a field changes
 * meaning or goes away, not when one is added.
 */
const JSON_SCHEMA_VERSION = 1;

/** A command's `--json` result: one object, camelCase keys, `schemaVersion` first. */
export function printJson(out: Output, value: object): void {
  out.stdout.write(`${JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...value }, null, 2)}\n`);
}

export function info(out: Output, line: string): void {
  if (!out.quiet) out.stderr.write(`${line}\n`);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function shortDigest(digest: string): string {
  const i = digest.indexOf(":");
  return digest.slice(i + 1, i + 13);
}

/** Render rows as aligned columns, three spaces apart, with no blanks at the end of a line (an empty last cell). */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("   ")
        .trimEnd(),
    )
    .join("\n");
}
