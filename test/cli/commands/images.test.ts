/**
 * src/cli/commands/images.ts: `berth images` (table, --json, a repository or tag filter), `tag` and `rmi`,
 * in process on a real store.
 */
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

interface Row {
  name: string;
  repository: string;
  tag: string;
  digest: string;
  size: number;
  platforms: number;
}

async function rows(home: string, ...filter: string[]): Promise<Row[]> {
  const r = await runCommand(["images", "--json", ...filter], { home });
  if (r.error) throw r.error;
  return (JSON.parse(r.stdout) as { images: Row[] }).images;
}

describe("berth images", () => {
  it("lists each name with its repository, tag, digest and size; filters by repository and by tag", async () => {
    const home = await tempDir();
    const a = await storedImage(home, "app:1", { "a.txt": "a" });
    const b = await storedImage(home, "app:2", { "b.txt": "bb" });
    await storedImage(home, "other:1", { "c.txt": "c" });
    const all = await rows(home);
    expect(all.map((r) => [r.repository.split("/").pop(), r.tag, r.platforms]).sort()).toEqual([
      ["app", "1", 1],
      ["app", "2", 1],
      ["other", "1", 1],
    ]);
    expect(all.every((r) => r.size > 0)).toBe(true);
    expect((await rows(home, "app")).map((r) => [r.tag, r.digest]).sort()).toEqual([
      ["1", a],
      ["2", b],
    ]);
    expect((await rows(home, "app:2")).map((r) => r.digest)).toEqual([b]);
    expect(await rows(home, "absent")).toEqual([]);
  });

  it("prints a table with short digests, full ones with --digests", async () => {
    const home = await tempDir();
    const digest = await storedImage(home, "app:1", { "a.txt": "a" });
    const short = await runCommand(["images"], { home });
    const [head, row] = short.stdout.trimEnd().split("\n");
    expect(head!.split(/\s{3,}/)).toEqual(["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]);
    expect(row!.split(/\s{3,}/).slice(0, 3)).toEqual(["app", "1", digest.slice(7, 19)]);
    const full = await runCommand(["images", "--digests"], { home });
    expect(full.stdout).toContain(digest);
  });
});

describe("berth tag and rmi", () => {
  it("tags an image under a second name, and rmi removes a name and then the blobs no name uses", async () => {
    const home = await tempDir();
    const digest = await storedImage(home, "app:1", { "a.txt": "a" });
    expect((await runCommand(["tag", "app:1", "app:stable"], { home })).error).toBeUndefined();
    expect((await rows(home)).map((r) => [r.tag, r.digest]).sort()).toEqual([
      ["1", digest],
      ["stable", digest],
    ]);
    const first = await runCommand(["rmi", "app:1"], { home });
    expect(first.stderr).toMatch(/^Untagged: .*app:1 \(sha256:[0-9a-f]{64}\)\n$/);
    const last = await runCommand(["rmi", "app:stable"], { home });
    expect(last.stderr).toMatch(/\nDeleted 3 blobs \(\d+(\.\d)? (B|KiB)\)\n$/);
    expect(await rows(home)).toEqual([]);
  });

  it("removes the names it finds and names those it does not", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    const r = await runCommand(["rmi", "-q", "gone:1", "app:1", "gone:2"], { home });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: "no image gone:1, gone:2 in the local store",
    });
    expect(r.stderr).toBe("");
    expect(await rows(home)).toEqual([]);
  });

  it("refuses to tag an image the store does not have", async () => {
    const home = await tempDir();
    const r = await runCommand(["tag", "absent:1", "b:1"], { home });
    expect(r.error).toMatchObject({ code: "IMAGE_NOT_FOUND" });
    expect((r.error as BerthError).message).toContain("absent:1");
  });
});
