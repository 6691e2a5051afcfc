/**
 * `buildWithBuildpacks` (src/cnb/build.ts) refuses bad options before any work, and `creationSeconds` reads
 * `--creation-time`. A build itself is exercised through the CLI (test/cnb/builder.test.ts and the others).
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type BuildWithBuildpacksOptions,
  buildWithBuildpacks,
  creationSeconds,
} from "../../src/cnb/build.ts";
import { silentLogger } from "../../src/cnb/log.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";

describe("creationSeconds", () => {
  it("seconds as given, 'now' from the clock given (never the machine's), nothing when not given", () => {
    expect(creationSeconds({ creationTime: "0" })).toBe(0);
    expect(creationSeconds({ creationTime: "1700000000" })).toBe(1700000000);
    expect(creationSeconds({ creationTime: "now", now: () => new Date(1234567890999) })).toBe(1234567890);
    expect(creationSeconds({ creationTime: "now" })).toBe(0);
    expect(creationSeconds({})).toBeUndefined();
    expect(creationSeconds({ creationTime: "" })).toBeUndefined();
  });

  it("anything else is a usage error quoting it", () => {
    for (const t of ["-1", "1.5", "2026-01-01T00:00:00Z", "NOW", " 1"]) {
      expect(() => creationSeconds({ creationTime: t })).toThrow(
        expect.objectContaining({
          code: "USAGE",
          message: `--creation-time ${JSON.stringify(t)} is not a number of seconds or "now"`,
        }),
      );
    }
  });
});

describe("buildWithBuildpacks: bad options, refused before any work", () => {
  async function build(extra: Partial<BuildWithBuildpacksOptions>, project?: string) {
    const home = await tempDir("berth-cnb-build-");
    const app = join(home, "app");
    await writeFile(join(home, "marker"), "");
    await mkdir(app);
    if (project) await writeFile(join(app, "project.toml"), project);
    const err = await buildWithBuildpacks({
      appDir: app,
      image: parseImageArgument("app:1"),
      ctx: { home, env: {} },
      logger: silentLogger,
      ...extra,
    }).catch((e: unknown) => e);
    return { err, home };
  }

  it("no builder given nor in project.toml", async () => {
    const { err, home } = await build({}, '[_]\nschema-version = "0.2"\n');
    expect(err).toMatchObject({
      code: "USAGE",
      message: "no builder: give one with --builder (or [io.buildpacks] builder in project.toml)",
    });
    expect((await readdir(home)).sort()).toEqual(["app", "marker"]);
  });

  it("--cache-dir with --cache-image; a bad --creation-time", async () => {
    const both = await build({ builder: "b:1", cacheDir: "/tmp/c", cacheImage: "c:1" });
    expect(both.err).toMatchObject({
      code: "USAGE",
      message: "--cache-dir and --cache-image cannot be used together",
    });
    expect((await readdir(both.home)).sort()).toEqual(["app", "marker"]);
    const bad = await build({ builder: "b:1", creationTime: "yesterday" });
    expect(bad.err).toMatchObject({
      code: "USAGE",
      message: '--creation-time "yesterday" is not a number of seconds or "now"',
    });
    expect((await readdir(bad.home)).sort()).toEqual(["app", "marker"]);
  });
});
