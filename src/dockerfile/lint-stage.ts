/**
 * One stage walked as BuildKit's dockerfile2llb dispatches it, for the build checks that need its variables
 * (lint.ts runs it on each stage it checks): the stage's environment (its base image's or base stage's, then
 * ENV and ARG), the ARGs it declared, whether WORKDIR and SHELL were set, the CMD, ENTRYPOINT and HEALTHCHECK
 * seen; the words each instruction expands, as BuildKit expands them, with the undefined variables reported
 * and BuildKit's "(did you mean …?)".
 */
import type { Matcher } from "../layer/ignore.ts";
import type { ContainerConfig } from "../oci/config.ts";
import { splitArgWords } from "./args.ts";
import { expandWord, splitRaw, type Vars } from "./expand.ts";
import type { Checks } from "./lint-rules.ts";
import { heredocName, type Instruction } from "./parse.ts";

/** What the walk needs of the checks' inputs. */
export interface WalkInputs {
  /** The Dockerfile's escape character. */
  escape: string;
  buildArgs?: Readonly<Record<string, string>> | undefined;
  ignore?: Matcher | undefined;
}

/** Variables BuildKit never reports undefined (its SBOM scan switches). */
const NON_ENV = new Set(["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"]);
/** The PATH BuildKit gives a stage whose image sets none (linux). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SECRET = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOW = /(?:_|^)(?:public)(?:_|$)/i;

/** A stage's state as the walk goes: its environment, the ARGs it declared, whether WORKDIR and SHELL were set. */
export interface StageState {
  env: Map<string, string>;
  args: Set<string>;
  workdirSet: boolean;
  shell: boolean;
}

export function cloneState(s: StageState): StageState {
  return { env: new Map(s.env), args: new Set(s.args), workdirSet: s.workdirSet, shell: s.shell };
}

export function imageState(config: ContainerConfig | undefined): StageState {
  const env = new Map<string, string>();
  for (const e of config?.Env ?? []) {
    const eq = e.indexOf("=");
    setVar(env, eq < 0 ? e : e.slice(0, eq), eq < 0 ? "" : e.slice(eq + 1));
  }
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  return { env, args: new Set(), workdirSet: false, shell: (config?.Shell?.length ?? 0) > 0 };
}

/** A variable set anew goes last among the keys (BuildKit's EnvList: the order of the suggestions). */
export function setVar(env: Map<string, string>, key: string, value: string): void {
  env.delete(key);
  env.set(key, value);
}

/** One stage's instructions walked as BuildKit dispatches them, for the checks that need the variables. */
export class StageWalk {
  readonly #c: Checks;
  readonly #i: WalkInputs;
  readonly #st: StageState;
  readonly #globals: Vars;
  readonly #cmd: { cmd?: Instruction; entrypoint?: Instruction; healthcheck?: Instruction } = {};

  constructor(c: Checks, i: WalkInputs, st: StageState, globals: Vars) {
    this.#c = c;
    this.#i = i;
    this.#st = st;
    this.#globals = globals;
  }

  walk(instructions: readonly Instruction[]): void {
    for (const ins of instructions) this.#dispatch(ins);
  }

  #dispatch(ins: Instruction): void {
    switch (ins.keyword) {
      case "ENV":
      case "LABEL":
        this.#keyValues(ins);
        return;
      case "ADD":
      case "COPY":
        this.#copy(ins);
        return;
      case "WORKDIR":
        this.#workdir(ins);
        return;
      case "RUN":
        for (const m of ins.flags.mount ?? []) {
          for (const field of m.split(",")) {
            const eq = field.indexOf("=");
            if (eq >= 0) this.#expand(ins, field.slice(eq + 1));
          }
        }
        return;
      case "USER":
      case "STOPSIGNAL":
        this.#expand(ins, ins.args);
        return;
      case "VOLUME":
        for (const v of ins.json ?? splitRaw(ins.args, this.#i.escape)) this.#expand(ins, v);
        return;
      case "ARG":
        this.#arg(ins);
        return;
      case "CMD":
      case "ENTRYPOINT":
      case "HEALTHCHECK":
        this.#once(ins);
        return;
      case "EXPOSE":
        this.#expose(ins);
        return;
      case "SHELL":
        this.#st.shell = true;
        return;
      case "FROM":
      case "MAINTAINER":
      case "ONBUILD":
        return;
      default:
        ins.keyword satisfies never;
    }
  }

  /** Expand `text` with the stage's variables; the undefined ones BuildKit reports. */
  #expand(ins: Instruction, text: string, esc = this.#i.escape): string {
    const x = tryExpand(text, this.#st.env, esc);
    if (!x) return text;
    const keys = [...this.#st.env.keys()];
    for (const name of x.unmatched) {
      if (this.#st.args.has(name) || NON_ENV.has(name)) continue;
      const s = suggest(name, keys);
      this.#c.run(
        "UndefinedVar",
        ins,
        `Usage of undefined variable '$${name}'${s ? ` (did you mean $${s}?)` : ""}`,
      );
    }
    return x.value;
  }

  /** ENV and LABEL: `KEY=VALUE …`, or the legacy `KEY VALUE`; ENV's keys checked for secrets. */
  #keyValues(ins: Instruction): void {
    const words = splitRaw(ins.args, this.#i.escape);
    const legacy = words.length > 0 && !words[0]!.includes("=");
    const pairs = legacy
      ? [
          ins.args
            .trim()
            .split(/\s+(.*)/s)
            .slice(0, 2) as [string, string],
        ]
      : words.map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)] as [string, string]);
    const expanded = pairs.map(([k, v]) => [this.#expand(ins, k), this.#expand(ins, v ?? "")] as const);
    for (const [k, v] of expanded) {
      if (legacy) {
        const name = ins.word;
        this.#c.run(
          "LegacyKeyValueFormat",
          ins,
          `"${name} key=value" should be used instead of legacy "${name} key value" format`,
        );
      }
      if (ins.keyword === "ENV") {
        secrets(this.#c, ins, "ENV", k);
        setVar(this.#st.env, k, v);
      }
    }
  }

  /** COPY and ADD: their options, sources and destination; an expanding heredoc's body, raw. */
  #copy(ins: Instruction): void {
    const f = ins.flags;
    for (const k of ["chown", "chmod", ...(ins.keyword === "ADD" ? ["checksum"] : [])]) {
      this.#expand(ins, f[k]?.[0] ?? "");
    }
    const words = ins.json ?? splitRaw(ins.args, this.#i.escape);
    const sources = words.slice(0, -1).filter((w) => heredocName(w) === undefined);
    const expanded = sources.map((w) => this.#expand(ins, w));
    if (words.length > 0) this.#expand(ins, words[words.length - 1]!);
    for (const h of ins.heredocs) if (h.expand) this.#expand(ins, h.content, "\\");
    if (ins.keyword === "COPY" && f.from) return;
    for (const src of expanded) {
      if (!/^(?:https?:\/\/|git@|git:\/\/|ssh:\/\/)/.test(src) && ignored(this.#i.ignore, src)) {
        const what = ins.keyword === "ADD" ? "Add" : "Copy";
        this.#c.run(
          "CopyIgnoredFile",
          ins,
          `Attempting to ${what} file ${JSON.stringify(src)} that is excluded by .dockerignore`,
        );
      }
    }
  }

  #workdir(ins: Instruction): void {
    const path = this.#expand(ins, ins.args);
    if (!this.#st.workdirSet && !path.startsWith("/")) {
      this.#c.run(
        "WorkdirRelativePath",
        ins,
        `Relative workdir ${JSON.stringify(path)} can have unexpected results if the base image changes`,
      );
    }
    this.#st.workdirSet = true;
  }

  /** ARG: its value from --build-arg, else its default (expanded), else the global one. */
  #arg(ins: Instruction): void {
    const given = this.#i.buildArgs ?? {};
    for (const { key, value } of argWords(ins)) {
      secrets(this.#c, ins, "ARG", key);
      let v: string | undefined = given[key];
      if (v === undefined && value !== undefined) v = this.#expand(ins, value);
      else if (v === undefined) v = this.#globals.get(key);
      if (v !== undefined && !NON_ENV.has(key)) setVar(this.#st.env, key, v);
      this.#st.args.add(key);
    }
  }

  /** CMD, ENTRYPOINT, HEALTHCHECK: once a stage (the earlier one is the ignored one); CMD and ENTRYPOINT as JSON. */
  #once(ins: Instruction): void {
    const kind = ins.keyword === "CMD" ? "cmd" : ins.keyword === "ENTRYPOINT" ? "entrypoint" : "healthcheck";
    const earlier = this.#cmd[kind];
    if (earlier) {
      this.#c.run(
        "MultipleInstructionsDisallowed",
        earlier,
        `Multiple ${ins.word} instructions should not be used in the same stage because only the last one will be used`,
      );
    }
    this.#cmd[kind] = ins;
    if (kind !== "healthcheck" && ins.json === undefined && !this.#st.shell) {
      this.#c.run(
        "JSONArgsRecommended",
        ins,
        `JSON arguments recommended for ${ins.word} to prevent unintended behavior related to OS signals`,
      );
    }
  }

  /** EXPOSE: a protocol not in lowercase, an IP address or host port. */
  #expose(ins: Instruction): void {
    const words = splitRaw(ins.args, this.#i.escape).flatMap((w) => {
      const x = tryExpand(w, this.#st.env, this.#i.escape);
      return (x?.value ?? w).split(/\s+/).filter(Boolean);
    });
    for (const raw of words) {
      const parts = raw.split(":");
      const [port = "", proto = ""] = parts[parts.length - 1]!.split(/\/(.*)/s);
      // a port BuildKit cannot read stops it before its checks; the build says why
      if (port === "" || !["", "tcp", "udp", "sctp"].includes(proto.toLowerCase())) continue;
      if (proto !== proto.toLowerCase()) {
        this.#c.run(
          "ExposeProtoCasing",
          ins,
          `Defined protocol '${raw}' in EXPOSE instruction should be lowercase`,
        );
      }
      if (parts.slice(0, -2).join(":") !== "" || (parts.length > 1 && parts[parts.length - 2] !== "")) {
        this.#c.run(
          "ExposeInvalidFormat",
          ins,
          `EXPOSE instruction should not define an IP address or host-port mapping, found '${raw}'`,
        );
      }
    }
  }
}

/** patternmatcher's MatchesOrParentMatches: the path as written, or a folder above it, is excluded. */
function ignored(m: Matcher | undefined, src: string): boolean {
  return m?.excludes(src, false) ?? false;
}

function secrets(c: Checks, ins: Instruction, what: "ARG" | "ENV", key: string): void {
  if (SECRET.test(key) && !SECRET_ALLOW.test(key)) {
    c.run(
      "SecretsUsedInArgOrEnv",
      ins,
      `Do not use ARG or ENV instructions for sensitive data (${what} "${key}")`,
    );
  }
}

/** An ARG's names and raw defaults. */
export function argWords(ins: Instruction): { key: string; value: string | undefined }[] {
  return splitArgWords(ins.args).map((w) => {
    const eq = w.indexOf("=");
    return eq < 0 ? { key: w, value: undefined } : { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
}

export interface Expanded {
  value: string;
  /** Variables it looked up that were set, and those that were not, in the order it met them. */
  matched: string[];
  unmatched: string[];
}

/** `text` expanded with `vars`; undefined when the lexer refuses it (BuildKit stops there; the build says why). */
export function tryExpand(text: string, vars: Vars, esc: string): Expanded | undefined {
  try {
    const x = expandWord(text, vars, esc);
    const used = [...x.used];
    return {
      value: x.value,
      matched: used.filter((n) => vars.has(n)),
      unmatched: used.filter((n) => !vars.has(n)),
    };
  } catch {
    return undefined;
  }
}

/** BuildKit's suggest.Search: the option closest to `value` by edit distance, under 3; none for an exact one. */
export function suggest(value: string, options: readonly string[]): string | undefined {
  let match: string | undefined;
  let min = 3;
  for (const o of options) {
    if (o === value) return undefined;
    const d = levenshtein(value, o);
    if (d < min) {
      match = o;
      min = d;
    }
  }
  return match;
}

function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length]!;
}
