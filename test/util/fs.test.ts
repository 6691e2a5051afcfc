import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import {
  checkOutputFile,
  copyRangeAtomic,
  exists,
  ownedTempDir,
  readRange,
  removeTree,
  streamToFileAtomic,
  tempName,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../src/util/fs.ts";
import { ownerOfName, selfIdentity } from "../../src/util/owner.ts";
import { tempDir } from "../helpers/temp.ts";

describe("exists", () => {
  it("is true for a file or folder, false for nothing, and throws for other errors", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "");
    expect(await exists(join(dir, "f"))).toBe(true);
    expect(await exists(dir)).toBe(true);
    expect(await exists(join(dir, "none"))).toBe(false);
    await expect(exists(join(dir, "f", "below"))).rejects.toMatchObject({ code: "ENOTDIR" });
  });
});

describe("removeTree", () => {
  it("removes a folder with what it holds, an empty one, a file; nothing there is no error", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "full", "sub"), { recursive: true });
    await writeFile(join(dir, "full", "sub", "f"), "x");
    await mkdir(join(dir, "empty"));
    await writeFile(join(dir, "file"), "x");
    for (const name of ["full", "empty", "file", "missing"]) await removeTree(join(dir, name));
    expect(await readdir(dir)).toEqual([]);
  });

  it("removes a link to a folder, not the folder it names", async () => {
    const dir = await tempDir();
    const outside = await tempDir();
    await mkdir(join(outside, "kept"));
    await symlink(join(outside, "kept"), join(dir, "link"));
    await symlink(outside, join(dir, "link-full"));
    await removeTree(join(dir, "link"));
    await removeTree(join(dir, "link-full"));
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(outside)).toEqual(["kept"]);
  });
});

describe("checkOutputFile", () => {
  it("accepts nothing there and a regular file", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "old");
    await expect(checkOutputFile(join(dir, "none"))).resolves.toBeUndefined();
    await expect(checkOutputFile(join(dir, "f"))).resolves.toBeUndefined();
  });

  it("refuses a link, a device, a folder and a pipe, naming the path and what it is", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "target"), "");
    await symlink(join(dir, "target"), join(dir, "link"));
    execFileSync("mkfifo", [join(dir, "fifo")]);
    const cases: [string, string][] = [
      [join(dir, "link"), "a symbolic link"],
      ["/dev/null", "a device"],
      [dir, "a directory"],
      [join(dir, "fifo"), "a named pipe"],
    ];
    for (const [path, kind] of cases) {
      const err = await checkOutputFile(path).catch((e: unknown) => e);
      expect(isBerthError(err, "USAGE")).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^the output ${path} is ${kind}: `));
    }
  });
});

describe("temp names", () => {
  it("carry this process's identity", async () => {
    const dir = await tempDir();
    const name = tempName(dir, "write");
    expect(dirname(name)).toBe(dir);
    expect(basename(name)).toMatch(/^\.write\.p\d+t\d+\.[0-9a-f]{8}[0-9a-z]+\.tmp$/);
    expect(ownerOfName(basename(name))).toBe(selfIdentity());
    expect(tempName(dir, "write")).not.toBe(name);
    const made = await ownedTempDir(join(dir, "new", "parent"), "build-");
    expect(ownerOfName(basename(made))).toBe(selfIdentity());
    expect((await stat(made)).isDirectory()).toBe(true);
  });
});

describe("writeFileAtomic", () => {
  it("writes the file whole with its mode, creating its folder, and leaves no temp file", async () => {
    const dir = await tempDir();
    const path = join(dir, "sub", "f.json");
    await writeFileAtomic(path, "one", 0o600);
    await writeFileAtomic(path, new Uint8Array([0x74, 0x77, 0x6f]), 0o600, { sync: false });
    expect(await readFile(path, "utf8")).toBe("two");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, "sub"))).toEqual(["f.json"]);
  });

  it("removes its temp file when the rename fails", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "taken", "inside"), { recursive: true });
    await expect(writeFileAtomic(join(dir, "taken"), "x")).rejects.toMatchObject({ code: "EISDIR" });
    expect((await readdir(dir)).sort()).toEqual(["taken"]);
  });
});

describe("writeFileAtomicSync", () => {
  it("writes the file whole with its mode, creating its folder; a failed rename leaves no temp file", async () => {
    const dir = await tempDir();
    const path = join(dir, "sub", "f.json");
    writeFileAtomicSync(path, "one", 0o600);
    writeFileAtomicSync(path, "two", 0o600);
    expect(await readFile(path, "utf8")).toBe("two");
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, "sub"))).toEqual(["f.json"]);
    await mkdir(join(dir, "taken", "inside"), { recursive: true });
    expect(() => writeFileAtomicSync(join(dir, "taken"), "x")).toThrow(/EISDIR/);
    expect((await readdir(dir)).sort()).toEqual(["sub", "taken"]);
  });
});

describe("streamToFileAtomic", () => {
  it("writes a stream of many chunks (past the 1 MiB batch) in order", async () => {
    const dir = await tempDir();
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.alloc(16 * 1024, i));
    await streamToFileAtomic(Readable.from(chunks), join(dir, "out", "blob"), join(dir, "tmp"), 0o640);
    expect((await readFile(join(dir, "out", "blob"))).equals(Buffer.concat(chunks))).toBe(true);
    expect((await stat(join(dir, "out", "blob"))).mode & 0o777).toBe(0o640);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  it("makes no file and leaves no temp file when the stream fails, even before it is read", async () => {
    const dir = await tempDir();
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(2 * 1024 * 1024));
    failing.destroy(new Error("digest mismatch"));
    await expect(streamToFileAtomic(failing, join(dir, "blob"), join(dir, "tmp"))).rejects.toThrow(
      "digest mismatch",
    );
    expect(await readdir(dir)).toEqual(["tmp"]);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });
});

describe("copyRangeAtomic and readRange", () => {
  const data = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 7 }, (_, i) => (i * 7) % 251));

  it("copy the bytes of a range, passing each piece to inspect", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "src"), data);
    const from = { path: join(dir, "src"), start: 5, size: data.length - 10 };
    const hash = createHash("sha256");
    const progress: number[] = [];
    await copyRangeAtomic(
      from,
      join(dir, "dst"),
      join(dir, "tmp"),
      (p) => hash.update(p),
      () => {},
      (n) => progress.push(n),
    );
    const want = data.subarray(5, data.length - 5);
    expect((await readFile(join(dir, "dst"))).equals(want)).toBe(true);
    expect(hash.digest("hex")).toBe(createHash("sha256").update(want).digest("hex"));
    expect(progress.at(-1)).toBe(want.length);
    expect(progress.length).toBe(3);
    expect((await buffer(readRange(from, 64 * 1024))).equals(want)).toBe(true);
    expect((await buffer(readRange({ ...from, size: 0 }, 10))).length).toBe(0);
  });

  it("make no file when the check throws or the source is shorter than said", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "src"), data.subarray(0, 100));
    const from = { path: join(dir, "src"), start: 0, size: 100 };
    const check = () => {
      throw new Error("digest is wrong");
    };
    await expect(copyRangeAtomic(from, join(dir, "a"), join(dir, "tmp"), () => {}, check)).rejects.toThrow(
      "digest is wrong",
    );
    await expect(
      copyRangeAtomic(
        { ...from, start: 40 },
        join(dir, "b"),
        join(dir, "tmp"),
        () => {},
        () => {},
      ),
    ).rejects.toThrow(`${join(dir, "src")} ended 40 bytes early`);
    expect((await readdir(dir)).sort()).toEqual(["src", "tmp"]);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });
});
