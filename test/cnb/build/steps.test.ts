/**
 * build/steps.ts: the name an image is shown by, and analyze's run image for the build's platform. (The other
 * steps need a build image and run in test/cnb/cli/ and test/cnb/build.test.ts.)
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openRun } from "../../../src/cnb/build/context.ts";
import { analyze, type BuildContext, nameOf } from "../../../src/cnb/build/steps.ts";
import { silentLogger } from "../../../src/cnb/log.ts";
import { hostPlatform } from "../../../src/oci/platform.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";
import { twoPlatformImage } from "../helpers.ts";

describe("nameOf", () => {
  it("is the reference for store and registry images, the argument as given for the others", () => {
    expect(nameOf(parseImageArgument("app:1"))).toBe("app:1");
    expect(nameOf(parseImageArgument("docker://127.0.0.1:5000/app:1"))).toBe("127.0.0.1:5000/app:1");
    expect(nameOf(parseImageArgument("oci:/tmp/layout:app"))).toBe("oci:/tmp/layout:app");
  });
});

describe("analyze", () => {
  it("picks the run image of the build's platform from a multi-platform run image", async () => {
    const dir = await tempDir("berth-cnb-steps-");
    const ctx = { home: join(dir, "home"), env: {} };
    const runImage = await twoPlatformImage(dir, ctx.home);
    const root = join(dir, "root");
    await mkdir(join(root, "cnb", "buildpacks"), { recursive: true });
    await writeFile(join(root, "cnb", "order.toml"), "");
    await mkdir(join(dir, "app"));
    const other = hostPlatform().architecture === "arm64" ? "amd64" : "arm64";
    const run = await openRun({
      builder: "local",
      localBuilder: { root, user: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } },
      platform: { os: "linux", architecture: other },
      ctx,
      appDir: join(dir, "app"),
      workspace: join(dir, "workspace"),
      layersDir: join(dir, "layers"),
      work: join(dir, "work"),
      isolation: "host",
      hostEnv: {},
      logger: silentLogger,
    });
    try {
      const c = {
        ...run,
        image: parseImageArgument(`oci:${join(dir, "out")}:app`),
        project: undefined,
        opts: { runImage },
      } as unknown as BuildContext;
      // The host's platform picked the host's run image before the fix, whatever --platform said.
      const { target } = await analyze(c);
      expect(target.arch).toBe(other);
      expect(await readFile(join(run.paths.layers, "analyzed.toml"), "utf8")).toContain(`arch = "${other}"`);
    } finally {
      await run.close();
    }
  });
});
