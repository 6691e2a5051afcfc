import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { TarWriter } from "../../../src/oci/archive/tarwriter.ts";
import { run } from "../../helpers/exec.ts";
import { errorOf } from "../../helpers/oci.ts";
import { tempDir } from "../../helpers/temp.ts";

interface Read {
  name: string;
  type: string;
  mode: number;
  size: number;
  linkname: string | null | undefined;
  uid: number;
  mtime: number;
  data: string;
}

/** The entries of a tar file, as tar-stream (an independent reader) sees them. */
async function entries(path: string): Promise<Read[]> {
  const extract = tar.extract();
  const out: Read[] = [];
  extract.on("entry", (h, stream, next) => {
    buffer(stream).then((data) => {
      out.push({
        name: h.name,
        type: h.type ?? "",
        mode: h.mode ?? 0,
        size: h.size ?? 0,
        linkname: h.linkname,
        uid: h.uid ?? -1,
        mtime: h.mtime?.getTime() ?? -1,
        data: data.toString(),
      });
      next();
    }, next);
  });
  const done = new Promise<void>((resolve, reject) =>
    extract.on("finish", () => resolve()).on("error", reject),
  );
  Readable.from([await readFile(path)]).pipe(extract);
  await done;
  return out;
}

describe("TarWriter", () => {
  it("writes directories, files, symlinks and streams with owner 0, mtime 0, appearing only on commit", async () => {
    const dir = await tempDir();
    const path = join(dir, "out.tar");
    const w = await TarWriter.create(path);
    await w.addDirectory("blobs");
    await w.addBytes("blobs/a.txt", Buffer.from("hello"), 0o600);
    await w.addSymlink("link", "blobs/a.txt");
    await w.addStream("s.bin", 3, Readable.from([Buffer.from("abc")]));
    expect(
      await w.addStreamUnsized("u.bin", Readable.from([Buffer.from("x".repeat(700)), Buffer.from("y")])),
    ).toBe(701);
    expect((await readdir(dir)).includes("out.tar")).toBe(false);
    await w.commit();
    const got = await entries(path);
    expect(got.map((e) => [e.name, e.type, e.mode, e.size, e.linkname ?? null, e.data.length])).toEqual([
      ["blobs/", "directory", 0o755, 0, null, 0],
      ["blobs/a.txt", "file", 0o600, 5, null, 5],
      ["link", "symlink", 0o777, 0, "blobs/a.txt", 0],
      ["s.bin", "file", 0o644, 3, null, 3],
      ["u.bin", "file", 0o644, 701, null, 701],
    ]);
    expect(got.every((e) => e.uid === 0 && e.mtime === 0)).toBe(true);
    expect(got[4]!.data).toBe(`${"x".repeat(700)}y`);
    expect(await readdir(dir)).toEqual(["out.tar"]);
    expect(await run("tar", ["-tf", path])).toBe("blobs/\nblobs/a.txt\nlink\ns.bin\nu.bin\n");
  });

  it("writes long and non-ASCII names and link targets through PAX records", async () => {
    const path = join(await tempDir(), "pax.tar");
    const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
    const w = await TarWriter.create(path);
    await w.addBytes(long, Buffer.from("1"));
    await w.addBytes("é.txt", Buffer.from("2"));
    await w.addSymlink("l", `${"t".repeat(150)}`);
    await w.addStreamUnsized(`${"u".repeat(200)}`, Readable.from([Buffer.from("3")]));
    await w.commit();
    expect((await entries(path)).map((e) => [e.name, e.linkname ?? null, e.data])).toEqual([
      [long, null, "1"],
      ["é.txt", null, "2"],
      ["l", "t".repeat(150), ""],
      ["u".repeat(200), null, "3"],
    ]);
  });

  it("is deterministic", async () => {
    const dir = await tempDir();
    const write = async (name: string) => {
      const w = await TarWriter.create(join(dir, name));
      await w.addBytes("a", Buffer.from("same"));
      await w.addStreamUnsized("b", Readable.from([Buffer.from("same")]));
      await w.commit();
      return readFile(join(dir, name));
    };
    expect((await write("1.tar")).equals(await write("2.tar"))).toBe(true);
  });

  it("fails a stream of the wrong size, refuses more entries, and leaves nothing when aborted", async () => {
    const dir = await tempDir();
    const w = await TarWriter.create(join(dir, "bad.tar"));
    const short = await errorOf(() => w.addStream("short", 5, Readable.from([Buffer.from("abc")])));
    expect([short.code, short.message, short.details]).toEqual([
      "SIZE_MISMATCH",
      "tar entry short got 3 bytes where 5 were expected",
      { expectedSize: 5, actualSize: 3 },
    ]);
    expect(await errorOf(() => w.addBytes("next", Buffer.from("x")))).toBe(short);
    await expect(w.commit()).rejects.toBe(short);
    await w.abort();
    expect(await readdir(dir)).toEqual([]);

    const w2 = await TarWriter.create(join(dir, "long.tar"));
    const long = await errorOf(() => w2.addStream("long", 2, Readable.from([Buffer.from("abc")])));
    expect([long.code, long.message]).toEqual(["SIZE_MISMATCH", "more than the 2 bytes expected"]);
    await w2.abort();
    expect(await readdir(dir)).toEqual([]);
  });

  it("refuses two entries at once", async () => {
    const w = await TarWriter.create(join(await tempDir(), "busy.tar"));
    const slow = new Readable({ read() {} });
    const first = w.addStreamUnsized("slow", slow);
    const err = await errorOf(() => w.addBytes("b", Buffer.from("x")));
    expect([err.code, err.message]).toEqual(["INTERNAL", "tar entries must be added one at a time"]);
    slow.push(null);
    await first;
    await w.abort();
  });
});
