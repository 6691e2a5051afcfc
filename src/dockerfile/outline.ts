/**
 * `berth build --call outline` (buildx's `--call=outline`, BuildKit's frontend.outline subrequest,
 * dockerfile2llb's Dockerfile2Outline): what a target asks of whoever builds it — the build args its stages use
 * (global ARGs its FROM lines and ARG lines name, with the ones their defaults read, and its stages' own ARGs),
 * each with its value (its default, or the --build-arg given) and the description from the comment above it; the
 * secrets and SSH ids its RUN steps mount; the stage's name and description. The stages walked are the
 * target's: its base stages and the stages it copies or mounts from. Nothing is built; the images those stages
 * start FROM are opened for their ENV, which ARG defaults and mounts may read, and their ONBUILD triggers.
 */

import type { ContainerConfig } from "../oci/config.ts";
import { type Platform, parsePlatform } from "../oci/platform.ts";
import { goIndented } from "../util/go-json.ts";
import { tabulate } from "../util/tabwriter.ts";
import { expandPairs, expandWord, type Vars } from "./expand.ts";
import { parseMount } from "./instructions/mounts.ts";
import { autoArgs, triggers } from "./lint.ts";
import { argWords, imageState, setVar, tryExpand } from "./lint-stage.ts";
import type { Instruction } from "./parse.ts";
import type { ReadDockerfile } from "./read.ts";
import {
  findBaseStage,
  findStage,
  neededStages,
  type Stage,
  type StagePlan,
  stageRefs,
  targetStage,
} from "./stage.ts";

/** Where an entry was declared: the lines of its instruction. */
export interface Lines {
  line: number;
  endLine: number;
}

export interface OutlineArg extends Lines {
  name: string;
  description: string;
  /** Its default or given value; "" when it has none. */
  value: string;
}

export interface OutlineMount extends Lines {
  /** The secret's id, or the SSH agent's (`default`). */
  name: string;
  required: boolean;
}

export interface Outline {
  /** The target stage's name ("" when it has none) and the comment above its FROM. */
  name: string;
  description: string;
  args: OutlineArg[];
  secrets: OutlineMount[];
  ssh: OutlineMount[];
  /** The Dockerfile, BuildKit's one source. */
  source: string;
}

export interface OutlineInputs {
  df: ReadDockerfile;
  plan: StagePlan;
  buildArgs: Readonly<Record<string, string>>;
  target: string | undefined;
  platform: Platform;
  buildPlatform: Platform;
  /** The config of the image a stage starts FROM (its Env); asked only of the stages the target needs. */
  image: (ref: string, platform: Platform) => Promise<ContainerConfig | undefined>;
}

/** A declared ARG as BuildKit keeps it (argInfo): the global ARGs it reads, for a global one. */
interface ArgInfo extends OutlineArg {
  deps: Set<string>;
}

/** One stage's view (BuildKit's outlineCapture), with the stages it stands on. */
interface StageOutline {
  all: Map<string, ArgInfo>;
  used: Set<string>;
  secrets: Map<string, OutlineMount>;
  ssh: Map<string, OutlineMount>;
  base: StageOutline | undefined;
  deps: StageOutline[];
  /** The stage's variables at its end (what a stage built FROM it starts with). */
  env: Map<string, string>;
  /** Its args before its own lines ran: what a stage built FROM it starts with (BuildKit clones it then). */
  start: { all: Map<string, ArgInfo>; used: Set<string> };
}

/** BuildKit's getComment: the comment line that starts with the name and a space, after them. */
export function describedBy(comments: readonly string[], name: string): string {
  if (name === "") return "";
  for (const c of comments) if (c.startsWith(`${name} `)) return c.slice(name.length + 1);
  return "";
}

/** Dockerfile2Outline for `i.target` (the last stage when none is named). */
export async function outlineDockerfile(i: OutlineInputs): Promise<Outline> {
  const { df, plan, buildArgs } = i;
  const target = targetStage(plan, i.target, df.name);
  const esc = df.escape;
  const globals = autoArgs(i.platform, i.buildPlatform, i.target ?? target.name ?? "", buildArgs);
  const allGlobal = metaArgs(globals, plan.globalArgs, buildArgs, esc, df.name);
  const configs = await baseConfigs(i, target, globals);
  const outlines: StageOutline[] = [];
  for (const s of plan.stages) {
    const base = expandWord(s.baseText, globals, esc);
    const used = new Set(base.used);
    for (const v of expandWord(s.from.flags.platform?.[0] ?? "", globals, esc).used) used.add(v);
    const stage = findBaseStage(plan.stages, base.value, s.index);
    const from = stage ? outlines[stage.index] : undefined;
    const all = new Map(from?.start.all ?? allGlobal);
    const fromUsed = new Set([...(from?.start.used ?? []), ...[...used].filter((v) => globals.has(v))]);
    const o: StageOutline = {
      all,
      used: fromUsed,
      secrets: new Map(),
      ssh: new Map(),
      base: from,
      deps: [],
      env: new Map(from?.env ?? imageState(configs.get(s.index)).env),
      start: { all: new Map(all), used: new Set(fromUsed) },
    };
    outlines.push(o);
    // its base's ONBUILD triggers first (a base stage's, else the image's), at its FROM's lines
    const lines = [...triggers(stage, configs.get(s.index), s, df.name), ...s.instructions];
    dispatch(o, lines, globals, buildArgs, esc);
    for (const ins of s.instructions) {
      for (const ref of stageRefs(ins, globals)) {
        const dep = findStage(plan.stages, ref, s.index);
        if (dep && !o.deps.includes(outlines[dep.index]!)) o.deps.push(outlines[dep.index]!);
      }
    }
  }
  const top = outlines[target.index]!;
  const byLine = <T extends Lines>(xs: T[]) => xs.sort((a, b) => a.line - b.line);
  const name = target.name ?? "";
  return {
    name,
    description: describedBy(target.from.comments, name),
    args: byLine(collect(top, new Set(), (o) => usedArgs(o))),
    secrets: byLine(collect(top, new Set(), (o) => [...o.secrets.values()])),
    ssh: byLine(collect(top, new Set(), (o) => [...o.ssh.values()])),
    source: df.text,
  };
}

/** The configs of the images the target's stages start FROM (not a stage, not scratch), by stage index. */
async function baseConfigs(
  i: OutlineInputs,
  target: Stage,
  globals: Vars,
): Promise<Map<number, ContainerConfig | undefined>> {
  const esc = i.df.escape;
  const out = new Map<number, ContainerConfig | undefined>();
  await Promise.all(
    neededStages(i.plan, target, globals, i.df.name).map(async (s) => {
      const ref = expandWord(s.baseText, globals, esc).value;
      if (ref === "scratch" || findBaseStage(i.plan.stages, ref, s.index)) return;
      const p = s.from.flags.platform?.[0];
      const platform = p === undefined ? i.platform : parsePlatform(expandWord(p, globals, esc).value);
      out.set(s.index, await i.image(ref, platform));
    }),
  );
  return out;
}

/** BuildKit's buildMetaArgs: each global ARG's value (given, else its default expanded) and what it read. */
function metaArgs(
  env: Map<string, string>,
  globalArgs: readonly Instruction[],
  given: Readonly<Record<string, string>>,
  esc: string,
  file: string,
): Map<string, ArgInfo> {
  const all = new Map<string, ArgInfo>();
  for (const ins of globalArgs) {
    for (const { key, value } of argWords(ins)) {
      const info = argInfo(ins, key);
      let v = given[key];
      if (v === undefined && value !== undefined) {
        const x = tryExpand(value, env, esc);
        if (!x) throw expandError(file, ins);
        v = x.value;
        info.deps = new Set(x.matched);
        if (info.deps.delete(key)) for (const d of all.get(key)?.deps ?? []) info.deps.add(d);
      }
      if (v !== undefined) {
        setVar(env, key, v);
        info.value = v;
      }
      all.set(key, info);
    }
  }
  return all;
}

function argInfo(ins: Instruction, key: string): ArgInfo {
  const description = describedBy(ins.comments, key);
  return { name: key, description, value: "", line: ins.line, endLine: ins.endLine, deps: new Set() };
}

function expandError(file: string, ins: Instruction): Error {
  return new Error(`${file}:${ins.line}: cannot expand ${JSON.stringify(ins.text)}`);
}

/** A stage's ARG, ENV and RUN lines (triggers first) as BuildKit's dispatch records them in its outline. */
function dispatch(
  o: StageOutline,
  lines: readonly Instruction[],
  globals: Map<string, string>,
  given: Readonly<Record<string, string>>,
  esc: string,
): void {
  for (const ins of lines) {
    if (ins.keyword === "ENV") {
      for (const [k, v] of expandPairs(ins.args, o.env, esc).value) setVar(o.env, k, v);
    } else if (ins.keyword === "ARG") {
      for (const { key, value } of argWords(ins)) {
        // an ARG with no default nor value takes the global one's, and keeps the global one's place
        const inherit = value === undefined && given[key] === undefined && globals.has(key);
        const v = given[key] ?? (value === undefined ? undefined : expandWord(value, o.env, esc).value);
        const info = argInfo(ins, key);
        const got = inherit ? globals.get(key) : v;
        if (got !== undefined) {
          info.value = got;
          setVar(o.env, key, got);
        }
        if (!inherit) o.all.set(key, info);
        o.used.add(key);
      }
    } else if (ins.keyword === "RUN") mounts(o, ins, esc);
  }
}

/**
 * The secrets and SSH agents a RUN mounts, the first mention of each id kept; each field's value expanded with
 * the stage's variables first, as BuildKit's parseMount does.
 */
function mounts(o: StageOutline, ins: Instruction, esc: string): void {
  for (const text of ins.flags.mount ?? []) {
    const fields = text.split(",").map((f) => {
      const eq = f.indexOf("=");
      return eq < 0 ? f : f.slice(0, eq + 1) + expandWord(f.slice(eq + 1), o.env, esc).value;
    });
    const m = parseMount(fields.join(","));
    const at = { required: m.required, line: ins.line, endLine: ins.endLine };
    if (m.type === "secret" && !o.secrets.has(m.id!)) o.secrets.set(m.id!, { name: m.id!, ...at });
    if (m.type === "ssh" && !o.ssh.has(m.id!)) o.ssh.set(m.id!, { name: m.id!, ...at });
  }
}

/** A stage's used ARGs with the global ones their defaults read (BuildKit's markAllUsed), as declared. */
function usedArgs(o: StageOutline): ArgInfo[] {
  const mark = (keys: Iterable<string>, seen: Set<string>) => {
    for (const k of keys) {
      if (seen.has(k)) continue;
      seen.add(k);
      mark(o.all.get(k)?.deps ?? [], seen);
      o.used.add(k);
    }
  };
  mark([...o.used], new Set());
  return [...o.used].flatMap((k) => {
    const a = o.all.get(k);
    return a ? [a] : [];
  });
}

/** The stage's entries, then its base's, then its dependencies', each name once (the first met wins). */
function collect<T extends { name: string }>(
  o: StageOutline,
  seen: Set<string>,
  own: (o: StageOutline) => T[],
): T[] {
  const out: T[] = [];
  for (const x of own(o)) {
    if (seen.has(x.name)) continue;
    seen.add(x.name);
    out.push(x);
  }
  if (o.base) out.push(...collect(o.base, seen, own));
  for (const d of o.deps) out.push(...collect(d, seen, own));
  return out;
}

/** One range a line, as BuildKit's toSourceLocation gives an instruction's lines. */
export function sourceLocation(l: Lines): { ranges: { start: { line: number }; end: { line: number } }[] } {
  const ranges: { start: { line: number }; end: { line: number } }[] = [];
  for (let n = l.line; n <= Math.max(l.line, l.endLine); n++)
    ranges.push({ start: { line: n }, end: { line: n } });
  return { ranges };
}

/** The outline as BuildKit marshals it (result.json, what `--call=outline,format=json` prints), Go's omitempty. */
export function outlineJson(o: Outline): string {
  const mount = (m: OutlineMount) => ({
    name: m.name,
    ...(m.required ? { required: true } : {}),
    location: sourceLocation(m),
  });
  const doc = {
    ...(o.name ? { name: o.name } : {}),
    ...(o.description ? { description: o.description } : {}),
    ...(o.args.length
      ? {
          args: o.args.map((a) => ({
            name: a.name,
            ...(a.description ? { description: a.description } : {}),
            ...(a.value ? { value: a.value } : {}),
            location: sourceLocation(a),
          })),
        }
      : {}),
    ...(o.secrets.length ? { secrets: o.secrets.map(mount) } : {}),
    ...(o.ssh.length ? { ssh: o.ssh.map(mount) } : {}),
    sources: [Buffer.from(o.source).toString("base64")],
  };
  return goIndented(doc);
}

/** buildx's text of it (BuildKit's outline.PrintOutline): the target, then a table each of args, secrets, SSH. */
export function outlineText(o: Outline): string {
  let out = "";
  if (o.name || o.description) {
    const rows = [["TARGET:", o.name || "(default)"]];
    if (o.description) rows.push(["DESCRIPTION:", o.description]);
    out += `${tabulate(rows, 1)}\n`;
  }
  if (o.args.length) {
    const rows = o.args.map((a) => [a.name, a.value, a.description]);
    out += `${tabulate([["BUILD ARG", "VALUE", "DESCRIPTION"], ...rows], 3)}\n`;
  }
  const required = (m: OutlineMount) => [m.name, m.required ? "true" : ""];
  if (o.secrets.length) out += `${tabulate([["SECRET", "REQUIRED"], ...o.secrets.map(required)], 3)}\n`;
  if (o.ssh.length) out += `${tabulate([["SSH", "REQUIRED"], ...o.ssh.map(required)], 3)}\n`;
  return out;
}
