import { mkdir, readFile, symlink, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TarIndex } from "../../../src/oci/archive/index.ts";
import { encodeHeader, encodePax, padding } from "../../../src/tar/index.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { ls, writeTar } from "./helpers.ts";

const longDir = `${"d".repeat(60)}/${"e".repeat(60)}`;
const longName = `${longDir}/${"f".repeat(120)}.txt`;

let dir: string;
beforeAll(async () => {
  dir = await tempDir("berth-archive-tarindex-");
  const src = join(dir, "src");
  await mkdir(join(src, longDir), { recursive: true });
  await mkdir(join(src, "sub"), { recursive: true });
  await writeFile(join(src, longName), "long name content\n");
  await writeFile(join(src, "sub", "data.bin"), Buffer.alloc(70_000, 7));
  await writeFile(join(src, "short.txt"), "short\n");
  await symlink("../short.txt", join(src, "sub", "link"));
  await mkdir(join(src, "deep"), { recursive: true });
  await symlink(`../${longName}`, join(src, "deep", "longlink"));
  await run("ln", [join(src, "short.txt"), join(src, "hard.txt")]);
});
afterAll(async () => {
  const { rm } = await import("node:fs/promises");
  await rm(dir, { recursive: true, force: true });
});

async function text(index: TarIndex, name: string): Promise<string> {
  return (await buffer(index.openEntry(name))).toString();
}

describe("TarIndex", () => {
  for (const format of ["gnu", "pax", "ustar", "v7"] as const) {
    it(`reads a GNU tar --format=${format} archive, long names, symlinks and hardlinks included`, async () => {
      const file = join(dir, `${format}.tar`);
      const members = format === "ustar" || format === "v7" ? ["short.txt", "hard.txt", "sub"] : ["."];
      await run("tar", ["-C", join(dir, "src"), `--format=${format}`, "-cf", file, ...members]);
      const index = await TarIndex.open(file);
      expect(await text(index, "short.txt")).toBe("short\n");
      expect(await text(index, "./hard.txt")).toBe("short\n");
      expect(await text(index, "sub/link")).toBe("short\n");
      expect((await buffer(index.openEntry("sub/data.bin"))).equals(Buffer.alloc(70_000, 7))).toBe(true);
      expect(index.entry("sub/link")?.type).toBe("symlink");
      if (format === "gnu" || format === "pax") {
        expect(await text(index, longName)).toBe("long name content\n");
        expect(await text(index, "deep/longlink")).toBe("long name content\n");
      }
      await index.close();
    });
  }

  it("reads a ustar name split into prefix and name", async () => {
    const file = join(dir, "prefix.tar");
    const name = `${"p".repeat(90)}/${"q".repeat(90)}.txt`;
    await mkdir(join(dir, "pre", "p".repeat(90)), { recursive: true });
    await writeFile(join(dir, "pre", name), "prefixed\n");
    await run("tar", ["-C", join(dir, "pre"), "--format=ustar", "-cf", file, name]);
    const index = await TarIndex.open(file);
    expect(await text(index, name)).toBe("prefixed\n");
  });

  it("reads a base-256 size field", async () => {
    const file = join(dir, "b256.tar");
    await writeTar(file, [{ name: "x.txt", data: "hello" }]);
    const bytes = await readFile(file);
    bytes.fill(0, 124, 136);
    bytes[124] = 0x80;
    bytes[135] = 5;
    bytes.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += bytes[i]!;
    bytes.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    await writeFile(file, bytes);
    expect(await run("tar", ["-xOf", file, "x.txt"])).toBe("hello");
    const index = await TarIndex.open(file);
    expect(await text(index, "x.txt")).toBe("hello");
  });

  it("decompresses gzip and zstd archives into the tmp dir and removes the copy on close", async () => {
    const plain = await readFile(join(dir, "gnu.tar")).catch(async () => {
      await run("tar", ["-C", join(dir, "src"), "--format=gnu", "-cf", join(dir, "gnu.tar"), "."]);
      return readFile(join(dir, "gnu.tar"));
    });
    for (const [ext, bytes] of [
      ["gz", gzipSync(plain)],
      ["zst", zstdCompressSync(plain)],
    ] as const) {
      const file = join(dir, `c.tar.${ext}`);
      await writeFile(file, bytes);
      const tmp = join(dir, `tmp-${ext}`);
      const index = await TarIndex.open(file, { tmpDir: tmp });
      expect(index.compression).toBe(ext === "gz" ? "gzip" : "zstd");
      expect(await text(index, "sub/link")).toBe("short\n");
      expect(await ls(tmp)).toHaveLength(1);
      await index.close();
      expect(await ls(tmp)).toEqual([]);
    }
  });

  it("refuses a truncated archive with a clear error, not a hang", async () => {
    const file = join(dir, "trunc.tar");
    await run("tar", ["-C", join(dir, "src"), "-cf", file, "."]);
    await truncate(file, 40_000);
    await expect(TarIndex.open(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringMatching(/truncated/),
    });
  });

  it("refuses a truncated gzip archive and leaves no temp file", async () => {
    const file = join(dir, "trunc.tar.gz");
    await run("tar", ["-C", join(dir, "src"), "-czf", file, "."]);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const tmp = join(dir, "tmp-trunc");
    await expect(TarIndex.open(file, { tmpDir: tmp })).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: expect.stringMatching(/truncated or corrupt/),
    });
    expect(await ls(tmp)).toEqual([]);
  });

  it("refuses entries that escape the archive, naming them", async () => {
    for (const [name, spec] of [
      ["../escape", { name: "../escape", data: "x" }],
      ["a/../../escape", { name: "a/../../escape", data: "x" }],
      ["/../escape", { name: "/../escape", data: "x" }],
      ["evil", { name: "evil", type: "symlink" as const, linkname: "../../etc/passwd" }],
      ["abs", { name: "abs", type: "symlink" as const, linkname: "/etc/passwd" }],
      ["hl", { name: "hl", type: "link" as const, linkname: "../x" }],
    ] as const) {
      const file = join(dir, "escape.tar");
      await writeTar(file, [{ name: "ok.txt", data: "fine" }, spec]);
      const err = await TarIndex.open(file).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).toMatchObject({ code: "ARCHIVE_INVALID" });
      expect((err as Error).message).toContain(JSON.stringify(name));
    }
  });

  it("reads a leading / as the archive's root (pack writes its .cnb buildpackages so), as the layer extractor keeps absolute paths inside the root", async () => {
    const file = join(dir, "rooted.tar");
    await writeTar(file, [
      { name: "/index.json", data: "{}" },
      { name: "/blobs/sha256/x", data: "blob" },
    ]);
    const index = await TarIndex.open(file);
    expect(await text(index, "index.json")).toBe("{}");
    expect(await text(index, "blobs/sha256/x")).toBe("blob");
    await index.close();
  });

  it("reports a link loop and a missing entry by name", async () => {
    const file = join(dir, "loop.tar");
    await writeTar(file, [
      { name: "a", type: "symlink", linkname: "b" },
      { name: "b", type: "symlink", linkname: "a" },
    ]);
    const index = await TarIndex.open(file);
    expect(() => index.lookup("a")).toThrow(/link loop/);
    expect(() => index.require("nope")).toThrow(/has no entry "nope"/);
  });

  it("reads headers and data across its read window: many small entries, a PAX header and a file larger than the window", async () => {
    const block = (name: string, typeflag: string, size: number) =>
      encodeHeader({
        name,
        prefix: "",
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 0,
        typeflag,
        linkname: "",
        uname: "",
        gname: "",
        devmajor: 0,
        devminor: 0,
      });
    const entry = (name: string, typeflag: string, data: Buffer) => [
      block(name, typeflag, data.length),
      data,
      Buffer.alloc(padding(data.length)),
    ];
    const files = new Map<string, Buffer>();
    const parts: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const data = Buffer.alloc((i * 997) % 3000, i % 251);
      if (i === 150) {
        // 100 KB of PAX records, then the name they give the entry
        const pax = encodePax(
          new Map([
            ["comment", Buffer.alloc(100_000, 0x61)],
            ["path", Buffer.from(`pax-${i}`)],
          ]),
        );
        parts.push(...entry("PaxHeaders/x", "x", pax));
      }
      const name = i === 150 ? `pax-${i}` : `f${i}`;
      files.set(name, i === 300 ? Buffer.alloc(200_000, 3) : data);
      parts.push(...entry(`f${i}`, "0", files.get(name)!));
    }
    const file = join(dir, "window.tar");
    await writeFile(file, Buffer.concat([...parts, Buffer.alloc(1024)]));
    const index = await TarIndex.open(file);
    expect(index.names()).toEqual([...files.keys()]);
    for (const [name, data] of files)
      expect((await buffer(index.openEntry(name))).equals(data), name).toBe(true);
    await index.close();
  });

  it("refuses a file that is not a tar", async () => {
    const file = join(dir, "not.tar");
    await writeFile(file, Buffer.alloc(2048, 0x41));
    await expect(TarIndex.open(file)).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: /not a tar/,
    });
    await expect(TarIndex.open(join(dir, "absent.tar"))).rejects.toMatchObject({
      code: "ARCHIVE_INVALID",
      message: /does not exist/,
    });
  });
});
