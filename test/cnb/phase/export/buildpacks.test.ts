/**
 * `isDir` of the buildpack-layer export (src/cnb/phase/export/buildpacks.ts): a layer directory must be the
 * buildpack's own, never a link. The layers themselves are exported through the Exporter in
 * test/cnb/phase/export.test.ts.
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isDir } from "../../../../src/cnb/phase/export/buildpacks.ts";
import { tempDir } from "../../../helpers/temp.ts";

describe("isDir", () => {
  it("a directory yes; a file or nothing no; a link to a directory is refused for a buildpack, else no", async () => {
    const dir = await tempDir("berth-cnb-export-bps-");
    await mkdir(join(dir, "layer"));
    await writeFile(join(dir, "file"), "");
    await symlink("/etc", join(dir, "link"));
    expect(await isDir(join(dir, "layer"), "buildpack acme/a")).toBe(true);
    expect(await isDir(join(dir, "file"))).toBe(false);
    expect(await isDir(join(dir, "missing"))).toBe(false);
    expect(await isDir(join(dir, "link"))).toBe(false);
    await expect(isDir(join(dir, "link"), "buildpack acme/a")).rejects.toMatchObject({
      code: "UNSAFE_PATH",
      message: `buildpack acme/a: ${join(dir, "link")} is a symlink, where a layer directory was expected; berth does not export through it`,
    });
  });
});
