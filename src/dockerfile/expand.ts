/**
 * Variable substitution and quote removal with the Dockerfile's shell-like rules (BuildKit's `shell.Lex`):
 * `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?message}`;
 * single quotes are literal, double quotes allow `$` expansion, the esc character escapes the next one.
 */
import { BerthError } from "../errors.ts";

export type Vars = ReadonlyMap<string, string>;

interface Piece {
  text: string;
  /** Whether the text may be split on whitespace (unquoted expansion or literal). */
  split: boolean;
}

class Lexer {
  readonly #s: string;
  readonly #vars: Vars;
  readonly #esc: string;
  #i = 0;
  /** Names looked up, so callers can tell which build args an instruction used. */
  readonly used = new Set<string>();

  constructor(s: string, vars: Vars, esc: string) {
    this.#s = s;
    this.#vars = vars;
    this.#esc = esc;
  }

  /** Process until `stop` (a character ending a nested word, such as `}`), unquoted. */
  pieces(stop?: string): Piece[] {
    const out: Piece[] = [];
    const s = this.#s;
    while (this.#i < s.length) {
      const c = s[this.#i]!;
      if (stop !== undefined && c === stop) break;
      if (c === this.#esc) {
        this.#i++;
        if (this.#i < s.length) out.push({ text: s[this.#i++]!, split: false });
        else out.push({ text: c, split: false });
      } else if (c === "'") {
        this.#i++;
        const end = s.indexOf("'", this.#i);
        if (end < 0) throw new BerthError("DOCKERFILE_SYNTAX", `unexpected end of text: unmatched ' in ${s}`);
        out.push({ text: s.slice(this.#i, end), split: false });
        this.#i = end + 1;
      } else if (c === '"') {
        this.#i++;
        out.push({ text: this.#doubleQuoted(), split: false });
      } else if (c === "$") {
        out.push({ text: this.#dollar(), split: true });
      } else {
        out.push({ text: c, split: true });
        this.#i++;
      }
    }
    return out;
  }

  #doubleQuoted(): string {
    const s = this.#s;
    let text = "";
    while (this.#i < s.length) {
      const c = s[this.#i]!;
      if (c === '"') {
        this.#i++;
        return text;
      }
      if (c === this.#esc && this.#i + 1 < s.length && '"$`\\'.includes(s[this.#i + 1]!)) {
        text += s[this.#i + 1];
        this.#i += 2;
      } else if (c === "$") {
        text += this.#dollar();
      } else {
        text += c;
        this.#i++;
      }
    }
    throw new BerthError("DOCKERFILE_SYNTAX", `unexpected end of text: unmatched " in ${s}`);
  }

  #lookup(name: string): string | undefined {
    this.used.add(name);
    return this.#vars.get(name);
  }

  #dollar(): string {
    const s = this.#s;
    this.#i++; // $
    if (s[this.#i] === "{") {
      this.#i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9]+/.exec(s.slice(this.#i));
      if (!m) throw new BerthError("DOCKERFILE_SYNTAX", `bad substitution in ${s}`);
      const name = m[0];
      this.#i += name.length;
      const value = this.#lookup(name);
      if (s[this.#i] === "}") {
        this.#i++;
        return value ?? "";
      }
      const op = /^(:?[-+?])/.exec(s.slice(this.#i));
      if (!op) throw new BerthError("DOCKERFILE_SYNTAX", `unsupported modifier in \${${name}…} in ${s}`);
      this.#i += op[1]!.length;
      const word = this.pieces("}")
        .map((p) => p.text)
        .join("");
      if (s[this.#i] !== "}") throw new BerthError("DOCKERFILE_SYNTAX", `missing } in ${s}`);
      this.#i++;
      const colon = op[1]!.startsWith(":");
      const set = colon ? value !== undefined && value !== "" : value !== undefined;
      switch (op[1]!.slice(-1)) {
        case "-":
          return set ? value! : word;
        case "+":
          return set ? word : "";
        default:
          if (!set) throw new BerthError("DOCKERFILE_SYNTAX", `${name}: ${word || "is not set"}`);
          return value!;
      }
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9]/.exec(s.slice(this.#i));
    if (!m) return "$";
    this.#i += m[0].length;
    return this.#lookup(m[0]) ?? "";
  }
}

export interface Expanded<T> {
  value: T;
  /** Variable names the text referred to. */
  used: Set<string>;
}

/** One word: variables expanded, quotes and escapes removed. */
export function expandWord(text: string, vars: Vars, esc = "\\"): Expanded<string> {
  const lx = new Lexer(text, vars, esc);
  const value = lx
    .pieces()
    .map((p) => p.text)
    .join("");
  return { value, used: lx.used };
}

/** Words split on unquoted whitespace, each expanded and unquoted. */
export function expandWords(text: string, vars: Vars, esc = "\\"): Expanded<string[]> {
  const lx = new Lexer(text, vars, esc);
  const words: string[] = [];
  let cur: string | undefined;
  for (const p of lx.pieces()) {
    if (!p.split) {
      cur = (cur ?? "") + p.text;
      continue;
    }
    for (const ch of p.text) {
      if (/\s/.test(ch)) {
        if (cur !== undefined) words.push(cur);
        cur = undefined;
      } else cur = (cur ?? "") + ch;
    }
  }
  if (cur !== undefined) words.push(cur);
  return { value: words, used: lx.used };
}

/**
 * Split raw text into words on unquoted whitespace without expanding or unquoting (for `KEY=VALUE` lists,
 * where each value is then expanded on its own).
 */
export function splitRaw(text: string, esc = "\\"): string[] {
  const words: string[] = [];
  let cur = "";
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === esc && quote !== "'" && i + 1 < text.length) {
      cur += c + text[i + 1];
      i++;
    } else if (quote) {
      cur += c;
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (/\s/.test(c)) {
      if (cur !== "") words.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quote) throw new BerthError("DOCKERFILE_SYNTAX", `unmatched ${quote} in ${text}`);
  if (cur !== "") words.push(cur);
  return words;
}

/**
 * `KEY=VALUE …` pairs (ENV, LABEL), or the legacy `KEY VALUE WITH SPACES` form; values expanded.
 */
export function expandPairs(text: string, vars: Vars, esc = "\\"): Expanded<[string, string][]> {
  const used = new Set<string>();
  const words = splitRaw(text, esc);
  const out: [string, string][] = [];
  if (words.length > 0 && !words[0]!.includes("=")) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(text.trim());
    if (!m) throw new BerthError("DOCKERFILE_SYNTAX", `${text.trim()} needs a value`);
    const v = expandWord(m[2]!, vars, esc);
    for (const u of v.used) used.add(u);
    out.push([expandWord(m[1]!, vars, esc).value, v.value]);
    return { value: out, used };
  }
  for (const w of words) {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new BerthError("DOCKERFILE_SYNTAX", `${w} must be KEY=VALUE`);
    const k = expandWord(w.slice(0, eq), vars, esc);
    const v = expandWord(w.slice(eq + 1), vars, esc);
    for (const u of [...k.used, ...v.used]) used.add(u);
    out.push([k.value, v.value]);
  }
  return { value: out, used };
}
