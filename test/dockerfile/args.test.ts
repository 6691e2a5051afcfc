/** The build args of a Dockerfile: declared, given, defaulted, global; FROM's base and --platform (src/dockerfile/args.ts). */
import { describe, expect, it } from "vitest";
import { BuildArgs, builtinArgs } from "../../src/dockerfile/args.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { formatPlatform, hostPlatform } from "../../src/oci/platform.ts";

const ARM = { os: "linux", architecture: "arm", variant: "v7" };

function argsOf(text: string, given?: Record<string, string>) {
  const df = parseDockerfile(text, "Dockerfile.test");
  const plan = splitStages(df);
  const args = new BuildArgs(df, given, ARM);
  args.declareGlobal(plan.globalArgs);
  return { args, plan };
}

describe("BuildArgs", () => {
  it("sets the automatic platform args: the target's and this machine's", () => {
    const { args } = argsOf("FROM scratch\n");
    expect(args.globals.get("TARGETPLATFORM")).toBe("linux/arm/v7");
    expect(args.globals.get("TARGETARCH")).toBe("arm");
    expect(args.globals.get("TARGETVARIANT")).toBe("v7");
    expect(args.globals.get("BUILDPLATFORM")).toBe(formatPlatform(hostPlatform()));
    expect(args.globals.get("BUILDVARIANT")).toBe(hostPlatform().variant ?? "");
  });

  it("a global ARG takes --build-arg, else its default (expanded); one without either is not in scope", () => {
    const { args } = argsOf('ARG A=one\nARG B="two $A" C D=x\nFROM scratch\n', { D: "given" });
    expect(args.globals.get("A")).toBe("one");
    expect(args.globals.get("B")).toBe("two one");
    expect(args.globals.has("C")).toBe(false);
    expect(args.globals.get("D")).toBe("given");
  });

  it("a stage's ARG without a default takes the global value; --build-args no ARG declared are unused", () => {
    const { args, plan } = argsOf("ARG V=global\nFROM scratch\nARG V\nARG W=w\n", { W: "given", X: "x" });
    const [v, w] = plan.stages[0]!.instructions;
    expect(args.declare(v!, new Map(), args.globals)).toEqual([["V", "global"]]);
    expect(args.declare(w!, new Map(), args.globals)).toEqual([["W", "given"]]);
    expect(args.unused()).toEqual(["X"]);
  });

  it("refuses an ARG name that is not one, naming the file and line", () => {
    const { args, plan } = argsOf("FROM scratch\nARG 1bad=x\n");
    expect(() => args.declare(plan.stages[0]!.instructions[0]!, new Map())).toThrow(
      'Dockerfile.test:2: invalid ARG name "1bad"',
    );
  });

  it("FROM's base and --platform are expanded with the global args; a blank base is refused with a hint", () => {
    const { args, plan } = argsOf("ARG BASE=alpine P=linux/arm64 E\nFROM --platform=$P $BASE\nFROM $E\n");
    const [one, two] = plan.stages;
    expect(args.baseName(one!.from, one!.baseText)).toBe("alpine");
    expect(args.fromPlatform(one!.from, ARM)).toEqual({ os: "linux", architecture: "arm64" });
    expect(args.fromPlatform(two!.from, ARM)).toBe(ARM);
    let err: unknown;
    try {
      args.baseName(two!.from, two!.baseText);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe("Dockerfile.test:3: FROM $E: the base name is blank");
    expect((err as { hint?: string }).hint).toMatch(/--build-arg/);
  });

  it("a bad FROM --platform names the file, line and flag", () => {
    const { args, plan } = argsOf("FROM --platform=not/a/platform/at/all scratch\n");
    expect(() => args.fromPlatform(plan.stages[0]!.from, ARM)).toThrow(
      /^Dockerfile\.test:1: FROM --platform/,
    );
  });
});

describe("builtinArgs (BuildKit's built-in build args)", () => {
  it("reads them as dockerui and buildx do: Go's booleans, empty as none, a bad multi-platform value refused", async () => {
    expect(builtinArgs({})).toEqual({
      inlineCache: false,
      multiPlatform: undefined,
      hostname: undefined,
      cacheMountNamespace: undefined,
      keepGitDir: false,
    });
    expect(
      builtinArgs({
        BUILDKIT_INLINE_CACHE: "True",
        BUILDKIT_MULTI_PLATFORM: "F",
        BUILDKIT_SANDBOX_HOSTNAME: "b",
        BUILDKIT_CACHE_MOUNT_NS: "ns",
        BUILDKIT_CONTEXT_KEEP_GIT_DIR: "yes",
      }),
    ).toEqual({
      inlineCache: true,
      multiPlatform: false,
      hostname: "b",
      cacheMountNamespace: "ns",
      keepGitDir: false,
    });
    expect(() => builtinArgs({ BUILDKIT_MULTI_PLATFORM: "on" })).toThrow(
      /invalid boolean value for multi-platform/,
    );
  });
});
