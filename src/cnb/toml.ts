/**
 * TOML in and out, with errors that name the file and the key, and small typed readers for tables so that
 * every descriptor parser reports `<subject>: <file>: <key> must be …` the same way.
 */
import { readFile } from "node:fs/promises";
import { parse, stringify, TomlError } from "smol-toml";
import { BerthError, type ErrorCode } from "../errors.ts";
import type { ConfinedTree } from "../util/confined.ts";

export type Table = Record<string, unknown>;

/** Where a document came from, for error messages: `buildpack "a/b": /cnb/buildpacks/a_b/1/buildpack.toml`. */
export interface Origin {
  /** The file (or label) the document was read from. */
  file: string;
  /** What the document describes ("buildpack \"example/node\"", "builder config"), if known. */
  subject?: string;
  code: ErrorCode;
}

function originText(o: Origin): string {
  return o.subject ? `${o.subject}: ${o.file}` : o.file;
}

export function tomlError(o: Origin, message: string, cause?: unknown): BerthError {
  return new BerthError(o.code, `${originText(o)}: ${message}`, cause === undefined ? {} : { cause });
}

export function parseToml(text: string, o: Origin): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0] ?? err.message;
      throw tomlError(o, `is not valid TOML (line ${err.line}, column ${err.column}): ${first}`, err);
    }
    throw tomlError(o, `is not valid TOML: ${(err as Error).message}`, err);
  }
}

/** Read and parse a TOML file; `undefined` when it does not exist and `optional` is set. */
export async function readToml(path: string, o: Origin, optional: true): Promise<Table | undefined>;
export async function readToml(path: string, o: Origin, optional?: false): Promise<Table>;
export async function readToml(path: string, o: Origin, optional = false): Promise<Table | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && optional) return undefined;
    throw tomlError(o, `cannot be read: ${(err as Error).message}`, err);
  }
  return parseToml(text, o);
}

/**
 * `readToml` for a file of a tree berth does not own (a buildpack's layers directory): read confined to the
 * tree, so a symlink out of it is an UNSAFE_PATH error naming the tree's owner and the path.
 */
export async function readTomlIn(
  tree: ConfinedTree,
  rel: string,
  o: Origin,
  optional = false,
): Promise<Table | undefined> {
  let text: string | undefined;
  try {
    text = await tree.readText(rel);
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw tomlError(o, `cannot be read: ${(err as Error).message}`, err);
  }
  if (text === undefined) {
    if (optional) return undefined;
    throw tomlError(o, "does not exist");
  }
  return parseToml(text, o);
}

/** Drop `undefined` values and empty optional arrays so the TOML output is minimal and stable. */
function clean(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(clean);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out: Table = {};
    for (const [k, v] of Object.entries(value as Table)) {
      if (v === undefined || v === null) continue;
      out[k] = clean(v);
    }
    return out;
  }
  return value;
}

/** A document as TOML ending in a newline; an empty document is an empty file (smol-toml would write "\n"). */
export function toToml(value: Table): string {
  const text = stringify(clean(value));
  if (text.trim() === "") return "";
  return text.endsWith("\n") ? text : `${text}\n`;
}

/** Typed access to one table of a document, with the key path used in errors. */
export class Fields {
  readonly table: Table;
  readonly path: string;
  readonly origin: Origin;

  constructor(table: Table, origin: Origin, path = "") {
    this.table = table;
    this.origin = origin;
    this.path = path;
  }

  key(k: string): string {
    return this.path ? `${this.path}.${k}` : k;
  }

  fail(k: string, message: string): BerthError {
    return tomlError(this.origin, `${this.key(k)} ${message}`);
  }

  has(k: string): boolean {
    return this.table[k] !== undefined;
  }

  str(k: string): string | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw this.fail(k, `must be a string, not ${describe(v)}`);
    return v;
  }

  requiredStr(k: string): string {
    const v = this.str(k);
    if (v === undefined || v === "") throw this.fail(k, "is required");
    return v;
  }

  bool(k: string): boolean | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") throw this.fail(k, `must be true or false, not ${describe(v)}`);
    return v;
  }

  strs(k: string): string[] | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((e) => typeof e !== "string")) {
      throw this.fail(k, `must be an array of strings, not ${describe(v)}`);
    }
    return v as string[];
  }

  sub(k: string): Fields | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw this.fail(k, `must be a table, not ${describe(v)}`);
    return new Fields(v, this.origin, this.key(k));
  }

  /** Any table (free-form metadata). */
  anyTable(k: string): Table | undefined {
    const v = this.table[k];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw this.fail(k, `must be a table, not ${describe(v)}`);
    return v;
  }

  list(k: string): Fields[] {
    const v = this.table[k];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((e) => !isTable(e))) {
      throw this.fail(k, `must be an array of tables ([[${this.key(k)}]]), not ${describe(v)}`);
    }
    return (v as Table[]).map((t, i) => new Fields(t, this.origin, `${this.key(k)}[${i}]`));
  }

  /** Fail on keys not in `known` (for formats that reject unknown keys, like pack's builder.toml). */
  only(known: readonly string[]): void {
    for (const k of Object.keys(this.table)) {
      if (!known.includes(k)) throw this.fail(k, "is not a known key");
    }
  }
}

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (isTable(v)) return "a table";
  return `${typeof v} ${JSON.stringify(v)}`;
}
