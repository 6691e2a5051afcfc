/**
 * build/context.ts: a run's context from a builder on this filesystem (the `--isolation host` shape, so no
 * runtime): the order (builder's, `--buildpack`, project.toml's group or pre/post), the app copy, the
 * platform env, closing in reverse, and errors naming the builder and the project file.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  buildPlatformOf,
  openRun,
  type RunOptions,
  syncApp,
  writeRunEnv,
} from "../../../src/cnb/build/context.ts";
import { silentLogger } from "../../../src/cnb/log.ts";
import { parseProjectToml } from "../../../src/cnb/platform/project.ts";
import type { Image } from "../../../src/oci/image.ts";
import { hostPlatform } from "../../../src/oci/platform.ts";
import { tempDir } from "../../helpers/temp.ts";
import { multiPlatformBuildpackage } from "../helpers.ts";

let dir: string;
let root: string;
const user = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

async function buildpack(id: string, version: string): Promise<void> {
  const d = join(root, "cnb", "buildpacks", id.replaceAll("/", "_"), version);
  await mkdir(join(d, "bin"), { recursive: true });
  await writeFile(
    join(d, "buildpack.toml"),
    `api = "0.10"\n[buildpack]\nid = "${id}"\nversion = "${version}"\n`,
  );
  for (const b of ["detect", "build"]) await writeFile(join(d, "bin", b), "#!/bin/sh\n", { mode: 0o755 });
}

beforeEach(async () => {
  dir = await tempDir("berth-cnb-ctx-");
  root = join(dir, "root");
  await buildpack("a", "1.0.0");
  await buildpack("b", "2.0.0");
  await buildpack("pre", "0.1.0");
  await writeFile(
    join(root, "cnb", "order.toml"),
    '[[order]]\n[[order.group]]\nid = "a"\nversion = "1.0.0"\n[[order]]\n[[order.group]]\nid = "b"\nversion = "2.0.0"\n',
  );
  await mkdir(join(dir, "app"));
  await writeFile(join(dir, "app", "index.js"), "1");
  await writeFile(join(dir, "app", "debug.log"), "x");
});

function options(o: Partial<RunOptions> = {}): RunOptions {
  return {
    builder: "local",
    localBuilder: { root, user },
    ctx: { home: join(dir, "home"), env: {} },
    appDir: join(dir, "app"),
    workspace: join(dir, "workspace"),
    layersDir: join(dir, "layers"),
    work: join(dir, "work"),
    isolation: "host",
    hostEnv: { PATH: "/usr/bin:/bin", FROM_HOST: "h" },
    logger: silentLogger,
    ...o,
  };
}

const ids = (order: { group: { id: string }[] }[]) => order.map((g) => g.group.map((r) => r.id));

describe("openRun", () => {
  it("copies the app, writes -e into the run's platform env and walks the builder's order on this machine", async () => {
    const run = await openRun(options({ env: ["A=1", "FROM_HOST"] }));
    try {
      expect(ids(run.order)).toEqual([["a"], ["b"]]);
      expect(run.executor.kind).toBe("host");
      expect(run.paths.platform).toBe(join(dir, "work", "platform"));
      expect((await readdir(run.paths.app)).sort()).toEqual(["debug.log", "index.js"]);
      expect(await readFile(join(run.paths.platform, "env", "A"), "utf8")).toBe("1");
      expect(await readFile(join(run.paths.platform, "env", "FROM_HOST"), "utf8")).toBe("h");
      expect(run.env.get("PATH")).toBe("/usr/bin:/bin");
    } finally {
      await run.close();
    }
  });

  it("uses a step's platform dir as is when berth adds nothing, copying its env when it adds something", async () => {
    const step = join(dir, "step-platform");
    await mkdir(join(step, "env"), { recursive: true });
    await writeFile(join(step, "env", "S"), "step");
    const asIs = await openRun(options({ platformDir: step }));
    expect(asIs.paths.platform).toBe(step);
    await asIs.close();
    const copied = await openRun(options({ platformDir: step, env: ["A=1"] }));
    expect(copied.paths.platform).toBe(join(dir, "work", "platform"));
    expect((await readdir(join(copied.paths.platform, "env"))).sort()).toEqual(["A", "S"]);
    await copied.close();
  });

  it("runs what was deferred when closed, last first", async () => {
    const run = await openRun(options());
    const seen: string[] = [];
    run.defer(async () => void seen.push("first"));
    run.defer(async () => void seen.push("second"));
    await run.close();
    expect(seen).toEqual(["second", "first"]);
  });

  it("opens a --buildpack image for --platform, else for the builder's platform (pack's targetToUse)", async () => {
    const pkg = await multiPlatformBuildpackage(dir, join(dir, "home"));
    const archOf = async (o: Partial<RunOptions>) => {
      const run = await openRun(options({ buildpacks: [pkg], ...o }));
      try {
        expect(run.order).toEqual([{ group: [{ id: "examples/arch", version: "1.0.0" }] }]);
        return run.builder.store.lookup("examples/arch").descriptor.targets.map((t) => t.arch);
      } finally {
        await run.close();
      }
    };
    const other = hostPlatform().architecture === "arm64" ? "amd64" : "arm64";
    // The host's platform was used before the fix, whatever --platform said.
    expect(await archOf({ platform: { os: "linux", architecture: other } })).toEqual([other]);
    expect(await archOf({})).toEqual([hostPlatform().architecture]);
  });

  it("takes the builder image's platform when no --platform is given", async () => {
    const run = await openRun(options());
    try {
      expect(buildPlatformOf({}, run.builder)).toEqual(hostPlatform());
      const arm = { os: "linux", architecture: "arm64" };
      expect(buildPlatformOf({ platform: arm }, run.builder)).toEqual(arm);
      const image = { platform: () => ({ os: "linux", architecture: "s390x" }) } as unknown as Image;
      expect(buildPlatformOf({}, { ...run.builder, info: { ...run.builder.info, image } })).toEqual({
        os: "linux",
        architecture: "s390x",
      });
    } finally {
      await run.close();
    }
  });

  it("takes --buildpack over the builder's order", async () => {
    const run = await openRun(options({ buildpacks: ["b@2.0.0"] }));
    expect(run.order).toEqual([{ group: [{ id: "b", version: "2.0.0" }] }]);
    await run.close();
  });

  it("puts project.toml's pre and post around every builder group, and its group instead of the order", async () => {
    const file = join(dir, "app", "project.toml");
    const pre = parseProjectToml(
      '[_]\nschema-version = "0.2"\n[[io.buildpacks.pre.group]]\nid = "pre"\n[io.buildpacks]\nexclude = ["*.log"]\n',
      file,
    );
    const run = await openRun(options({ project: pre }));
    expect(ids(run.order)).toEqual([
      ["pre", "a"],
      ["pre", "b"],
    ]);
    expect(await readdir(run.paths.app)).toEqual(["index.js"]);
    await run.close();
    const group = parseProjectToml('[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nid = "b"\n', file);
    const run2 = await openRun(options({ project: group }));
    expect(run2.order).toEqual([{ group: [{ id: "b", version: "2.0.0" }] }]);
    await run2.close();
  });

  it("names the project file and the builder when a project buildpack is not in it", async () => {
    const file = join(dir, "app", "project.toml");
    const project = parseProjectToml(
      '[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nid = "c"\nversion = "9"\n',
      file,
    );
    await expect(openRun(options({ project }))).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: `${file}: group buildpack c@9 is not in the builder local`,
      hint: "give its uri (a folder, .cnb or image) in project.toml",
    });
  });

  it("names the builder it cannot read", async () => {
    await expect(openRun(options({ localBuilder: { root: join(dir, "none"), user } }))).rejects.toThrow(
      /^reading builder local: no builder on this filesystem: /,
    );
  });
});

describe("syncApp and writeRunEnv", () => {
  it("copy the app through project.toml's filter and write the platform env in order: project, files, -e", async () => {
    const project = parseProjectToml(
      '[_]\nschema-version = "0.2"\n[io.buildpacks]\ninclude = ["*.js"]\n[[io.buildpacks.build.env]]\nname = "A"\nvalue = "project"\n[[io.buildpacks.build.env]]\nname = "B"\nvalue = "project"\n',
      join(dir, "app", "project.toml"),
    );
    await syncApp({ appDir: join(dir, "app"), project }, join(dir, "copy"), user);
    expect(await readdir(join(dir, "copy"))).toEqual(["index.js"]);
    await writeFile(join(dir, "env.list"), "B=file\nC=file\n");
    await writeRunEnv({ project, envFiles: [join(dir, "env.list")], env: ["C=flag"] }, join(dir, "platform"));
    const env = join(dir, "platform", "env");
    expect(await Promise.all(["A", "B", "C"].map((k) => readFile(join(env, k), "utf8")))).toEqual([
      "project",
      "file",
      "flag",
    ]);
  });
});
