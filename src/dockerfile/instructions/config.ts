/**
 * Instructions that only change the image config: ENV, LABEL, EXPOSE, USER, CMD, ENTRYPOINT, VOLUME,
 * STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD (WORKDIR also makes its directory; see build.ts). The history text
 * is BuildKit's (history.ts).
 */
import { BerthError } from "../../errors.ts";
import type { ContainerConfig, Healthcheck } from "../../oci/config.ts";
import { setEnv } from "../../oci/mutate.ts";
import { expandPairs, expandWord, expandWords, type Vars } from "../expand.ts";
import { goHealthcheck, goList, goQuoteList } from "../history.ts";
import { type Instruction, jsonForm } from "../parse.ts";

export interface ConfigStep {
  /** The config after the instruction. */
  config: ContainerConfig;
  /** The instruction with variables expanded, for the cache key and history. */
  text: string;
  /** Variables it referred to. */
  used: Set<string>;
}

// µ written as an escape: the CLI bundle is ASCII only (scripts/build.ts)
const DURATION = /(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/g;
const UNIT: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `1m30s`) in nanoseconds. */
function parseDuration(text: string, flag: string): number {
  if (text === "0") return 0;
  let total = 0;
  let consumed = "";
  for (const m of text.matchAll(DURATION)) {
    total += Number(m[1]) * UNIT[m[2]!]!;
    consumed += m[0];
  }
  if (consumed !== text || consumed === "")
    throw new BerthError("DOCKERFILE_SYNTAX", `--${flag}=${text} is not a duration such as 30s or 1m30s`);
  return Math.round(total);
}

/** The command of CMD/ENTRYPOINT/HEALTHCHECK: exec form as is, shell form run by the stage's shell. */
function commandOf(ins: { json: string[] | undefined; args: string }, shell: readonly string[]): string[] {
  return ins.json ?? [...shell, ins.args];
}

/** EXPOSE's ports as BuildKit writes them: the words sorted, a range expanded into its ports, the protocol in lower case. */
function exposedPorts(words: readonly string[]): string[] {
  const exposed: string[] = [];
  for (const p of [...words].sort()) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
    const first = Number(m?.[1]);
    const last = m?.[2] === undefined ? first : Number(m[2]);
    if (!m || last < first || last > 65535)
      throw new BerthError("DOCKERFILE_SYNTAX", `invalid port ${JSON.stringify(p)}`);
    for (let n = first; n <= last; n++) exposed.push(`${n}/${(m[3] ?? "tcp").toLowerCase()}`);
  }
  return exposed;
}

/** HEALTHCHECK NONE, or CMD (exec or shell form) with its --interval, --timeout… flags. */
function healthcheckOf(ins: Instruction): Healthcheck {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(ins.args.trim());
  const kind = m?.[1]?.toUpperCase();
  if (kind === "NONE") return { Test: ["NONE"] };
  if (kind !== "CMD") throw new BerthError("DOCKERFILE_SYNTAX", "HEALTHCHECK needs CMD or NONE");
  const rest = m![2]!.trim();
  const json = jsonForm("CMD", rest);
  const hc: Healthcheck = { Test: json ? ["CMD", ...json] : ["CMD-SHELL", rest] };
  const f = ins.flags;
  if (f.interval) hc.Interval = parseDuration(f.interval[0]!, "interval");
  if (f.timeout) hc.Timeout = parseDuration(f.timeout[0]!, "timeout");
  if (f["start-period"]) hc.StartPeriod = parseDuration(f["start-period"][0]!, "start-period");
  if (f["start-interval"]) hc.StartInterval = parseDuration(f["start-interval"][0]!, "start-interval");
  if (f.retries) {
    const r = f.retries[0]!;
    if (!/^\d+$/.test(r)) throw new BerthError("DOCKERFILE_SYNTAX", `--retries=${r} is not a whole number`);
    hc.Retries = Number(r);
  }
  return hc;
}

export function applyConfigInstruction(
  ins: Instruction,
  config: ContainerConfig,
  vars: Vars,
  esc: string,
  state: { cmdSet: boolean; shell: readonly string[] },
): ConfigStep {
  const c: ContainerConfig = structuredClone(config);
  const used = new Set<string>();
  const note = (u: Set<string>) => {
    for (const x of u) used.add(x);
  };
  let text = `${ins.keyword} ${ins.args}`;
  switch (ins.keyword) {
    case "ENV": {
      const pairs = expandPairs(ins.args, vars, esc);
      note(pairs.used);
      const assignments = pairs.value.map(([k, v]) => `${k}=${v}`);
      c.Env = setEnv(c.Env ?? [], assignments);
      text = `ENV ${assignments.join(" ")}`;
      break;
    }
    case "LABEL": {
      const pairs = expandPairs(ins.args, vars, esc);
      note(pairs.used);
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of pairs.value) c.Labels[k] = v;
      text = `LABEL ${pairs.value.map(([k, v]) => `${k}=${v}`).join(" ")}`;
      break;
    }
    case "EXPOSE": {
      const ports = expandWords(ins.args, vars, esc);
      note(ports.used);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      const exposed = exposedPorts(ports.value);
      for (const p of exposed) c.ExposedPorts[p] = {};
      text = `EXPOSE ${goList(exposed)}`;
      break;
    }
    case "USER": {
      const u = expandWord(ins.args.trim(), vars, esc);
      note(u.used);
      if (u.value === "") throw new BerthError("DOCKERFILE_SYNTAX", "USER needs a user");
      c.User = u.value;
      text = `USER ${u.value}`;
      break;
    }
    case "CMD":
      c.Cmd = commandOf(ins, state.shell);
      text = `CMD ${goQuoteList(c.Cmd)}`;
      break;
    case "ENTRYPOINT":
      c.Entrypoint = commandOf(ins, state.shell);
      if (!state.cmdSet) c.Cmd = null;
      text = `ENTRYPOINT ${goQuoteList(c.Entrypoint)}`;
      break;
    case "VOLUME": {
      const vols = ins.json ?? expandWords(ins.args, vars, esc).value;
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of vols) {
        if (v.trim() === "") throw new BerthError("DOCKERFILE_SYNTAX", "VOLUME needs a path");
        c.Volumes[v] = {};
      }
      text = `VOLUME ${goList(vols)}`;
      break;
    }
    case "STOPSIGNAL": {
      const s = expandWord(ins.args.trim(), vars, esc);
      note(s.used);
      c.StopSignal = s.value;
      text = `STOPSIGNAL ${s.value}`;
      break;
    }
    case "SHELL":
      if (!ins.json || ins.json.length === 0)
        throw new BerthError("DOCKERFILE_SYNTAX", 'SHELL needs a JSON array such as ["/bin/bash", "-c"]');
      c.Shell = ins.json;
      text = `SHELL ${goList(ins.json)}`;
      break;
    case "ONBUILD": {
      const trigger = ins.args.trim();
      c.OnBuild = [...(c.OnBuild ?? []), trigger];
      text = `ONBUILD ${trigger}`;
      break;
    }
    case "HEALTHCHECK": {
      c.Healthcheck = healthcheckOf(ins);
      text = `HEALTHCHECK ${goHealthcheck(c.Healthcheck)}`;
      break;
    }
    case "MAINTAINER":
      text = `MAINTAINER ${ins.args.trim()}`;
      break;
    default:
      throw new BerthError("INTERNAL", `${ins.keyword} is not a config instruction`);
  }
  return { config: c, text, used };
}
