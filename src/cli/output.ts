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

/** Go's time.Duration saturates here (math.MaxInt64 nanoseconds, about 292 years). */
const MAX_DURATION_SECONDS = 9_223_372_036;

/** go-units HumanDuration of time.Since, as docker writes "CREATED" and ps's status ("2 hours" ago, "Up 5 seconds"; "292 years" at most). */
export function humanDuration(seconds: number): string {
  const s = Math.trunc(Math.min(seconds, MAX_DURATION_SECONDS));
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const minutes = Math.trunc(s / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(s / 3600);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(s / 3600) / 24 / 365)} years`;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/**
 * go-units HumanSizeWithPrecision(n, precision): Go's `%.<precision>g` and decimal units ("1.23MB", "0B"), as
 * docker writes sizes (HumanSize is precision 4).
 */
export function humanSize(bytes: number, precision = 3): string {
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < DECIMAL_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  // %.Ng: N significant digits, trailing zeros dropped, an exponent of two digits at least
  const [mantissa, exponent] = v.toPrecision(precision).split("e") as [string, string | undefined];
  const m = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
  const e = exponent === undefined ? "" : `e${exponent[0]}${exponent.slice(1).padStart(2, "0")}`;
  return `${m}${e}${DECIMAL_UNITS[i]}`;
}

/** Go's tabwriter as docker's tables use it: columns at least 10 wide, 3 spaces of padding; no blanks at the end. */
export function dockerTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 10, [...cell].length + 3);
    });
  }
  const pad = (cell: string, i: number) => cell + " ".repeat(widths[i]! - [...cell].length);
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : pad(cell, i)))
        .join("")
        .trimEnd(),
    )
    .join("\n");
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
