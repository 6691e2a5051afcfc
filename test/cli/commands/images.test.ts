/**
 * src/cli/commands/images.ts: `berth images` (table, --json, a repository or tag filter), `tag` and `rmi`,
 * in process on a real store.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { berth } from "../../helpers/cli.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { type Dockerd, dockerdAvailable, startDockerd } from "../../helpers/dockerd.ts";
import { tempDir } from "../../helpers/temp.ts";
import { startRegistry } from "../../registry/helpers/registry.ts";

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

  it("prints docker's table: IMAGE ID (the config digest), DIGEST after TAG with --digests, ids with -q", async () => {
    const home = await tempDir();
    const digest = await storedImage(home, "app:1", { "a.txt": "a" });
    const id = JSON.parse((await runCommand(["inspect", "--json", "app:1"], { home })).stdout).configDigest;
    const short = await runCommand(["images"], { home });
    const [head, row] = short.stdout.trimEnd().split("\n");
    expect(head!.split(/\s{3,}/)).toEqual(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]);
    // SOURCE_DATE_EPOCH 0 (append's default); "a" unpacked is one byte
    expect(row!.split(/\s{3,}/)).toEqual([
      "app",
      "1",
      id.slice(7, 19),
      expect.stringMatching(/^\d+ years ago$/),
      "1B",
    ]);
    const full = await runCommand(["images", "--digests", "--no-trunc"], { home });
    expect(
      full.stdout
        .split("\n")[1]!
        .split(/\s{3,}/)
        .slice(0, 4),
    ).toEqual(["app", "1", digest, id]);
    expect((await runCommand(["images", "-q", "-a"], { home })).stdout).toBe(`${id.slice(7, 19)}\n`);
  });

  it("an image whose layer blob the store lacks is listed with SIZE N/A (store fsck names it), not refused", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    const layer = JSON.parse((await runCommand(["inspect", "--json", "app:1"], { home })).stdout).layers[0]
      .digest;
    await rm(join(home, "store", "blobs", "sha256", layer.slice(7)));
    const r = await runCommand(["images", "--format", "{{.Repository}} {{.Size}}"], { home });
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe("app N/A\n");
  });

  it("counts a layer's content once: later listings take it from cache/images/content-sizes.json", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    await storedImage(home, "other:1", { "b.txt": "bb" });
    const sizes = join(home, "cache", "images", "content-sizes.json");
    const size = async (...args: string[]) =>
      (await runCommand(["images", "--format", "{{.Repository}} {{.Size}}", ...args], { home })).stdout;
    expect(await size("app")).toBe("app 1B\n");
    const [layer, n] = Object.entries(JSON.parse(await readFile(sizes, "utf8")))[0]!;
    expect(n).toBe(1);
    // the cache is believed (a digest's content never changes): a planted number shows
    await writeFile(sizes, JSON.stringify({ [layer]: 5000, [`sha256:${"0".repeat(64)}`]: 1 }));
    expect(await size("app")).toBe("app 5kB\n");
    // a listing of the whole store keeps only the store's layers; a malformed cache is counted again
    expect((await size()).split("\n").sort()).toEqual(["", "app 5kB", "other 2B"]);
    expect(Object.keys(JSON.parse(await readFile(sizes, "utf8"))).sort()).toEqual(
      expect.not.arrayContaining([`sha256:${"0".repeat(64)}`]),
    );
    await writeFile(sizes, "[1, 2");
    expect(await size("app")).toBe("app 1B\n");
  });

  it("filters by reference (path.Match: * stops at /), dangling and label", async () => {
    const home = await tempDir();
    await storedImage(home, "team/web:1", { "a.txt": "a" }, ["--label", "tier=front"]);
    await storedImage(home, "team/sub/api:1", { "b.txt": "b" }, ["--label", "tier=back"]);
    await storedImage(home, "solo:1", { "c.txt": "c" });
    const names = async (...f: string[]) =>
      (await runCommand(["images", "--format", "{{.Repository}}:{{.Tag}}", ...f], { home })).stdout
        .trim()
        .split("\n")
        .filter(Boolean)
        .sort();
    expect(await names("--filter", "reference=team/*")).toEqual(["team/web:1"]);
    expect(await names("--filter", "reference=team/*/*:1", "--filter", "reference=solo")).toEqual([
      "solo:1",
      "team/sub/api:1",
    ]);
    expect(await names("--filter", "label=tier")).toEqual(["team/sub/api:1", "team/web:1"]);
    expect(await names("--filter", "label=tier=front")).toEqual(["team/web:1"]);
    expect(await names("--filter", "dangling=true")).toEqual([]);
    expect(await names("--filter", "dangling=false", "--filter", "label=tier=back")).toEqual([
      "team/sub/api:1",
    ]);
  });
});

describe.skipIf(!dockerdAvailable())("berth images compared with docker images", () => {
  let dockerd: Dockerd;
  let home: string;

  beforeAll(async () => {
    home = await tempDir();
    const links = await tempDir();
    await storedImage(home, "web:1", { "a.txt": "x".repeat(5000), "d/b.txt": "yy" }, [
      "--label",
      "tier=front",
    ]);
    await runCommand(["tag", "web:1", "web:latest"], { home });
    await runCommand(["tag", "web:1", "team/api:2"], { home });
    await storedImage(home, "solo:1", { "big.bin": "z".repeat(1_234_567) });
    const archive = join(links, "all.tar");
    const s = await runCommand(["save", "web:1", "web:latest", "team/api:2", "solo:1", "-o", archive], {
      home,
    });
    expect(s.error).toBeUndefined();
    dockerd = await startDockerd();
    await dockerd.docker(["load", "-i", archive]);
  }, 240_000);

  afterAll(async () => {
    await dockerd?.stop();
  });

  /** The header as printed, the rows sorted: both images were created at the same second, which docker orders at random. */
  const lines = (s: string, table: boolean) => {
    const all = s.split("\n").map((l) => l.trimEnd());
    return table ? [all[0], ...all.slice(1).sort()] : all.sort();
  };

  it("the table, --no-trunc, -q, -a, a repository, --filter and --format print what docker prints", async () => {
    for (const flags of [
      [],
      ["--no-trunc"],
      ["-q"],
      ["-q", "--no-trunc"],
      ["-a"],
      ["web"],
      ["web:latest"],
      ["--filter", "reference=web"],
      ["--filter", "reference=*/*"],
      ["--filter", "label=tier=front", "-q"],
      ["--filter", "label=tier", "--filter", "reference=team/*"],
      ["--filter", "dangling=false"],
      ["--filter", "dangling=true"],
      ["--format", "{{.Repository}}:{{.Tag}}"],
      ["-q", "--format", "{{.Repository}} {{.Size}}"],
      ["--format", "table", "--no-trunc"],
      ["--format", "table", "-q"],
      ["--format", "{{.ID}} {{json .Size}} {{.CreatedAt}} {{.CreatedSince}}", "--no-trunc"],
      ["--format", "table {{.ID}}\\t{{.Repository}}\\t{{.CreatedAt}}\\t{{.VirtualSize}}\\t{{.Containers}}"],
    ]) {
      const theirs = await dockerd.docker(["images", ...flags]);
      const ours = await runCommand(["images", ...flags], { home });
      expect(ours.error, flags.join(" ")).toBeUndefined();
      // a table's first line is its header (capitals); ids and names are lower case
      const table = /^[A-Z]/.test(theirs);
      expect(lines(ours.stdout, table), flags.join(" ")).toEqual(lines(theirs, table));
    }
  });

  it("--digests of an image docker pulled from a registry: the same table, the manifest's digest", async () => {
    const reg = await startRegistry();
    try {
      const name = `${reg.host}/team/solo:1`;
      expect((await runCommand(["push", "solo:1", name], { home })).error).toBeUndefined();
      expect((await runCommand(["pull", "-q", name], { home })).error).toBeUndefined();
      await dockerd.docker(["pull", "-q", name]);
      for (const flags of [
        ["--digests"],
        ["--digests", "--no-trunc"],
        ["--format", "{{json .}}"],
        ["--digests", "--format", "{{.Repository}} {{.Digest}} {{json .}}"],
      ]) {
        const theirs = await dockerd.docker(["images", ...flags, `${reg.host}/team/solo`]);
        const ours = await runCommand(["images", ...flags, `${reg.host}/team/solo`], { home });
        expect(ours.stdout, flags.join(" ")).toBe(theirs);
      }
    } finally {
      await reg.stop();
    }
  });

  it("CreatedAt in the local zone, named as Go names it (CET, NST, IST, -03), as docker prints it", async () => {
    for (const TZ of ["Europe/Berlin", "America/St_Johns", "Asia/Kolkata", "America/Sao_Paulo"]) {
      const args = ["images", "--format", "{{.CreatedAt}}", "solo:1"];
      const theirs = await dockerd.docker(args, { env: { TZ } });
      const ours = await berth(args, { home, env: { TZ } });
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout, TZ).toBe(theirs);
    }
  });

  it("--digests and {{json .}}: docker shows <none> for a loaded image's DIGEST, berth the manifest's digest; .Digest needs --digests", async () => {
    const digest = (await runCommand(["digest", "solo:1"], { home })).stdout.trim();
    const theirs = await dockerd.docker(["images", "--digests", "solo"]);
    const ours = (await runCommand(["images", "--digests", "solo"], { home })).stdout;
    const cells = (t: string) =>
      t
        .trimEnd()
        .split("\n")
        .map((l) => l.split(/\s{3,}/));
    const expected = cells(theirs);
    expect(expected[1]![2]).toBe("<none>");
    expected[1]![2] = digest;
    expect(cells(ours)).toEqual(expected);
    // .Digest is docker's only with --digests, <none> without
    const json = await dockerd.docker(["images", "--format", "{{json .}}", "solo"]);
    const mine = (await runCommand(["images", "--format", "{{json .}}", "solo"], { home })).stdout;
    expect(mine).toBe(json);
    const withDigests = await dockerd.docker(["images", "--digests", "--format", "{{json .}}", "solo"]);
    const mineWith = (await runCommand(["images", "--digests", "--format", "{{json .}}", "solo"], { home }))
      .stdout;
    expect(mineWith).toBe(withDigests.replace("\\u003cnone\\u003e", digest));
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
