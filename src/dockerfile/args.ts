/**
 * The build args of a Dockerfile: the automatic platform args, the global ARGs (before the first FROM) and a
 * stage's, each with its value from --build-arg, else its default, else the global value; and what FROM takes
 * from the global ones (its base name and `--platform`). Which --build-args no ARG declared is known here.
 */
import { BerthError, wrapError } from "../errors.ts";
import { formatPlatform, hostPlatform, type Platform, parsePlatform } from "../oci/platform.ts";
import { expandWord, type Vars } from "./expand.ts";
import { CHECK_ARG } from "./lint-rules.ts";
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

  /** The --build-args no ARG declared (so far); BUILDKIT_DOCKERFILE_CHECK is the build checks'. */
  unused(): string[] {
    return Object.keys(this.#given).filter((k) => !this.#consumed.has(k) && k !== CHECK_ARG);
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
