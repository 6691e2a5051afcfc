/**
 * launch/index.ts: berth's launcher without a compiler (issue 15 §1): the one prebuilt in the package
 * (dist/launcher/<arch>, scripts/build.ts) is taken before gcc is looked for, but only when it was built from
 * the shipped source; the compiler's absence named; and the builder's own lifecycle launcher found in its
 * layers (a whiteout above it hides it). What the launcher does at run time is test/cnb/launch.test.ts.
 */
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  berthLauncher,
  compileLauncher,
  launcherSourceHash,
  launcherSourcePath,
  lifecycleLauncher,
} from "../../../src/cnb/launch/index.ts";
import { buildLayer } from "../../../src/layer/index.ts";
import { type AddedLayer, mutate } from "../../../src/oci/mutate.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let prebuiltDir: string;
const NO_GCC = { PATH: "/nonexistent" };

beforeAll(async () => {
  dir = await tempDir("berth-launcher-");
  prebuiltDir = join(dir, "dist-launcher");
  await mkdir(prebuiltDir, { recursive: true });
  await compileLauncher("gcc", join(prebuiltDir, "amd64"));
}, 120_000);

describe("the prebuilt launcher", () => {
  it("is used with no compiler on PATH when built from this source", async () => {
    await writeFile(
      join(prebuiltDir, "source.sha256"),
      `${launcherSourceHash(await readFile(launcherSourcePath()))}\n`,
    );
    const l = await berthLauncher({
      home: join(dir, "home"),
      env: NO_GCC,
      prebuiltDir,
      platform: { os: "linux", architecture: "amd64" },
    });
    expect(l).toMatchObject({ kind: "berth", path: join(prebuiltDir, "amd64") });
  });

  it("is not used when built from another source, nor for an architecture it lacks", async () => {
    await writeFile(join(prebuiltDir, "source.sha256"), `${"0".repeat(64)}\n`);
    await expect(
      berthLauncher({
        home: join(dir, "home2"),
        env: NO_GCC,
        prebuiltDir,
        platform: { os: "linux", architecture: "amd64" },
      }),
    ).rejects.toThrow(/needs a C compiler \(gcc\)/);
    await writeFile(
      join(prebuiltDir, "source.sha256"),
      `${launcherSourceHash(await readFile(launcherSourcePath()))}\n`,
    );
    await expect(
      berthLauncher({
        home: join(dir, "home3"),
        env: NO_GCC,
        prebuiltDir,
        platform: { os: "linux", architecture: "arm64" },
      }),
    ).rejects.toThrow(/compiled for this machine/);
  });
});

describe("compiling berth's launcher", () => {
  it("names the compiler that is missing, with the packages to install", async () => {
    await expect(
      berthLauncher({
        home: join(dir, "home4"),
        env: NO_GCC,
        prebuiltDir: join(dir, "none"),
        cc: "no-such-cc",
      }),
    ).rejects.toMatchObject({
      code: "CNB_LAUNCHER_UNAVAILABLE",
      message: expect.stringMatching(
        /^building berth's launcher needs a C compiler \(no-such-cc\), which is not available: /,
      ),
      hint: "install gcc and libc6-dev (apt-get install gcc libc6-dev), or use a builder that carries a CNB lifecycle",
    });
  });
});

describe("lifecycleLauncher", () => {
  /** A layer of `files` (path → content) under a fresh tree. */
  async function layer(name: string, files: Record<string, string>): Promise<AddedLayer> {
    const tree = join(dir, `tree-${name}`);
    for (const [p, content] of Object.entries(files)) {
      await mkdir(join(tree, p, ".."), { recursive: true });
      await writeFile(join(tree, p), content);
    }
    const blob = join(dir, `${name}.tar.gz`);
    const l = await buildLayer(tree, blob);
    return { path: blob, mediaType: l.mediaType, digest: l.digest, size: l.size, diffId: l.diffId };
  }
  const metadata = JSON.stringify({ lifecycle: { version: "0.21.0" } });

  it("takes the builder's /cnb/lifecycle/launcher from its layers, with the lifecycle's version, and caches it", async () => {
    const builder = mutate(undefined, {
      layers: [
        await layer("lc", { "cnb/lifecycle/launcher": "LAUNCHER" }),
        await layer("other", { "etc/x": "" }),
      ],
      config: (c) => ({ ...c, Labels: { "io.buildpacks.builder.metadata": metadata } }),
    });
    const home = join(dir, "lc-home");
    const l = await lifecycleLauncher(builder, home);
    expect(l).toMatchObject({ kind: "lifecycle", version: "0.21.0" });
    expect(await readFile(l!.path, "utf8")).toBe("LAUNCHER");
    expect((await lifecycleLauncher(builder, home))?.path).toBe(l!.path);
  });

  it("is undefined when a whiteout above hides it or there is none, and remembers that", async () => {
    const hidden = mutate(undefined, {
      layers: [
        await layer("lc2", { "cnb/lifecycle/launcher": "LAUNCHER" }),
        await layer("wh", { "cnb/lifecycle/.wh.launcher": "" }),
      ],
      config: (c) => ({ ...c, Labels: { "io.buildpacks.builder.metadata": "{" } }),
    });
    const home = join(dir, "wh-home");
    expect(await lifecycleLauncher(hidden, home)).toBeUndefined();
    const cache = join(home, "cache", "cnb", "lifecycle");
    const [key] = await readdir(cache);
    expect(await readdir(join(cache, key!))).toEqual(["none"]);
    // Asked again, the answer comes from the cache: the layers are not read (their blobs are gone).
    await rm(join(dir, "lc2.tar.gz"));
    await rm(join(dir, "wh.tar.gz"));
    expect(await lifecycleLauncher(hidden, home)).toBeUndefined();
    expect(await lifecycleLauncher(mutate(undefined, {}), join(dir, "empty-home"))).toBeUndefined();
  });
});
