/** berth's tar writer, read back by an independent reader (tar-stream) and GNU tar. */
import { execFileSync } from "node:child_process";
import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { extract, type Header } from "tar-stream";
import { describe, expect, it } from "vitest";
import type { EntryHeader } from "../../src/layer/entry.ts";
import { CHUNK, encodeEntryHeader, TarWriter } from "../../src/layer/writer.ts";
import { tempDir } from "../helpers/temp.ts";

const h = (o: Partial<EntryHeader> & { path: string }): EntryHeader => ({
  type: "file",
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 1_700_000_000,
  ...o,
});

/** A Writable collecting what it gets, slowly (a small buffer: the writer must wait for drain). */
function sink(): { out: Writable; bytes: () => Buffer; writes: number[] } {
  const chunks: Buffer[] = [];
  const writes: number[] = [];
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _e, cb) {
      chunks.push(Buffer.from(chunk));
      writes.push(chunk.length);
      setImmediate(cb);
    },
  });
  return { out, bytes: () => Buffer.concat(chunks), writes };
}

async function entries(tar: Buffer): Promise<{ header: Header; body: Buffer }[]> {
  const x = extract();
  const out: { header: Header; body: Buffer }[] = [];
  const done = (async () => {
    for await (const e of x) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      out.push({ header: e.header, body: Buffer.concat(parts) });
    }
  })();
  Readable.from([tar]).pipe(x);
  await done;
  return out;
}

describe("TarWriter", () => {
  it("USTAR entries with relative names, directories ending in /, read back by tar-stream and GNU tar", async () => {
    const s = sink();
    const w = new TarWriter(s.out);
    await w.add(h({ path: "etc", type: "dir", mode: 0o755 }));
    await w.add(h({ path: "etc/hosts", size: 5, mode: 0o4755, uid: 1000, gid: 50 }), Buffer.from("hello"));
    await w.add(h({ path: "etc/link", type: "symlink", linkname: "hosts" }));
    await w.add(h({ path: "etc/hard", type: "hardlink", linkname: "etc/hosts" }));
    await w.add(h({ path: "dev/null", type: "char", devmajor: 1, devminor: 3, uname: "root" }));
    await w.finish();
    const tar = s.bytes();
    expect(tar.length % 512).toBe(0);
    expect(w.bytes).toBe(tar.length);
    const got = await entries(tar);
    expect(got.map((e) => [e.header.name, e.header.type, e.header.mode, e.header.uid, e.header.gid])).toEqual(
      [
        ["etc/", "directory", 0o755, 0, 0],
        ["etc/hosts", "file", 0o4755, 1000, 50],
        ["etc/link", "symlink", 0o644, 0, 0],
        ["etc/hard", "link", 0o644, 0, 0],
        ["dev/null", "character-device", 0o644, 0, 0],
      ],
    );
    expect(got[1]!.body.toString()).toBe("hello");
    expect(got[2]!.header.linkname).toBe("hosts");
    expect([got[4]!.header.devmajor, got[4]!.header.devminor, got[4]!.header.uname]).toEqual([1, 3, "root"]);
    expect(got[0]!.header.mtime?.getTime()).toBe(1_700_000_000_000);
    expect(execFileSync("tar", ["-tf", "-"], { input: tar }).toString()).toBe(
      "etc/\netc/hosts\netc/link\netc/hard\ndev/null\n",
    );
  });

  it("absolute names for every type, as the CNB lifecycle writes them", async () => {
    const s = sink();
    const w = new TarWriter(s.out, undefined, { names: "absolute" });
    await w.add(h({ path: "layers", type: "dir" }));
    await w.add(h({ path: "layers/f" }), Buffer.alloc(0));
    await w.finish();
    expect((await entries(s.bytes())).map((e) => e.header.name)).toEqual(["/layers", "/layers/f"]);
  });

  it("PAX records only for what does not fit USTAR: long names, big ids, fractional mtimes, long owners, xattrs", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
    const target = "t".repeat(150);
    const s = sink();
    const w = new TarWriter(s.out);
    await w.add(h({ path: long }), Buffer.alloc(0));
    await w.add(h({ path: "l", type: "symlink", linkname: target }));
    await w.add(
      h({
        path: "ids",
        uid: 2 ** 21 + 1,
        gid: 7,
        mtime: 1.5,
        uname: "u".repeat(40),
        xattrs: { "security.capability": Buffer.from([1, 2, 3]) },
      }),
      Buffer.alloc(0),
    );
    await w.add(h({ path: "plain" }), Buffer.alloc(0));
    await w.finish();
    const got = await entries(s.bytes());
    expect(got[0]!.header.name).toBe(long);
    expect(got[1]!.header.linkname).toBe(target);
    // tar-stream applies only path and linkpath from PAX: the others are checked as records.
    expect(got[2]!.header.gid).toBe(7);
    expect(got[2]!.header.pax).toEqual({
      uid: String(2 ** 21 + 1),
      mtime: "1.5",
      uname: "u".repeat(40),
      "SCHILY.xattr.security.capability": "\x01\x02\x03",
    });
    expect(got[3]!.header.pax).toBeNull();
  });

  it("writes in chunks of CHUNK bytes, waiting for a slow output; the end marker is two zero blocks", async () => {
    const big = Buffer.alloc(CHUNK * 2 + 100, 7);
    const s = sink();
    const w = new TarWriter(s.out);
    async function* pieces() {
      for (let i = 0; i < big.length; i += 300_000) yield big.subarray(i, i + 300_000);
    }
    await w.add(h({ path: "big", size: big.length }), pieces());
    await w.finish();
    expect(s.writes.slice(0, 2)).toEqual([CHUNK, CHUNK]);
    const tar = s.bytes();
    expect(tar.subarray(tar.length - 1024)).toEqual(Buffer.alloc(1024));
    const [e] = await entries(tar);
    expect(e!.body.equals(big)).toBe(true);
  });

  it("a body of the wrong size is one sentence naming the entry", async () => {
    const w = new TarWriter(sink().out);
    await expect(w.add(h({ path: "a", size: 5 }), Buffer.from("abc"))).rejects.toMatchObject({
      code: "LAYER_INVALID",
      message:
        'layer entry "a" has 3 bytes where 5 were expected (did the file change while the layer was built?)',
      details: { entry: "a" },
    });
    async function* more() {
      yield Buffer.from("abcdef");
    }
    await expect(new TarWriter(sink().out).add(h({ path: "b", size: 5 }), more())).rejects.toMatchObject({
      message: expect.stringContaining('"b" has more than bytes where 5 were expected'),
    });
    await expect(new TarWriter(sink().out).add(h({ path: "u", uid: -1 }))).rejects.toMatchObject({
      code: "LAYER_INVALID",
      message: 'layer entry "u" has an invalid uid -1',
    });
  });

  it("addFile reads the host file, and refuses one that changed size or became a symlink", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "content");
    await symlink("f", join(dir, "link"));
    const s = sink();
    const w = new TarWriter(s.out);
    await w.addFile(h({ path: "f", size: 7 }), join(dir, "f"));
    await w.finish();
    expect((await entries(s.bytes()))[0]!.body.toString()).toBe("content");
    await expect(
      new TarWriter(sink().out).addFile(h({ path: "f", size: 3 }), join(dir, "f")),
    ).rejects.toMatchObject({
      message: expect.stringContaining('"f" has more than bytes where 3 were expected'),
    });
    await expect(
      new TarWriter(sink().out).addFile(h({ path: "f", size: 9 }), join(dir, "f")),
    ).rejects.toMatchObject({
      message: expect.stringContaining('"f" has 7 bytes where 9 were expected'),
    });
    await expect(
      new TarWriter(sink().out).addFile(h({ path: "l", size: 7 }), join(dir, "link")),
    ).rejects.toMatchObject({
      code: "ELOOP",
    });
  });

  it("an output closed early fails the write instead of hanging", async () => {
    const s = sink();
    s.out.on("error", () => undefined);
    s.out.destroy(new Error("disk gone"));
    const w = new TarWriter(s.out);
    await expect(w.add(h({ path: "big", size: CHUNK + 1 }), Buffer.alloc(CHUNK + 1))).rejects.toThrow(
      "disk gone",
    );
  });
});

describe("encodeEntryHeader", () => {
  it("one 512-byte block when USTAR fits; a PAX entry before it when not", async () => {
    const plain = encodeEntryHeader(h({ path: "a/b", size: 3 }));
    expect(plain.length).toBe(512);
    expect(plain.subarray(0, 3).toString()).toBe("a/b");
    const long = encodeEntryHeader(h({ path: `${"x".repeat(200)}/name` }));
    expect(long.length).toBe(512 * 3);
    expect(long.subarray(0, 17).toString()).toBe("PaxHeaders.0/name");
    expect(String.fromCharCode(long[156]!)).toBe("x");
    const [e] = await entries(Buffer.concat([long, Buffer.alloc(1024)]));
    expect(e!.header.name).toBe(`${"x".repeat(200)}/name`);
  });
});
