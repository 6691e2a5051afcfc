/**
 * src/cli/commands/archive.ts: `berth save` and `berth load`, in process: several images through one
 * docker-archive, standard input spooled to a temp file that is removed after, and a bad archive named as
 * the user gave it (not by the spool file's path).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

/** The image's config digest (its image ID: a docker-archive keeps the config, not the manifest). */
async function configOf(home: string, name: string): Promise<string> {
  const r = await runCommand(["inspect", "--json", name], { home });
  return (JSON.parse(r.stdout) as { configDigest: string }).configDigest;
}

async function twoImagesSaved(): Promise<{ home: string; tar: string; configs: string[] }> {
  const home = await tempDir();
  await storedImage(home, "a:1", { "a.txt": "a" });
  await storedImage(home, "b:1", { "b.txt": "b" });
  const configs = [await configOf(home, "a:1"), await configOf(home, "b:1")];
  const tar = join(await tempDir(), "both.tar");
  const saved = await runCommand(["save", "a:1", "b:1", "-o", tar], { home });
  expect(saved.error).toBeUndefined();
  expect(saved.stderr).toMatch(/^Saved 2 images to .*both\.tar/m);
  return { home, tar, configs };
}

describe("berth save and load", () => {
  it("loads what it saved into another store, with the names and configs (image IDs)", async () => {
    const { tar, configs } = await twoImagesSaved();
    const other = await tempDir();
    const r = await runCommand(["load", "-i", tar, "--json"], { home: other });
    const images = (JSON.parse(r.stdout) as { images: { name: string; digest: string }[] }).images;
    expect(images.map((i) => i.name.split("/").pop())).toEqual(["a:1", "b:1"]);
    expect([await configOf(other, "a:1"), await configOf(other, "b:1")]).toEqual(configs);
    const text = await runCommand(["load", "-i", tar], { home: other });
    expect(
      text.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/ \S*\//, " ")),
    ).toEqual(["Loaded image: a:1", "Loaded image: b:1"]);
  });

  it("reads standard input through a spool file under BERTH_HOME/tmp, removed after", async () => {
    const { tar, configs } = await twoImagesSaved();
    const other = await tempDir();
    const r = await runCommand(["load", "--json"], { home: other, stdin: await readFile(tar) });
    expect(r.error).toBeUndefined();
    expect([await configOf(other, "a:1"), await configOf(other, "b:1")]).toEqual(configs);
    expect(r.stderr).toMatch(/Loaded 2 images from standard input/);
    expect(await readdir(join(other, "tmp"))).toEqual([]);
  });

  it("names standard input, not the spool file, when what came in is no archive", async () => {
    const home = await tempDir();
    const r = await runCommand(["load"], {
      home,
      stdin: Buffer.from("not a tar at all, just words\n".repeat(40)),
    });
    expect(r.error).toBeInstanceOf(BerthError);
    const err = r.error as BerthError;
    expect(err.code).toBe("ARCHIVE_INVALID");
    expect(err.message).toContain("standard input");
    expect(err.message).not.toContain(join(home, "tmp"));
    expect(await readdir(join(home, "tmp"))).toEqual([]);
  });

  it("names a missing input file", async () => {
    const home = await tempDir();
    const missing = join(home, "absent.tar");
    const r = await runCommand(["load", "-i", missing], { home });
    expect(r.error).toMatchObject({ code: "ARCHIVE_INVALID" });
    expect((r.error as Error).message).toContain(missing);
  });
});
