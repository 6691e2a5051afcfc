/** Order resolution, one rule per test, with real sh buildpacks run on this machine (--isolation host). */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../helpers/temp.ts";
import { type BpSpec, memoryLogger, phasePaths, writeBuildpack } from "../helpers.ts";
import {
  BuildpackStore,
  type DetectResult,
  detect,
  Env,
  hostExecutor,
  isBerthErrorLike,
  type Order,
  readBuildpackDir,
} from "../lib.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-detect-");
});

const provides = (...names: string[]) => names.map((n) => `[[provides]]\nname = "${n}"\n`).join("");
const requires = (...names: string[]) => names.map((n) => `[[requires]]\nname = "${n}"\n`).join("");
/** A detect that writes the plan text to $2 (the deprecated argument the samples use) and passes. */
const plan = (text: string) => `cat > "$2" <<'PLAN'\n${text}PLAN\nexit 0`;

async function run(specs: BpSpec[], order: Order, logger = memoryLogger()): Promise<DetectResult> {
  const bps = [];
  for (const s of specs) bps.push(await readBuildpackDir(await writeBuildpack(join(dir, "bps"), s)));
  const paths = await phasePaths(dir);
  return detect({
    order,
    store: new BuildpackStore(bps),
    executor: hostExecutor({ paths }),
    env: Env.forBuild({ PATH: "/usr/bin:/bin" }),
    target: { os: "linux", arch: "amd64" },
    platformApi: "0.13",
    logger,
  });
}

const g = (...refs: [string, boolean?][]): Order[number] => ({
  group: refs.map(([id, optional]) => ({ id, version: "0.0.1", ...(optional ? { optional: true } : {}) })),
});

describe("order resolution", () => {
  it("an optional buildpack that fails detection is left out; the group still passes", async () => {
    const r = await run(
      [{ id: "a" }, { id: "b", detect: "exit 100" }, { id: "c" }],
      [g(["a"], ["b", true], ["c"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["a", "c"]);
    expect(r.considered).toBe(3);
  });

  it("a non-optional buildpack that fails detection fails the group", async () => {
    const err = await run([{ id: "a" }, { id: "b", detect: "exit 100" }], [g(["a"], ["b"])]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_FAILED")).toBe(true);
    expect(err.message).toContain("b@0.0.1 (did not pass)");
  });

  it("or alternatives: the first alternative that resolves is chosen", async () => {
    const r = await run(
      [
        // Top level provides "x" that nobody requires; the `or` alternative provides "y", which b requires.
        { id: "a", detect: plan(`${provides("x")}\n[[or]]\n[[or.provides]]\nname = "y"\n`) },
        { id: "b", detect: plan(requires("y")) },
      ],
      [g(["a"], ["b"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["a", "b"]);
    expect(r.plan.entries).toEqual([
      { providers: [{ id: "a", version: "0.0.1" }], requires: [{ name: "y" }] },
    ]);
  });

  it("a requirement no one provides fails a required buildpack's group", async () => {
    const err = await run([{ id: "a", detect: plan(requires("missing")) }], [g(["a"])]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_FAILED")).toBe(true);
  });

  it("a requirement no one provides drops an optional buildpack", async () => {
    const r = await run(
      [{ id: "a" }, { id: "b", detect: plan(requires("missing")) }],
      [g(["a"], ["b", true])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["a"]);
    expect(r.plan.entries).toEqual([]);
  });

  it("a provision no one requires fails the group, or drops an optional provider", async () => {
    const err = await run([{ id: "a", detect: plan(provides("unused")) }], [g(["a"])]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_FAILED")).toBe(true);
    const r = await run(
      [{ id: "p", detect: plan(provides("unused")) }, { id: "q" }],
      [g(["p", true], ["q"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["q"]);
  });

  it("a requirement must be provided by the same or an earlier buildpack, not a later one", async () => {
    const specs = [
      { id: "req", detect: plan(requires("dep")) },
      { id: "prov", detect: plan(provides("dep")) },
    ];
    const err = await run(specs, [g(["req"], ["prov"])]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_FAILED")).toBe(true);
    const r = await run(specs, [g(["prov"], ["req"])]);
    expect(r.plan.entries).toEqual([
      { providers: [{ id: "prov", version: "0.0.1" }], requires: [{ name: "dep" }] },
    ]);
  });

  it("a buildpack may provide and require the same dependency itself, with metadata", async () => {
    const r = await run(
      [
        {
          id: "self",
          detect: plan(
            `${provides("node")}[[requires]]\nname = "node"\n[requires.metadata]\nversion = "22"\n`,
          ),
        },
      ],
      [g(["self"])],
    );
    expect(r.plan.entries).toEqual([
      {
        providers: [{ id: "self", version: "0.0.1" }],
        requires: [{ name: "node", metadata: { version: "22" } }],
      },
    ]);
  });

  it("composite buildpacks expand depth first, left to right, into the group", async () => {
    const r = await run(
      [
        { id: "pre" },
        {
          id: "comp",
          order: [
            [
              ["inner-a", "0.0.1"],
              ["inner-b", "0.0.1"],
            ],
          ],
        },
        { id: "inner-a" },
        { id: "inner-b" },
        { id: "post" },
      ],
      [g(["pre"], ["comp"], ["post"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["pre", "inner-a", "inner-b", "post"]);
  });

  it("a composite's groups are tried in order; an optional composite whose groups all fail is skipped", async () => {
    const r = await run(
      [
        { id: "comp", order: [[["x1", "0.0.1"]], [["x2", "0.0.1"]]] },
        { id: "x1", detect: "exit 100" },
        { id: "x2" },
        { id: "opt", order: [[["y1", "0.0.1"]]] },
        { id: "y1", detect: "exit 100" },
        { id: "last" },
      ],
      [g(["comp"], ["opt", true], ["last"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["x2", "last"]);
  });

  it("a failing group is followed by the next one, and the first passing group wins", async () => {
    const logger = memoryLogger();
    const r = await run(
      [{ id: "java", detect: "echo no pom.xml; exit 100" }, { id: "node" }, { id: "other" }],
      [g(["java"]), g(["node"]), g(["other"])],
      logger,
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["node"]);
    expect(logger.text()).toContain("===> DETECTING");
    expect(logger.text()).toContain("1 of 1 buildpacks participating");
    expect(logger.lines).toContain("node 0.0.1");
  });

  it("a group where every member is optional and none passes fails", async () => {
    const err = await run([{ id: "a", detect: "exit 100" }], [g(["a", true])]).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_FAILED")).toBe(true);
  });

  it("a detect error (exit status other than 0 and 100) is reported with its output", async () => {
    const logger = memoryLogger();
    const err = await run(
      [{ id: "boom", detect: "echo something broke >&2; exit 3" }],
      [g(["boom"])],
      logger,
    ).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_ERROR")).toBe(true);
    expect(err.message).toContain("boom@0.0.1 (exit status 3)");
    expect(logger.text()).toContain("======== Output: boom@0.0.1 ========");
    expect(logger.text()).toContain("something broke");
  });

  it("a bin/detect that is not executable is an error naming the buildpack and the file", async () => {
    const bpDir = await writeBuildpack(join(dir, "bps"), { id: "noexec" });
    await writeFile(join(bpDir, "bin", "detect"), "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    const { chmod } = await import("node:fs/promises");
    await chmod(join(bpDir, "bin", "detect"), 0o644);
    const logger = memoryLogger();
    const paths = {
      app: dir,
      layers: join(dir, "layers"),
      platform: join(dir, "platform"),
      buildpacks: join(dir, "bps"),
      buildConfig: join(dir, "bc"),
    };
    await mkdir(paths.layers, { recursive: true });
    const err = await detect({
      order: [g(["noexec"])],
      store: new BuildpackStore([await readBuildpackDir(bpDir)]),
      executor: hostExecutor({ paths }),
      env: new Env(),
      target: { os: "linux", arch: "amd64" },
      platformApi: "0.13",
      logger,
    }).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_ERROR")).toBe(true);
    expect(err.message).toMatch(/buildpack "noexec@0\.0\.1": .*bin\/detect is not executable/);
  });

  it("each bin/detect runs once even when it appears in several groups", async () => {
    const counter = join(dir, "count");
    await writeFile(counter, "");
    const r = await run(
      [
        { id: "shared", detect: `echo x >> ${counter}; exit 0` },
        { id: "fail", detect: "exit 100" },
      ],
      [g(["shared"], ["fail"]), g(["shared"])],
    );
    expect(r.group.group.map((m) => m.id)).toEqual(["shared"]);
    const { readFile } = await import("node:fs/promises");
    expect((await readFile(counter, "utf8")).trim().split("\n")).toHaveLength(1);
  });

  it("buildpacks whose targets do not match the base image fail the group", async () => {
    const err = await run(
      [{ id: "arm-only", extra: '\n[[targets]]\nos = "linux"\narch = "arm64"\n' }],
      [g(["arm-only"])],
    ).catch((e) => e);
    expect(isBerthErrorLike(err, "CNB_DETECT_ERROR")).toBe(true);
    expect(err.message).toContain("unable to satisfy target os/arch constraints");
  });

  it("detect gets the platform dir, plan path, buildpack dir and target env", async () => {
    const r = await run(
      [
        {
          id: "envcheck",
          detect: `test "$CNB_PLATFORM_DIR" = "$1" && test "$CNB_BUILD_PLAN_PATH" = "$2" && test -f "$CNB_BUILDPACK_DIR/buildpack.toml" && test "$CNB_TARGET_OS" = linux && test "$CNB_TARGET_ARCH" = amd64 || exit 1`,
        },
      ],
      [g(["envcheck"])],
    );
    expect(r.group.group).toHaveLength(1);
  });
});
