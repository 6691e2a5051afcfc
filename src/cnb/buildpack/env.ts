/**
 * Environment variables and the spec's environment-file rules (lifecycle env/env.go): a file name is
 * `<NAME>[.<action>]`; actions `override`, `default`, `append`, `prepend`; a `<NAME>.delim` file gives the
 * delimiter for append and prepend (none otherwise); contents are used verbatim. Layer directories add
 * `bin` → PATH, `lib` → LD_LIBRARY_PATH and LIBRARY_PATH, `include` → CPATH, `pkgconfig` → PKG_CONFIG_PATH.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { ConfinedTree } from "../../util/confined.ts";

export type EnvAction = "override" | "default" | "append" | "prepend";

/** Layer sub-directories and the path variables they are prepended to (POSIX build env). */
export const ROOT_DIR_VARS: Readonly<Record<string, readonly string[]>> = {
  bin: ["PATH"],
  lib: ["LD_LIBRARY_PATH", "LIBRARY_PATH"],
  include: ["CPATH"],
  pkgconfig: ["PKG_CONFIG_PATH"],
};

/** At launch only `bin` and `lib` (→ LD_LIBRARY_PATH) apply. */
export const LAUNCH_ROOT_DIR_VARS: Readonly<Record<string, readonly string[]>> = {
  bin: ["PATH"],
  lib: ["LD_LIBRARY_PATH"],
};

/** What the lifecycle passes through from its own environment to buildpacks (lc env/build.go). */
export const BUILD_ENV_INCLUDE = [
  "CNB_STACK_ID",
  "HOSTNAME",
  "HOME",
  "HTTPS_PROXY",
  "https_proxy",
  "HTTP_PROXY",
  "http_proxy",
  "NO_PROXY",
  "no_proxy",
];

const PATH_SEP = ":";

export interface EnvFile {
  name: string;
  /** undefined: no suffix (the directory's default action). */
  action: string | undefined;
  value: string;
}

/** Env files are read up to this size (Linux caps one environment string at 128 KiB anyway). */
const MAX_ENV_FILE = 1024 * 1024;

/** A directory inside a tree berth reads without leaving it (a buildpack's layers directory). */
export interface TreeDir {
  tree: ConfinedTree;
  /** The directory, relative to the tree's root. */
  rel: string;
}

/**
 * The env files of one directory, in name order; `.delim` files are returned as values of `delims`. Read
 * confined (util/confined.ts): a plain path is a tree of its own; a symlink out of the tree, a FIFO or device
 * is an UNSAFE_PATH error.
 */
export async function readEnvDir(
  dir: string | TreeDir,
): Promise<{ files: EnvFile[]; delims: Map<string, string> }> {
  const { tree, rel } =
    typeof dir === "string"
      ? { tree: new ConfinedTree(dir, { owner: dir, name: "its directory", seenAs: dir }), rel: "" }
      : dir;
  const entries = (await tree.readdir(rel)) ?? [];
  const files: EnvFile[] = [];
  const delims = new Map<string, string>();
  const names = entries.map((e) => e.name).sort();
  for (const fileName of names) {
    const p = rel === "" ? fileName : `${rel}/${fileName}`;
    const kind = await tree.kind(p);
    if (!kind || kind === "dir") continue;
    const value = (await tree.readText(p, MAX_ENV_FILE)) ?? "";
    const dot = fileName.indexOf(".");
    const name = dot < 0 ? fileName : fileName.slice(0, dot);
    const action = dot < 0 ? undefined : fileName.slice(dot + 1);
    if (action === "delim") delims.set(name, value);
    files.push({ name, action, value });
  }
  return { files, delims };
}

/** An ordered set of environment variables with the CNB modification rules. */
export class Env {
  readonly vars = new Map<string, string>();
  readonly rootDirVars: Readonly<Record<string, readonly string[]>>;

  constructor(initial: Iterable<[string, string]> = [], rootDirVars = ROOT_DIR_VARS) {
    for (const [k, v] of initial) this.vars.set(k, v);
    this.rootDirVars = rootDirVars;
  }

  /** The build environment's start: `env` filtered to the include list and the path variables. */
  static forBuild(env: Record<string, string | undefined> | readonly string[]): Env {
    const keep = new Set([...BUILD_ENV_INCLUDE, ...Object.values(ROOT_DIR_VARS).flat()]);
    const pairs: [string, string][] = Array.isArray(env)
      ? (env as readonly string[]).map((e) => {
          const i = e.indexOf("=");
          return i < 0 ? [e, ""] : [e.slice(0, i), e.slice(i + 1)];
        })
      : Object.entries(env as Record<string, string | undefined>).filter(
          (e): e is [string, string] => e[1] !== undefined,
        );
    return new Env(pairs.filter(([k]) => keep.has(k)));
  }

  clone(): Env {
    return new Env(this.vars, this.rootDirVars);
  }

  get(name: string): string {
    return this.vars.get(name) ?? "";
  }

  set(name: string, value: string): void {
    this.vars.set(name, value);
  }

  isRootVar(name: string): boolean {
    return Object.values(this.rootDirVars).some((v) => v.includes(name));
  }

  /**
   * Prepend a layer's `bin`, `lib`, … to the path variables. `hostDir` is checked for the sub-directories;
   * `runDir` is the same layer as the buildpack sees it (the two differ inside a container).
   */
  async addRootDir(hostDir: string, runDir = hostDir): Promise<void> {
    for (const [sub, names] of Object.entries(this.rootDirVars)) {
      const st = await stat(join(hostDir, sub)).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      for (const name of names) {
        const cur = this.get(name);
        this.set(name, `${runDir}/${sub}${cur ? PATH_SEP + cur : ""}`);
      }
    }
  }

  /** Apply one env file with an action; unknown actions (and `delim`) change nothing. */
  apply(name: string, action: string, value: string, delim: string | undefined): void {
    const cur = this.get(name);
    switch (action) {
      case "prepend":
        this.set(name, value + (cur ? (delim ?? "") + cur : ""));
        break;
      case "append":
        this.set(name, (cur ? cur + (delim ?? "") : "") + value);
        break;
      case "override":
        this.set(name, value);
        break;
      case "default":
        if (cur === "") this.set(name, value);
        break;
    }
  }

  /** Apply a directory of env files; files without a suffix use `defaultAction`. */
  async addEnvDir(dir: string | TreeDir, defaultAction: EnvAction): Promise<void> {
    const { files, delims } = await readEnvDir(dir);
    for (const f of files) {
      this.apply(f.name, f.action ?? defaultAction, f.value, delims.get(f.name));
    }
  }

  /**
   * The environment a buildpack runs with (lc `WithOverrides`): `<platform>/env/*` (path variables
   * prepended with `:`, others overridden; skipped for clear-env buildpacks) and then `<build-config>/env/`
   * with `default` as the action for files without a suffix. Returns a new Env.
   */
  async withOverrides(platformDir: string | undefined, buildConfigDir: string | undefined): Promise<Env> {
    const out = this.clone();
    if (platformDir) {
      const { files } = await readEnvDir(join(platformDir, "env"));
      for (const f of files) {
        const name = f.action === undefined ? f.name : `${f.name}.${f.action}`;
        if (out.isRootVar(name)) {
          const cur = out.get(name);
          out.set(name, f.value + (cur ? PATH_SEP + cur : ""));
        } else {
          out.set(name, f.value);
        }
      }
    }
    if (buildConfigDir) await out.addEnvDir(join(buildConfigDir, "env"), "default");
    return out;
  }

  list(): string[] {
    return [...this.vars].map(([k, v]) => `${k}=${v}`);
  }

  toRecord(): Record<string, string> {
    return Object.fromEntries(this.vars);
  }
}
