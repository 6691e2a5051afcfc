/**
 * src/cli/commands/default-builder.ts: which builder.toml berth's default builder is made from, and `berth
 * builder default` showing, setting and resetting the builder `berth build` uses (in process; --create,
 * which runs debootstrap, is left to test/cnb/).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { defaultBuilderToml } from "../../../src/cli/commands/default-builder.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("defaultBuilderToml", () => {
  it("is the package's builders/default/builder.toml, unless BERTH_DEFAULT_BUILDER_TOML names another", async () => {
    const own = defaultBuilderToml({});
    expect(own.endsWith(join("builders", "default", "builder.toml"))).toBe(true);
    expect(existsSync(own)).toBe(true);
    expect(await readFile(own, "utf8")).toContain("[[buildpacks]]");
    expect(defaultBuilderToml({ BERTH_DEFAULT_BUILDER_TOML: "/b/builder.toml" })).toBe("/b/builder.toml");
  });
});

describe("berth builder default", () => {
  it("shows berth's own, sets another, and --reset goes back", async () => {
    const home = await tempDir();
    const show = async () => (await runCommand(["builder", "default"], { home })).stdout;
    expect(await show()).toBe("berth/default-builder:bookworm (berth's own)\n");
    const set = await runCommand(["builder", "default", "127.0.0.1:5000/team/builder:1"], { home });
    expect(set.stdout).toBe("127.0.0.1:5000/team/builder:1\n");
    expect(await readFile(join(home, "default-builder"), "utf8")).toBe("127.0.0.1:5000/team/builder:1\n");
    expect(await show()).toBe("127.0.0.1:5000/team/builder:1\n");
    await runCommand(["builder", "default", "--reset"], { home });
    expect(await show()).toBe("berth/default-builder:bookworm (berth's own)\n");
  });

  it("refuses a name that is no image reference, and keeps the setting", async () => {
    const home = await tempDir();
    await runCommand(["builder", "default", "team/builder:1"], { home });
    const r = await runCommand(["builder", "default", "Bad Name"], { home });
    expect(r.error).toMatchObject({ code: "REFERENCE_INVALID" });
    expect((r.error as Error).message).toContain("Bad Name");
    expect((await runCommand(["builder", "default"], { home })).stdout).toBe("team/builder:1\n");
  });
});
