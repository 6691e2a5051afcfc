/**
 * TOML written byte for byte as the lifecycle writes it (Go's BurntSushi/toml v1 encoder, encode.go), for the
 * files a buildpack reads back with its own tools (a shell buildpack greps `store.toml`): keys of a table
 * sorted, plain values before sub-tables, each nesting level indented by two spaces, a blank line before
 * top-level tables and before each `[[array]]` table. Values are as Go holds JSON it decoded: every number is a
 * float64 (`3` becomes `3.0`, `1e6` becomes `1e+06`), `null` is left out.
 */
import { isTable, type Table } from "./toml.ts";

type Value = unknown;

/** Encode a document (the top-level table) as BurntSushi's `toml.NewEncoder(w).Encode(doc)`. */
export function encodeGoToml(doc: Table): string {
  const out: string[] = [];
  let written = false;
  const write = (s: string) => {
    out.push(s);
    written = true;
  };
  const newline = () => {
    if (written) write("\n");
  };
  const indent = (key: string[]) => "  ".repeat(key.length - 1);
  const keyString = (key: string[]) => key.map(quoteKey).join(".");

  const element = (v: Value): void => {
    if (typeof v === "string") write(quoteString(v));
    else if (typeof v === "boolean") write(String(v));
    else if (typeof v === "number") write(goFloat(v));
    else if (Array.isArray(v)) {
      write("[");
      v.forEach((e, i) => {
        element(e);
        if (i !== v.length - 1) write(", ");
      });
      write("]");
    } else if (isTable(v)) map([], v, true);
    else write('""');
  };
  const keyValue = (key: string[], v: Value, inline: boolean) => {
    write(`${inline ? "" : indent(key)}${quoteKey(key[key.length - 1]!)} = `);
    element(v);
    if (!inline) newline();
  };
  const encode = (key: string[], v: Value) => {
    if (v === null || v === undefined) return;
    if (isTableArray(v)) {
      for (const t of v) {
        newline();
        write(`${indent(key)}[[${keyString(key)}]]`);
        newline();
        map(key, t, false);
      }
    } else if (isTable(v)) {
      if (key.length === 1) newline();
      if (key.length > 0) {
        write(`${indent(key)}[${keyString(key)}]`);
        newline();
      }
      map(key, v, false);
    } else keyValue(key, v, false);
  };
  const map = (key: string[], t: Table, inline: boolean) => {
    const direct: string[] = [];
    const sub: string[] = [];
    for (const k of Object.keys(t)) (isTable(t[k]) || isTableArray(t[k]) ? sub : direct).push(k);
    const writeKeys = (keys: string[], trailingComma: boolean) => {
      keys.sort(byBytes);
      keys.forEach((k, i) => {
        const v = t[k];
        if (v === null || v === undefined) return;
        if (inline) {
          keyValue([k], v, true);
          if (trailingComma || i !== keys.length - 1) write(", ");
        } else encode([...key, k], v);
      });
    };
    if (inline) write("{");
    writeKeys(direct, sub.length > 0);
    writeKeys(sub, false);
    if (inline) write("}");
  };

  encode([], doc);
  return out.join("");
}

function isTableArray(v: Value): v is Table[] {
  return Array.isArray(v) && v.length > 0 && v.every(isTable);
}

/** Go compares strings byte by byte (UTF-8). */
function byBytes(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

function quoteKey(k: string): string {
  if (k === "") return '""';
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : quoteString(k);
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\t": "\\t",
  "\n": "\\n",
  "\f": "\\f",
  "\r": "\\r",
};

function quoteString(s: string): string {
  const body = s.replace(
    /["\\\x00-\x1f\x7f]/g,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${body}"`;
}

/** Go's `strconv.FormatFloat(f, 'g', -1, 64)` plus BurntSushi's `floatAddDecimal`. */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n < 0 ? "-inf" : "inf";
  const neg = n < 0 || Object.is(n, -0);
  const [mantissa, e] = Math.abs(n).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const exp = Number(e);
  let s: string;
  if (n !== 0 && (exp < -4 || exp >= 6)) {
    const a = Math.abs(exp);
    s = `${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ""}e${exp < 0 ? "-" : "+"}${a < 10 ? `0${a}` : a}`;
  } else if (n === 0) s = "0";
  else if (exp >= 0) {
    const int = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    const frac = digits.slice(exp + 1);
    s = frac ? `${int}.${frac}` : int;
  } else s = `0.${"0".repeat(-exp - 1)}${digits}`;
  if (!s.includes(".") && !s.includes("e")) s += ".0";
  return neg ? `-${s}` : s;
}
