/**
 * `launch.toml` (Buildpack API 0.7–0.12), written by `bin/build`: labels, processes and slices. The parser names
 * the buildpack and the file in its errors.
 */
import { apiAtLeast } from "../api.ts";
import { Fields, type Origin, parseToml, tomlError } from "../toml.ts";

export interface Label {
  key: string;
  value: string;
}

export interface Process {
  type: string;
  command: string[];
  args: string[];
  /** Only for Buildpack API < 0.9; later processes are always direct. */
  direct: boolean;
  default: boolean;
  workingDir?: string;
  execEnv?: string[];
  buildpackId: string;
}

export interface Slice {
  paths: string[];
}

export interface LaunchToml {
  labels: Label[];
  processes: Process[];
  slices: Slice[];
}

const PROCESS_TYPE_RE = /^[A-Za-z0-9._-]+$/;

export function validateProcessType(type: string, fail: (msg: string) => Error): void {
  if (!PROCESS_TYPE_RE.test(type)) {
    throw fail(
      `process type ${JSON.stringify(type)} may only contain letters, numbers and the characters . _ -`,
    );
  }
}

export function parseLaunch(
  text: string,
  file: string,
  subject: string,
  api: string,
  buildpackId: string,
): LaunchToml {
  const origin: Origin = { file, subject, code: "CNB_BUILD_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const labels: Label[] = [];
  const seenLabels = new Set<string>();
  for (const l of doc.list("labels")) {
    const key = l.requiredStr("key");
    const value = l.str("value") ?? "";
    if (seenLabels.has(key)) throw l.fail("key", `${JSON.stringify(key)} is declared twice`);
    seenLabels.add(key);
    labels.push({ key, value });
  }
  const stringCommands = !apiAtLeast(api, "0.9");
  const processes: Process[] = [];
  const seenTypes = new Set<string>();
  let defaultType: string | undefined;
  for (const p of doc.list("processes")) {
    const type = p.requiredStr("type");
    validateProcessType(type, (msg) => p.fail("type", msg.replace(/^process type /, "")));
    if (seenTypes.has(type))
      throw p.fail("type", `${JSON.stringify(type)} is declared twice by this buildpack`);
    seenTypes.add(type);
    let command: string[];
    let direct = true;
    if (stringCommands) {
      const c = p.str("command");
      if (!c) throw p.fail("command", "is required");
      command = [c];
      direct = p.bool("direct") ?? false;
    } else {
      if (p.has("direct")) {
        throw p.fail(
          "direct",
          `is not supported by Buildpack API ${api} (processes are always direct; use ["bash", "-c", …] for a shell)`,
        );
      }
      const c = p.table.command;
      if (typeof c === "string")
        throw p.fail("command", `must be an array of strings in Buildpack API ${api}, not a string`);
      command = p.strs("command") ?? [];
      if (command.length === 0) throw p.fail("command", "must name the executable");
    }
    const proc: Process = {
      type,
      command,
      args: p.strs("args") ?? [],
      direct,
      default: p.bool("default") ?? false,
      buildpackId,
    };
    const wd = p.str("working-dir");
    if (wd) proc.workingDir = wd;
    const execEnv = p.strs("exec-env");
    if (execEnv) proc.execEnv = execEnv;
    if (proc.default) {
      if (defaultType !== undefined) {
        throw p.fail(
          "default",
          `makes ${JSON.stringify(type)} a second default process (${JSON.stringify(defaultType)} is one already)`,
        );
      }
      defaultType = type;
    }
    processes.push(proc);
  }
  const slices = doc.list("slices").map((s) => ({ paths: s.strs("paths") ?? [] }));
  for (const [i, s] of slices.entries()) {
    for (const path of s.paths) {
      if (path.split("/").includes("..")) {
        throw tomlError(origin, `slices[${i}].paths ${JSON.stringify(path)} may not leave the app directory`);
      }
    }
  }
  return { labels, processes, slices };
}
