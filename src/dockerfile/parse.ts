/**
 * The Dockerfile parser: parser directives (`# syntax=`, `# escape=`), line continuations with the escape
 * character, comments, JSON (exec) and shell forms, `--flag=value` options and heredocs (`<<EOF`, `<<-EOF`,
 * `<<"EOF"`). Every instruction keeps its line numbers and the text as written, for messages and history.
 */
import { BerthError } from "../errors.ts";
import { parseJson } from "../util/json.ts";

export const KEYWORDS = [
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** How a flag takes its value, as BuildKit's flag parser: a string (once), strings (repeatable), a boolean. */
type FlagKind = "string" | "strings" | "bool";

/** The flags each instruction accepts (BuildKit's dockerfile frontend); any other is an error naming the line. */
const FLAGS: Partial<Record<Keyword, Record<string, FlagKind>>> = {
  FROM: { platform: "string" },
  RUN: { mount: "strings", network: "string", security: "string" },
  COPY: {
    from: "string",
    chown: "string",
    chmod: "string",
    link: "bool",
    parents: "bool",
    exclude: "strings",
  },
  ADD: {
    chown: "string",
    chmod: "string",
    link: "bool",
    checksum: "string",
    "keep-git-dir": "bool",
    exclude: "strings",
    unpack: "bool",
  },
  HEALTHCHECK: {
    interval: "string",
    timeout: "string",
    "start-period": "string",
    "start-interval": "string",
    retries: "string",
  },
};
/** Instructions whose leading `--name[=value]` words are options. */
const FLAGGED = new Set<Keyword>(Object.keys(FLAGS) as Keyword[]);
/** Instructions that may carry heredocs. */
const HEREDOC = new Set<Keyword>(["RUN", "COPY", "ADD"]);
/** Instructions with a JSON (exec) form. */
const JSON_FORM = new Set<Keyword>(["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"]);

export interface Heredoc {
  /** The delimiter word. */
  name: string;
  content: string;
  /** Unquoted delimiter: variables in the content are expanded (COPY). */
  expand: boolean;
  /** `<<-`: leading tabs were stripped. */
  chomp: boolean;
  /** The body as written (before tabs were stripped) starts with `#!`: BuildKit runs a RUN of it as a file. */
  shebang: boolean;
}

export interface Instruction {
  keyword: Keyword;
  /** The keyword as written (`from`, `Run`): BuildKit's checks look at its casing. */
  word: string;
  /** Options (`--from=build` → from: ["build"]); a bare `--flag` has value "true". */
  flags: Record<string, string[]>;
  /** The arguments after the keyword and options, continuations joined. */
  args: string;
  /** The arguments as a JSON array when written in exec form. */
  json: string[] | undefined;
  heredocs: Heredoc[];
  /** First and last line (1-based) in the Dockerfile. */
  line: number;
  endLine: number;
  /** The instruction as written (continuations joined, heredocs left out), for messages and history. */
  text: string;
  /** The comment lines right above it (text after `#`; a bare `#` starts afresh), as BuildKit keeps them. */
  comments: string[];
  /** A blank line inside its continuation lines (BuildKit's NoEmptyContinuation check): its last line then. */
  emptyContinuation?: number;
}

export interface Dockerfile {
  /** The escape character (`\` or a backtick). */
  escape: string;
  syntax: string | undefined;
  instructions: Instruction[];
  /** Name shown in messages (default `Dockerfile`). */
  name: string;
  /** The `# check=` directive's value (BuildKit's build checks: skip, error, experimental). */
  check?: string;
}

export function dockerfileError(
  file: string,
  line: number,
  message: string,
  code: "DOCKERFILE_SYNTAX" | "DOCKERFILE_UNKNOWN_INSTRUCTION" = "DOCKERFILE_SYNTAX",
): BerthError {
  return new BerthError(code, `${file}:${line}: ${message}`, { details: { line } });
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$/;

/** Parse Dockerfile text; `name` is used in error messages. */
export function parseDockerfile(text: string, name = "Dockerfile"): Dockerfile {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  // the newline ending the last line starts no line of its own (BuildKit's scanner counts none)
  if (lines[lines.length - 1] === "") lines.pop();
  const { esc, syntax, check, next: first } = readDirectives(lines, name);
  const instructions: Instruction[] = [];
  let comments: string[] = [];
  let i = first;
  while (i < lines.length) {
    const trimmed = lines[i]!.trim();
    if (trimmed.startsWith("#")) {
      const c = trimmed.slice(1).trim();
      comments = c === "" ? [] : [...comments, c];
    }
    if (trimmed === "" || trimmed.startsWith("#")) {
      i++;
      continue;
    }
    const start = i + 1;
    const { joined, next, empty } = joinContinuations(lines, i, esc);
    i = next;
    const endLineBeforeHeredocs = i;
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(joined.trim());
    const word = m?.[1] ?? "";
    const keyword = word.toUpperCase() as Keyword;
    if (!KEYWORDS.includes(keyword)) {
      throw dockerfileError(name, start, `unknown instruction: ${word}`, "DOCKERFILE_UNKNOWN_INSTRUCTION");
    }
    const args = (m?.[2] ?? "").trim();
    const { flags, rest } = FLAGGED.has(keyword)
      ? parseFlags(args, name, start, keyword)
      : { flags: {}, rest: args };
    let heredocs: Heredoc[] = [];
    if (HEREDOC.has(keyword)) {
      const read = readHeredocs(lines, i, rest, name, start);
      heredocs = read.heredocs;
      i = read.next;
    }
    instructions.push({
      keyword,
      word,
      flags,
      args: rest,
      json: JSON_FORM.has(keyword) ? jsonForm(keyword, rest) : undefined,
      heredocs,
      line: start,
      endLine: heredocs.length ? i : endLineBeforeHeredocs,
      text: joined.trim(),
      comments,
      ...(empty ? { emptyContinuation: endLineBeforeHeredocs } : {}),
    });
    comments = [];
  }
  return { escape: esc, syntax, instructions, name, ...(check !== undefined ? { check } : {}) };
}

/**
 * Parser directives: only at the very top, before any comment, blank line or instruction. `next`: the index
 * of the first line after them.
 */
function readDirectives(
  lines: readonly string[],
  name: string,
): { esc: string; syntax: string | undefined; check: string | undefined; next: number } {
  let esc = "\\";
  let syntax: string | undefined;
  let check: string | undefined;
  let i = 0;
  const seen = new Set<string>();
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (key !== "escape" && key !== "syntax" && key !== "check") break;
    if (seen.has(key)) throw dockerfileError(name, i + 1, `only one ${key} parser directive can be used`);
    seen.add(key);
    if (key === "escape") {
      if (m[2] !== "\\" && m[2] !== "`") {
        throw dockerfileError(name, i + 1, `invalid escape token ${JSON.stringify(m[2])}: must be \\ or \``);
      }
      esc = m[2]!;
    } else if (key === "syntax") syntax = m[2];
    else check = m[2];
  }
  return { esc, syntax, check, next: i };
}

/**
 * The instruction starting at line index `i`, its continuation lines joined (comment and empty lines inside
 * are dropped). `next`: the index of the line after it; `empty`: an empty line was among them.
 */
function joinContinuations(
  lines: readonly string[],
  i: number,
  esc: string,
): { joined: string; next: number; empty: boolean } {
  let joined = "";
  let empty = false;
  let line = lines[i]!.replace(/^\s+/, "");
  for (;;) {
    const right = line.replace(/\s+$/, "");
    if (right.endsWith(esc)) {
      joined += right.slice(0, -1);
      i++;
      while (i < lines.length) {
        const t = lines[i]!.trim();
        if (t === "" || t.startsWith("#")) {
          if (t === "") empty = true;
          i++;
          continue;
        }
        break;
      }
      if (i >= lines.length) break;
      line = lines[i]!;
      continue;
    }
    joined += line;
    i++;
    break;
  }
  return { joined, next: i, empty };
}

/** The leading `--name[=value]` options of an instruction's arguments, checked, and the arguments after them. */
function parseFlags(
  args: string,
  name: string,
  start: number,
  keyword: Keyword,
): { flags: Record<string, string[]>; rest: string } {
  let rest = args;
  const flags: Record<string, string[]> = {};
  for (;;) {
    const f = /^--([^\s=]*)(=((?:"[^"]*"|'[^']*'|\S)*))?(?:\s+|$)/.exec(rest);
    if (!f) break;
    rest = rest.slice(f[0].length);
    if (f[1] === "" && f[2] === undefined) break; // `--` ends the flags
    const key = f[1]!;
    let value = f[3];
    if (value !== undefined && /^"[^"]*"$|^'[^']*'$/.test(value)) value = value.slice(1, -1);
    flags[key] = [
      ...(flags[key] ?? []),
      checkFlag(name, start, keyword, key, value, flags[key] !== undefined),
    ];
  }
  return { flags, rest };
}

/**
 * The bodies of the heredocs the arguments name, read from line index `i` on. `next`: the index of the line
 * after the last closing line.
 */
function readHeredocs(
  lines: readonly string[],
  i: number,
  rest: string,
  name: string,
  start: number,
): { heredocs: Heredoc[]; next: number } {
  const heredocs: Heredoc[] = [];
  for (const h of heredocWords(rest)) {
    const chomp = h.chomp;
    const body: string[] = [];
    const shebang = lines[i]?.startsWith("#!") ?? false;
    let closed = false;
    while (i < lines.length) {
      let l = lines[i]!;
      i++;
      if (chomp) l = l.replace(/^\t+/, "");
      if (l === h.name) {
        closed = true;
        break;
      }
      body.push(l);
    }
    if (!closed) throw dockerfileError(name, start, `heredoc <<${h.name} has no closing ${h.name} line`);
    heredocs.push({
      name: h.name,
      content: body.length ? `${body.join("\n")}\n` : "",
      expand: h.expand,
      chomp,
      shebang: shebang && body.length > 0,
    });
  }
  return { heredocs, next: i };
}

/** The arguments as a JSON array of strings (the exec form), or undefined: docker takes anything else as the shell form. */
export function jsonForm(keyword: Keyword, rest: string): string[] | undefined {
  if (!rest.startsWith("[")) return undefined;
  try {
    const parsed: unknown = parseJson(rest, keyword, "DOCKERFILE_SYNTAX");
    if (Array.isArray(parsed) && parsed.every((s) => typeof s === "string")) return parsed;
  } catch {
    // Not JSON: docker treats it as the shell form.
  }
  return undefined;
}

/**
 * A flag's value checked as BuildKit's flag parser checks it (its sentences): known to the instruction, given
 * a value when it takes one, a boolean when it is one, and given once unless it repeats.
 */
function checkFlag(
  file: string,
  line: number,
  keyword: Keyword,
  key: string,
  value: string | undefined,
  repeated: boolean,
): string {
  const known = FLAGS[keyword] ?? {};
  const kind = Object.hasOwn(known, key) ? known[key] : undefined;
  if (kind === undefined) {
    const names = Object.keys(known).map((n) => `--${n}`);
    throw new BerthError("DOCKERFILE_SYNTAX", `${file}:${line}: unknown flag: ${key}`, {
      details: { line },
      hint: names.length ? `${keyword} takes ${names.join(", ")}` : `${keyword} takes no flags`,
    });
  }
  if (repeated && kind !== "strings") throw dockerfileError(file, line, `duplicate flag specified: ${key}`);
  if (kind === "bool") {
    const v = (value ?? "true").toLowerCase();
    if (v === "true" || v === "1" || v === "t") return "true";
    if (v === "false" || v === "0" || v === "f") return "false";
    throw dockerfileError(file, line, `expecting boolean value for flag ${key}, not: ${value}`);
  }
  if (value === undefined) throw dockerfileError(file, line, `missing a value on flag: ${key}`);
  return value;
}

/**
 * Heredocs an instruction opens: each word `[fd]<<[-]NAME` (NAME any word, quoted or not, so `<<robots.txt`
 * too), as BuildKit's parser finds them; a quoted name turns expansion off.
 */
function heredocWords(rest: string): { name: string; chomp: boolean; expand: boolean }[] {
  const out: { name: string; chomp: boolean; expand: boolean }[] = [];
  for (const word of rest.match(/(?:"[^"]*"|'[^']*'|\S)+/g) ?? []) {
    const m = /^\d*<<(-?)(\S+)$/.exec(word);
    if (!m || m[2]!.includes("<<")) continue;
    const raw = m[2]!;
    const name = raw.replace(/"([^"]*)"|'([^']*)'/g, (_, a, b) => a ?? b);
    if (name === "") continue;
    out.push({ name, chomp: m[1] === "-", expand: name === raw });
  }
  return out;
}

/** Whether a COPY/ADD/RUN word opens a heredoc, and its name. */
export function heredocName(word: string): string | undefined {
  return heredocWords(word)[0]?.name;
}

/** Parse one ONBUILD trigger (an instruction line on its own). */
export function parseTrigger(text: string, file: string, line: number): Instruction {
  try {
    const [ins] = parseDockerfile(text, file).instructions;
    if (!ins) throw dockerfileError(file, line, "ONBUILD needs an instruction");
    if (ins.keyword === "ONBUILD" || ins.keyword === "FROM" || ins.keyword === "MAINTAINER") {
      throw dockerfileError(file, line, `${ins.keyword} isn't allowed as an ONBUILD trigger`);
    }
    return { ...ins, line, endLine: line };
  } catch (err) {
    if (err instanceof BerthError && !err.message.startsWith(`${file}:${line}:`)) {
      throw new BerthError(err.code, `${file}:${line}: ONBUILD ${err.message.replace(/^[^:]+:\d+: /, "")}`);
    }
    throw err;
  }
}
