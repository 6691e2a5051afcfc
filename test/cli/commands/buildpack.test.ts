/**
 * src/cli/commands/buildpack.ts: where `berth buildpack package OUT` writes for each --format and
 * --publish, the refusals of combinations that make no sense, and packaging a buildpack folder in process.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageTarget } from "../../../src/cli/commands/buildpack.ts";
import { BerthError } from "../../../src/errors.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

function refused(fn: () => unknown): [string, string] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return [(err as BerthError).code, (err as BerthError).message];
  }
  throw new Error("expected a refusal");
}

describe("packageTarget", () => {
  it("writes --format file to an oci-archive at the path, taken from the current folder", () => {
    expect(packageTarget("out/bp.cnb", "file", false, "/work")).toEqual({
      transport: "oci-archive",
      path: "/work/out/bp.cnb",
      ref: undefined,
      text: "oci-archive:/work/out/bp.cnb",
    });
    expect(packageTarget("oci-archive:bp.cnb", "file", false, "/w")).toMatchObject({ path: "/w/bp.cnb" });
  });

  it("writes --format image to the store, or with --publish to the registry", () => {
    expect(packageTarget("team/bp:1", "image", false, "/w")).toEqual({
      transport: "store",
      ref: "team/bp:1",
      text: "team/bp:1",
    });
    expect(packageTarget("127.0.0.1:5000/team/bp:1", "image", true, "/w")).toMatchObject({
      transport: "docker",
      ref: "127.0.0.1:5000/team/bp:1",
    });
  });

  it("refuses a file with --publish or a transport, and an unknown format", () => {
    expect(refused(() => packageTarget("bp.cnb", "file", true, "/w"))).toEqual([
      "USAGE",
      "--publish writes an image to a registry; it does not go with --format file",
    ]);
    expect(refused(() => packageTarget("oci:./l:bp", "file", false, "/w"))).toEqual([
      "USAGE",
      "--format file writes a .cnb file, so OUT must be a path, not oci:./l:bp",
    ]);
    expect(refused(() => packageTarget("bp", "zip", false, "/w"))).toEqual([
      "USAGE",
      '--format must be image or file, not "zip"',
    ]);
  });
});

describe("berth buildpack package, in process", () => {
  it("packages a buildpack folder into a .cnb file", async () => {
    const dir = await tempDir();
    const bp = join(dir, "bp");
    await mkdir(join(bp, "bin"), { recursive: true });
    await writeFile(
      join(bp, "buildpack.toml"),
      'api = "0.10"\n[buildpack]\nid = "test/hello"\nversion = "0.0.1"\n[[stacks]]\nid = "*"\n',
    );
    for (const b of ["detect", "build"])
      await writeFile(join(bp, "bin", b), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    await writeFile(join(dir, "package.toml"), '[buildpack]\nuri = "bp"\n');
    const r = await runCommand(
      ["buildpack", "package", "hello.cnb", "--config", "package.toml", "--format", "file"],
      { home: join(dir, "home"), cwd: dir },
    );
    expect(r.error).toBeUndefined();
    const shown = await runCommand(["inspect", "--json", `oci-archive:${join(dir, "hello.cnb")}`], {
      home: join(dir, "home"),
    });
    const labels = (JSON.parse(shown.stdout) as { labels: Record<string, string> }).labels;
    expect(JSON.parse(labels["io.buildpacks.buildpackage.metadata"]!)).toMatchObject({
      id: "test/hello",
      version: "0.0.1",
    });
  });
});
