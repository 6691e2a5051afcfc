import { describe, expect, it } from "vitest";
import { ExtendedHeaders, isMeta, paxNumber, typeOf } from "../../src/tar/extended.ts";
import { type DecodedHeader, decodeHeader, encodeHeader } from "../../src/tar/header.ts";
import { encodePax, encodePaxRecord } from "../../src/tar/pax.ts";

/** A decoded header block for an entry of this name. */
function header(
  name: string,
  fields: { prefix?: string; linkname?: string; size?: number } = {},
): DecodedHeader {
  return decodeHeader(
    encodeHeader({
      name,
      prefix: fields.prefix ?? "",
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: fields.size ?? 0,
      mtime: 0,
      typeflag: "0",
      linkname: fields.linkname ?? "",
      uname: "",
      gname: "",
      devmajor: 0,
      devminor: 0,
    }),
  );
}

const pax = (records: Record<string, string>) =>
  encodePax(new Map(Object.entries(records).map(([k, v]) => [k, Buffer.from(v)])));

describe("tar typeflags", () => {
  it("name entries and the headers that describe the next one; unknown flags are undefined", () => {
    expect(["0", "7", "1", "2", "3", "4", "5", "6"].map(typeOf)).toEqual([
      "file",
      "file",
      "hardlink",
      "symlink",
      "char",
      "block",
      "dir",
      "fifo",
    ]);
    expect(["x", "g", "L", "K"].map(typeOf)).toEqual(["pax", "paxGlobal", "longName", "longLink"]);
    expect(["x", "g", "L", "K"].every((f) => isMeta(typeOf(f)!))).toBe(true);
    expect(isMeta("file")).toBe(false);
    expect(typeOf("S")).toBeUndefined();
    expect(typeOf("V")).toBeUndefined();
  });
});

describe("ExtendedHeaders", () => {
  it("gives the header's own names when nothing precedes it, the USTAR prefix joined", () => {
    const x = new ExtendedHeaders();
    expect(x.pending()).toBe(false);
    expect(x.resolve(header("c.txt", { prefix: "a/b", linkname: "t", size: 5 }))).toEqual({
      path: "a/b/c.txt",
      linkname: "t",
      pax: new Map(),
      dataSize: 5,
    });
  });

  it("applies GNU long names to the next entry only", () => {
    const x = new ExtendedHeaders();
    expect(x.add("longName", Buffer.from(`${"n".repeat(150)}\0\0\0`))).toBe(true);
    expect(x.add("longLink", Buffer.from(`${"l".repeat(120)}\0`))).toBe(true);
    expect(x.pending()).toBe(true);
    expect(x.pendingName()).toBe("n".repeat(150));
    const r = x.resolve(header("cut", { linkname: "cut" }));
    expect([r.path, r.linkname]).toEqual(["n".repeat(150), "l".repeat(120)]);
    expect(x.pending()).toBe(false);
    expect(x.resolve(header("next")).path).toBe("next");
  });

  it("lets an entry's PAX records override the global ones, which stay for every entry after", () => {
    const x = new ExtendedHeaders();
    x.add("paxGlobal", pax({ uname: "global", mtime: "5" }));
    x.add("longName", Buffer.from("gnu-name"));
    x.add("pax", pax({ path: "pax-name", uname: "own", size: "9" }));
    expect(x.pendingName()).toBe("pax-name");
    const first = x.resolve(header("h", { size: 1 }));
    // the PAX path wins over the GNU long name, as GNU tar and Go read them
    expect(first.path).toBe("pax-name");
    expect(first.dataSize).toBe(9);
    expect(Object.fromEntries([...first.pax].map(([k, v]) => [k, v.toString()]))).toEqual({
      uname: "own",
      mtime: "5",
      path: "pax-name",
      size: "9",
    });
    const second = x.resolve(header("h2", { size: 1 }));
    expect([second.path, second.dataSize]).toEqual(["h2", 1]);
    expect(second.pax.get("uname")?.toString()).toBe("global");
    expect(x.pending()).toBe(false);
  });

  it("keeps the records before a malformed one and says it was malformed; empty keys are dropped", () => {
    const x = new ExtendedHeaders();
    const data = Buffer.concat([
      encodePaxRecord("path", "kept"),
      encodePaxRecord("", "nameless"),
      Buffer.from("99 broken=1\n"),
    ]);
    expect(x.add("pax", data)).toBe(false);
    const r = x.resolve(header("h"));
    expect(r.path).toBe("kept");
    expect([...r.pax.keys()]).toEqual(["path"]);
  });

  it("reports a PAX size that is not a whole number instead of using it", () => {
    const x = new ExtendedHeaders();
    x.add("pax", pax({ size: "12abc" }));
    expect(x.resolve(header("h", { size: 3 })).dataSize).toBe('PAX size "12abc" is not a whole number');
  });
});

describe("paxNumber", () => {
  it("reads whole numbers, fractions only for times, and says why anything else is refused", () => {
    const r = new Map(
      Object.entries({
        uid: "1000",
        mtime: "1700000000.123456789",
        gid: "1.5",
        size: "-1",
        atime: "",
        ctime: "x",
        big: "9007199254740993",
      }).map(([k, v]) => [k, Buffer.from(v)]),
    );
    expect(paxNumber(r, "uid")).toBe(1000);
    expect(paxNumber(r, "mtime")).toBeCloseTo(1_700_000_000.123_456_7);
    expect(paxNumber(r, "absent")).toBeUndefined();
    expect(paxNumber(r, "gid")).toBe('PAX gid "1.5" is not a whole number');
    expect(paxNumber(r, "size")).toBe('PAX size "-1" is not a whole number');
    expect(paxNumber(r, "atime")).toBe('PAX atime "" is not a number');
    expect(paxNumber(r, "ctime")).toBe('PAX ctime "x" is not a number');
    expect(paxNumber(r, "big")).toBe('PAX big "9007199254740993" is not a whole number');
  });
});
