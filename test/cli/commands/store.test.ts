/**
 * src/cli/commands/store.ts: `berth store gc` (a dry run, then the blobs no name uses and stale ownerless
 * temporary entries, never a tree with a mount inside) and `berth store fsck` (a damaged blob is
 * STORE_CORRUPT naming it), in process on real stores.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";

interface GcJson {
  removed: string[];
  bytes: number;
  staleTemp: string[];
}

async function gcJson(home: string, ...flags: string[]): Promise<GcJson> {
  const r = await runCommand(["store", "gc", "--json", ...flags], { home });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout) as GcJson;
}

describe("berth store gc", () => {
  it("lists the unused blobs on a dry run, then removes them; the tagged image's stay", async () => {
    const home = await tempDir();
    await storedImage(home, "keep:1", { "k.txt": "keep" });
    const stray = join(home, "store", "blobs", "sha256", "0".repeat(64));
    await writeFile(stray, "stray");
    const dry = await gcJson(home, "--dry-run");
    expect(dry).toMatchObject({ removed: [`sha256:${"0".repeat(64)}`], bytes: 5, staleTemp: [] });
    expect((await readdir(join(home, "store", "blobs", "sha256"))).includes("0".repeat(64))).toBe(true);
    const text = await runCommand(["store", "gc"], { home });
    expect(text.stdout).toBe("Removed 1 blobs (5 B)\n");
    expect((await readdir(join(home, "store", "blobs", "sha256"))).includes("0".repeat(64))).toBe(false);
    expect((await runCommand(["store", "fsck"], { home })).error).toBeUndefined();
  });

  it("removes ownerless temporary entries older than a day, keeps fresh ones and those with a mount", async () => {
    const home = await tempDir();
    await storedImage(home, "a:1", { "a.txt": "a" });
    const tmp = join(home, "tmp");
    const old = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    for (const name of ["stale", "fresh", "mounted"])
      await mkdir(join(tmp, name, "inside"), { recursive: true });
    await utimes(join(tmp, "stale"), old, old);
    await utimes(join(tmp, "mounted"), old, old);
    const root = process.geteuid?.() === 0;
    if (root) execFileSync("mount", ["-t", "tmpfs", "tmpfs", join(tmp, "mounted", "inside")]);
    try {
      const r = await gcJson(home);
      expect(r.staleTemp).toEqual(root ? [join(tmp, "stale")] : [join(tmp, "stale"), join(tmp, "mounted")]);
      expect((await readdir(tmp)).sort()).toEqual(root ? ["fresh", "mounted"] : ["fresh"]);
    } finally {
      if (root) execFileSync("umount", [join(tmp, "mounted", "inside")]);
    }
  });

  it("removes an ownerless snapshot folder older than a day (an older berth's, killed while making it)", async () => {
    const home = await tempDir();
    await storedImage(home, "a:1", { "a.txt": "a" });
    const tmp = join(home, "snapshots", "tmp");
    const old = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    await mkdir(join(tmp, "stream-0a0b0c0d0e0f", "fs"), { recursive: true });
    await utimes(join(tmp, "stream-0a0b0c0d0e0f"), old, old);
    expect((await gcJson(home)).staleTemp).toEqual([join(tmp, "stream-0a0b0c0d0e0f")]);
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe("berth store gc oci:DIR", () => {
  const blobsOf = async (layout: string) =>
    (await readdir(join(layout, "blobs", "sha256"))).map((h) => `sha256:${h}`).sort();

  it("removes what umoci gc removes from a copy: blobs no entry of index.json reaches", async () => {
    const dir = await tempDir();
    const layout = join(dir, "layout");
    // a and b share a's layer; c is untagged again (umoci rm), its blobs left; one loose blob
    await umociImage(layout, "a", [[{ path: "a", content: "a\n" }]]);
    await umociImage(layout, "b", [[{ path: "a", content: "a\n" }], [{ path: "b", content: "b\n" }]]);
    await umociImage(layout, "c", [[{ path: "c", content: "c\n" }]]);
    await run("umoci", ["rm", "--image", `${layout}:c`]);
    await writeFile(join(layout, "blobs", "sha256", "0".repeat(64)), "loose");
    const copy = join(dir, "copy");
    await cp(layout, copy, { recursive: true });
    await run("umoci", ["gc", "--layout", copy]);
    const before = await blobsOf(layout);
    const kept = await blobsOf(copy);
    expect(kept.length).toBeLessThan(before.length - 1);

    const home = await tempDir();
    const dry = await gcJson(home, `oci:${layout}`, "--dry-run");
    expect(dry.removed).toEqual(before.filter((d) => !kept.includes(d)));
    expect(await blobsOf(layout)).toEqual(before);
    const done = await gcJson(home, `oci:${layout}`);
    expect(done).toMatchObject({ removed: dry.removed, bytes: dry.bytes, staleTemp: [] });
    expect(await blobsOf(layout)).toEqual(kept);
    expect(await readdir(home)).not.toContain("store");
    // umoci reads what is left
    await run("umoci", ["stat", "--image", `${layout}:b`]);
  });

  it.each([
    ["gc", "collects"],
    ["fsck", "checks"],
  ])("store %s refuses what is not a whole OCI layout, in one sentence", async (command, verb) => {
    const home = await tempDir();
    const layout = join(home, "layout");
    await umociImage(layout, "a", [[{ path: "a", content: "a\n" }]]);
    const error = async (arg: string) => (await runCommand(["store", command, arg], { home })).error;
    expect(await error(`oci:${layout}:a`)).toMatchObject({
      code: "USAGE",
      message: `store ${command} ${verb} a whole layout: "oci:${layout}:a" names a tag`,
    });
    expect(await error("docker://localhost:5000/a:1")).toMatchObject({
      code: "USAGE",
      message: `store ${command} ${verb} an OCI layout (oci:DIR), not "docker://localhost:5000/a:1"`,
    });
    expect(await error(`oci:${join(home, "none")}`)).toMatchObject({ code: "IMAGE_NOT_FOUND" });
    expect(await error(`oci:${home}`)).toMatchObject({ code: "LAYOUT_INVALID" });
  });
});

describe("berth store fsck", () => {
  it("counts a sound store's images and blobs", async () => {
    const home = await tempDir();
    await storedImage(home, "a:1", { "a.txt": "a" });
    const r = await runCommand(["store", "fsck", "--json"], { home });
    expect(JSON.parse(r.stdout)).toMatchObject({ schemaVersion: 1, images: 1, blobs: 3, problems: [] });
  });

  it("names a damaged blob and fails with STORE_CORRUPT", async () => {
    const home = await tempDir();
    await storedImage(home, "a:1", { "a.txt": "a" });
    const raw = await runCommand(["inspect", "--raw", "a:1"], { home });
    const layer = (JSON.parse(raw.stdout) as { layers: { digest: string }[] }).layers[0]!.digest;
    await writeFile(join(home, "store", "blobs", ...layer.split(":")), "damaged");
    const r = await runCommand(["store", "fsck"], { home });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({ code: "STORE_CORRUPT", message: "the store has 1 problem" });
    expect(r.stdout.split("\n")[0]).toMatch(/^Checked 1 images, 3 blobs \(/);
    expect(r.stdout).toContain(layer);
  });

  it("checks an OCI layout umoci wrote (oci:DIR), leaving the store alone, and names its damaged blob", async () => {
    const home = await tempDir();
    const layout = join(home, "layout");
    await umociImage(layout, "a", [[{ path: "a", content: "a\n" }]]);
    await umociImage(layout, "b", [[{ path: "a", content: "a\n" }], [{ path: "b", content: "b\n" }]]);
    const sound = await runCommand(["store", "fsck", "--json", `oci:${layout}`], { home });
    expect(sound.error).toBeUndefined();
    // a and b share a's layer: 2 manifests, 2 configs, 2 layers
    expect(JSON.parse(sound.stdout)).toMatchObject({ images: 2, blobs: 6, problems: [] });
    expect(await readdir(home)).not.toContain("store");

    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    const b = index.manifests.find((m) => m.annotations["org.opencontainers.image.ref.name"] === "b")!;
    const manifest = JSON.parse(await readFile(join(layout, "blobs", ...b.digest.split(":")), "utf8")) as {
      layers: { digest: string }[];
    };
    const damaged = manifest.layers[1]!.digest;
    await writeFile(join(layout, "blobs", ...damaged.split(":")), "damaged");
    const r = await runCommand(["store", "fsck", `oci:${layout}`], { home });
    expect(r.error).toMatchObject({
      code: "STORE_CORRUPT",
      message: `the layout oci:${layout} has 1 problem`,
    });
    expect(r.stdout).toContain(`b: `);
    expect(r.stdout).toContain(damaged);
    // umoci agrees the blob is bad
    await expect(run("umoci", ["unpack", "--image", `${layout}:b`, join(home, "b")])).rejects.toThrow();
  });
});
