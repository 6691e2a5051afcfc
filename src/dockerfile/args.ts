/**
 * The build args of a Dockerfile: the automatic platform args, the global ARGs (before the first FROM) and a
 * stage's, each with its value from --build-arg, else its default, else the global value; and what FROM takes
 * from the global ones (its base name and `--platform`). Which --build-args no ARG declared is known here.
 */
import { BerthError, wrapError } from "../errors.ts";
import { formatPlatform, hostPlatform, type Platform, parsePlatform } from "../oci/platform.ts";
import { goBool } from "../util/go-json.ts";
import { expandWord, type Vars } from "./expand.ts";
import type { Dockerfile, Instruction } from "./parse.ts";

export class BuildArgs {
  /** The global args in scope: the automatic platform args and the global ARGs that have a value. */
  readonly globals = new Map<string, string>();
  readonly #given: Readonly<Record<string, string>>;
  readonly #df: Dockerfile;
  readonly #consumed = new Set<string>();

  /** `given`: the --build-args; `platform`: the target platform (TARGETPLATFORM and its parts). */
  constructor(df: Dockerfile, given: Readonly<Record<string, string>> | undefined, platform: Platform) {
    this.#df = df;
    this.#given = given ?? {};
    const host = hostPlatform();
    const auto: Record<string, string> = {
      TARGETPLATFORM: formatPlatform(platform),
      TARGETOS: platform.os,
      TARGETARCH: platform.architecture,
      TARGETVARIANT: platform.variant ?? "",
      BUILDPLATFORM: formatPlatform(host),
      BUILDOS: host.os,
      BUILDARCH: host.architecture,
      BUILDVARIANT: host.variant ?? "",
    };
    for (const [k, v] of Object.entries(auto)) this.globals.set(k, v);
  }

  /** Declare the global ARGs (before the first FROM). */
  declareGlobal(globalArgs: readonly Instruction[]): void {
    for (const ins of globalArgs) {
      for (const [name, value] of this.declare(ins, this.globals)) {
        if (value !== undefined) this.globals.set(name, value);
        else this.globals.delete(name);
      }
    }
  }

  /** ARG name[=default] …: values from --build-arg, else the default, else the global value (`globals`). */
  declare(ins: Instruction, vars: Vars, globals?: Map<string, string>): [string, string | undefined][] {
    const out: [string, string | undefined][] = [];
    for (const word of splitArgWords(ins.args)) {
      const eq = word.indexOf("=");
      const name = eq < 0 ? word : word.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `${this.#df.name}:${ins.line}: invalid ARG name ${JSON.stringify(name)}`,
        );
      }
      this.#consumed.add(name);
      const given = this.#given[name];
      let value: string | undefined;
      if (given !== undefined) value = given;
      else if (eq >= 0) value = expandWord(word.slice(eq + 1), vars, this.#df.escape).value;
      else if (globals?.has(name)) value = globals.get(name);
      out.push([name, value]);
    }
    return out;
  }

  /** The --build-args no ARG declared (so far), but BuildKit's own (`BUILTIN_ARGS`), which the build reads. */
  unused(): string[] {
    return Object.keys(this.#given).filter((k) => !this.#consumed.has(k) && !BUILTIN_ARGS.has(k));
  }

  /** FROM's base expanded with the global ARGs; blank is an error, as BuildKit's "base name should not be blank". */
  baseName(from: Instruction, text: string): string {
    const name = expandWord(text, this.globals, this.#df.escape).value;
    if (name !== "") return name;
    throw new BerthError(
      "DOCKERFILE_SYNTAX",
      `${this.#df.name}:${from.line}: FROM ${text}: the base name is blank`,
      {
        hint: "give the ARG before the first FROM a default, or a value with --build-arg",
      },
    );
  }

  /** FROM's `--platform` expanded with the global ARGs, else `fallback` (the build's). */
  fromPlatform(from: Instruction, fallback: Platform): Platform {
    const text = from.flags.platform?.[0];
    try {
      return text ? parsePlatform(expandWord(text, this.globals, this.#df.escape).value) : fallback;
    } catch (err) {
      throw wrapError(`${this.#df.name}:${from.line}: FROM --platform`, err);
    }
  }
}

/** ARG words: `NAME`, `NAME=value`, `NAME="quoted value"`. */
export function splitArgWords(text: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*|\S+?)(?:=((?:"(?:[^"\\]|\\.)*"|'[^']*'|\S)*))?(?:\s+|$)/gy;
  for (let m = re.exec(text.trim()); m && m[0] !== ""; m = re.exec(text.trim())) {
    out.push(m[2] === undefined ? m[1]! : `${m[1]}=${m[2]}`);
  }
  return out;
}

/**
 * BuildKit's built-in build args (frontend/dockerfile/docs/reference.md, dockerui's config, buildx's
 * BUILDKIT_INLINE_CACHE): read by the build itself (`builtinArgs`; BUILDKIT_SYNTAX, BUILDKIT_BUILD_NAME and
 * BUILDKIT_HISTORY_PROVENANCE_V1 name what berth has not: a frontend image, a build history), never named unused.
 */
const BUILTIN_ARGS: ReadonlySet<string> = new Set([
  "SOURCE_DATE_EPOCH",
  "BUILDKIT_BUILD_NAME",
  "BUILDKIT_CACHE_MOUNT_NS",
  "BUILDKIT_CONTEXT_KEEP_GIT_DIR",
  "BUILDKIT_DOCKERFILE_CHECK",
  "BUILDKIT_HISTORY_PROVENANCE_V1",
  "BUILDKIT_INLINE_CACHE",
  "BUILDKIT_MULTI_PLATFORM",
  "BUILDKIT_SANDBOX_HOSTNAME",
  "BUILDKIT_SYNTAX",
]);

/** What BuildKit's built-in build args ask of a build. */
export interface BuiltinArgs {
  /** BUILDKIT_INLINE_CACHE: `--cache-to type=inline`, as buildx adds it. */
  inlineCache: boolean;
  /** BUILDKIT_MULTI_PLATFORM: an index (and a folder per platform) for one platform too; false: never several. */
  multiPlatform: boolean | undefined;
  /** BUILDKIT_SANDBOX_HOSTNAME: RUN's hostname (default `buildkitsandbox`). */
  hostname: string | undefined;
  /** BUILDKIT_CACHE_MOUNT_NS: cache mounts' ids are `NS/ID`. */
  cacheMountNamespace: string | undefined;
  /** BUILDKIT_CONTEXT_KEEP_GIT_DIR: a git context keeps its `.git`. */
  keepGitDir: boolean;
}

/**
 * The built-in build args of `args` as BuildKit reads them: a value that is not a boolean leaves
 * BUILDKIT_INLINE_CACHE and BUILDKIT_CONTEXT_KEEP_GIT_DIR off, as buildx and dockerui ignore it, and is refused for
 * BUILDKIT_MULTI_PLATFORM, as dockerui refuses it; an empty hostname or namespace is none.
 */
export function builtinArgs(args: Readonly<Record<string, string>>): BuiltinArgs {
  const multi = args.BUILDKIT_MULTI_PLATFORM;
  const multiPlatform = multi ? goBool(multi) : undefined;
  if (multi && multiPlatform === undefined) {
    throw new BerthError(
      "USAGE",
      `--build-arg BUILDKIT_MULTI_PLATFORM=${multi}: invalid boolean value for multi-platform`,
      { hint: "give BUILDKIT_MULTI_PLATFORM=1 or 0" },
    );
  }
  return {
    inlineCache: goBool(args.BUILDKIT_INLINE_CACHE) ?? false,
    multiPlatform,
    hostname: args.BUILDKIT_SANDBOX_HOSTNAME || undefined,
    cacheMountNamespace: args.BUILDKIT_CACHE_MOUNT_NS || undefined,
    keepGitDir: goBool(args.BUILDKIT_CONTEXT_KEEP_GIT_DIR) ?? false,
  };
}
