import { describe, expect, it } from "vitest";
import { readTar } from "../../src/layer/reader.ts";
import { encodeHeader, encodePax, padding, type RawHeader } from "../../src/tar/index.ts";
import { sh, streamOf, tarOf } from "./helpers.ts";

const ustar: RawHeader = {
  name: "",
  prefix: "",
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  mtime: 0,
  typeflag: "0",
  linkname: "",
  uname: "",
  gname: "",
  devmajor: 0,
  devminor: 0,
};

async function read(tar: Buffer) {
  const out = [];
  for await (const e of readTar(streamOf(tar))) {
    const chunks: Buffer[] = [];
    for await (const c of e.body) chunks.push(c);
    out.push({ ...e.header, content: Buffer.concat(chunks).toString() });
  }
  return out;
}

describe("readTar", () => {
  it("reads what GNU tar writes (GNU long names, devices, large uids) and what berth writes", async () => {
    const dir = sh("mktemp", ["-d"]).toString().trim();
    const long = `${"n".repeat(150)}/${"m".repeat(120)}`;
    sh("mkdir", ["-p", `${dir}/${"n".repeat(150)}`]);
    sh("sh", [
      "-c",
      `printf hello > '${dir}/${long}' && mkfifo ${dir}/fifo && ln -s ${"t".repeat(150)} ${dir}/sl`,
    ]);
    for (const format of ["gnu", "posix"]) {
      const tar = sh("tar", [
        `--format=${format}`,
        "--owner=3000000",
        "--group=7",
        "-cf",
        "-",
        "-C",
        dir,
        ".",
      ]);
      const entries = await read(tar);
      const file = entries.find((e) => e.path === `./${long}`);
      expect(file?.content).toBe("hello");
      expect(file?.uid).toBe(3000000);
      expect(entries.find((e) => e.path === "./fifo")?.type).toBe("fifo");
      expect(entries.find((e) => e.path === "./sl")?.linkname).toBe("t".repeat(150));
    }
    sh("rm", ["-rf", dir]);
  });

  it("round-trips berth's writer, including xattrs and fractional mtimes", async () => {
    const tar = await tarOf([
      { path: "d", type: "dir", mtime: 1.5 },
      { path: "d/f", content: "x".repeat(1000), uid: 9_999_999, xattrs: { "user.k": Buffer.from("v") } },
      { path: "d/dev", type: "char", devmajor: 1, devminor: 3 },
    ]);
    const entries = await read(tar);
    expect(entries.map((e) => [e.path, e.type, e.mtime])).toEqual([
      ["d", "dir", 1.5],
      ["d/f", "file", 0],
      ["d/dev", "char", 0],
    ]);
    expect(entries[1]?.uid).toBe(9_999_999);
    expect(entries[1]?.content).toBe("x".repeat(1000));
    expect(entries[1]?.xattrs).toEqual({ "user.k": Buffer.from("v") });
    expect([entries[2]?.devmajor, entries[2]?.devminor]).toEqual([1, 3]);
  });

  it("refuses sparse files and truncated archives", async () => {
    const tar = await tarOf([{ path: "f", content: "abc" }]);
    await expect(read(tar.subarray(0, 512 + 1))).rejects.toMatchObject({ code: "LAYER_INVALID" });
    const sparse = Buffer.from(tar);
    sparse[156] = "S".charCodeAt(0);
    let sum = 0;
    sparse.fill(0x20, 148, 156);
    for (let i = 0; i < 512; i++) sum += sparse[i]!;
    sparse.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    await expect(read(sparse)).rejects.toMatchObject({
      code: "LAYER_INVALID",
      message: expect.stringContaining('"f"'),
    });
  });

  it("refuses a PAX uid, gid or size that is not a whole number, naming the entry; a global record applies to every entry", async () => {
    const entry = (name: string, typeflag: string, data: Buffer) => [
      encodeHeader({ ...ustar, name, typeflag, size: data.length }),
      data,
      Buffer.alloc(padding(data.length)),
    ];
    const pax = (records: Record<string, string>) =>
      encodePax(new Map(Object.entries(records).map(([k, v]) => [k, Buffer.from(v)])));
    const end = Buffer.alloc(1024);
    for (const [key, value] of [
      ["uid", "1.5"],
      ["gid", "-2"],
      ["size", "3x"],
    ]) {
      const tar = Buffer.concat([
        ...entry("PaxHeaders/f", "x", pax({ [key!]: value! })),
        ...entry("f", "0", Buffer.from("abc")),
        end,
      ]);
      await expect(read(tar), key).rejects.toMatchObject({
        code: "LAYER_INVALID",
        message: `layer entry "f": PAX ${key} ${JSON.stringify(value)} is not a whole number`,
      });
    }
    const global = Buffer.concat([
      ...entry("GlobalHead", "g", pax({ uid: "42", uname: "g" })),
      ...entry("a", "0", Buffer.from("1")),
      ...entry("PaxHeaders/b", "x", pax({ uname: "own" })),
      ...entry("b", "0", Buffer.from("2")),
      end,
    ]);
    expect((await read(global)).map((e) => [e.path, e.uid, e.uname, e.content])).toEqual([
      ["a", 42, "g", "1"],
      ["b", 42, "own", "2"],
    ]);
  });
});
