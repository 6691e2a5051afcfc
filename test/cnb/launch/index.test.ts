/**
 * berth's launcher without a compiler (issue 15 §1): the one prebuilt in the package (dist/launcher/<arch>,
 * scripts/build.ts) is taken before gcc is looked for, but only when it was built from the shipped source.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  berthLauncher,
  compileLauncher,
  launcherSourceHash,
  launcherSourcePath,
} from "../../../src/cnb/launch/index.ts";
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
