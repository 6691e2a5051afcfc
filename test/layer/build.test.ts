import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildLayer } from "../../src/layer/build.ts";
import { readTar } from "../../src/layer/reader.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { files, longDir, makeTree, shuffled } from "./fixtures.ts";
import { sh, sha256, streamOf } from "./helpers.ts";

describe("buildLayer", () => {
  for (const compression of ["gzip", "zstd", "none"] as const) {
    it(`is reproducible (${compression}): mtimes, umask, creation order do not matter`, async () => {
      const a = tempDirSync();
      const b = tempDirSync();
      makeTree(a, files, 1_000_000);
      const oldMask = process.umask(0o077);
      try {
        makeTree(b, shuffled(files, 42), 1_700_000_000);
      } finally {
        process.umask(oldMask);
      }
      const out = tempDirSync();
      const ra = await buildLayer(a, join(out, "a"), { compression });
      const rb = await buildLayer(b, join(out, "b"), { compression });
      expect(rb.digest).toBe(ra.digest);
      expect(rb.diffId).toBe(ra.diffId);
      expect(readFileSync(join(out, "a")).equals(readFileSync(join(out, "b")))).toBe(true);
      // and a different tree gives a different digest
      writeFileSync(join(b, "etc/config"), "a=2\n");
      const rc = await buildLayer(b, join(out, "c"), { compression });
      expect(rc.digest).not.toBe(ra.digest);
      expect(ra.size).toBe(readFileSync(join(out, "a")).length);
      expect(ra.digest).toBe(sha256(readFileSync(join(out, "a"))));
    });
  }

  for (const compression of ["gzip", "zstd"] as const) {
    it(`decompresses to its diffID when the tar spans many reused chunks, large files included (${compression})`, async () => {
      const src = tempDirSync();
      // ~9 MiB of varied content: many small files and a few larger than a chunk, so the writer's chunks are
      // given back by the compressor and refilled while earlier ones are still being compressed.
      let seed = 7;
      const bytes = (n: number) => {
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i++) {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          b[i] = seed % 5 === 0 ? seed & 0xff : 97 + (i % 17);
        }
        return b;
      };
      for (let i = 0; i < 600; i++)
        writeFileSync(join(src, `small-${i}.txt`), bytes(3000 + ((i * 977) % 9000)));
      for (let i = 0; i < 3; i++) writeFileSync(join(src, `large-${i}.bin`), bytes(1_500_000 + i * 100_001));
      const out = join(tempDirSync(), "layer");
      const r = await buildLayer(src, out, { compression });
      const tool = compression === "gzip" ? "gzip" : "zstd";
      const tar = sh("bash", ["-c", `${tool} -dc '${out}'`]);
      expect(sha256(tar)).toBe(r.diffId);
      expect(r.uncompressedSize).toBe(tar.length);
    });
  }

  it("gzip output is one standard stream: gzip -t, pigz -t, zcat | sha256 = diffID, GNU tar lists the entries", async () => {
    const src = tempDirSync();
    makeTree(src, files, 5);
    const out = join(tempDirSync(), "layer.tgz");
    const r = await buildLayer(src, out, { mtime: 1_600_000_000 });
    expect(r.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    sh("gzip", ["-t", out]);
    sh("pigz", ["-t", out]);
    const tar = sh("zcat", [out]);
    expect(sha256(tar)).toBe(r.diffId);
    expect(tar.length).toBe(r.uncompressedSize);
    const listing = sh("tar", ["-tvf", "-"], { input: tar }).toString().trim().split("\n");
    const names = sh("tar", ["-tf", "-"], { input: tar }).toString().trim().split("\n");
    const expected = [...files.map((f) => (f.kind === "dir" ? `${f.path}/` : f.path))].sort((x, y) =>
      Buffer.compare(Buffer.from(x.replace(/\/$/, "")), Buffer.from(y.replace(/\/$/, ""))),
    );
    expect(names).toEqual(expected);
    for (const line of listing) {
      expect(line).toMatch(/ 0\/0 /);
      expect(line).toContain("2020-09-13");
    }
    expect(listing.find((l) => l.includes("etc/hard"))).toMatch(
      /^hrw------- .* etc\/hard link to etc\/config$/,
    );
    expect(listing.find((l) => l.endsWith("bin/tool"))).toMatch(/^-rwsr-xr-x /);
    expect(listing.find((l) => l.includes("etc/link"))).toContain("etc/link -> ../bin/tool");
  });

  it("writes PAX records only where USTAR cannot hold a field, with sorted keys", async () => {
    const src = tempDirSync();
    makeTree(src, files, 5);
    const out = join(tempDirSync(), "layer.tar");
    const xattrs = {
      "security.capability": Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0]),
      "user.a": Buffer.from("b"),
    };
    await buildLayer(src, out, {
      compression: "none",
      readXattrs: async (p) => (p.endsWith("bin/tool") ? xattrs : undefined),
    });
    const tar = readFileSync(out);
    // Count PAX headers: typeflag 'x' at offset 156 of a header block.
    const paxNames: string[] = [];
    const seen: string[] = [];
    for await (const e of readTar(streamOf(tar))) {
      seen.push(e.header.path);
      if (e.header.path === "bin/tool") expect(e.header.xattrs).toEqual(xattrs);
    }
    for (let off = 0; off + 512 <= tar.length; ) {
      const block = tar.subarray(off, off + 512);
      if (block.every((b) => b === 0)) break;
      const size = Number.parseInt(block.toString("latin1", 124, 135), 8);
      if (block[156] === 0x78) {
        const body = tar.subarray(off + 512, off + 512 + size).toString("latin1");
        const keys = body
          .trim()
          .split("\n")
          .map((l) => l.split(" ")[1]!.split("=")[0]!);
        expect(keys).toEqual([...keys].sort());
        paxNames.push(keys.join(","));
      }
      off += 512 + Math.ceil(size / 512) * 512;
    }
    // one for the xattrs, one for the 120-byte file name; the 226-byte path with a 99-byte name splits into prefix/name
    expect(paxNames.sort()).toEqual(["SCHILY.xattr.security.capability,SCHILY.xattr.user.a", "path"]);
    expect(seen).toContain(`deep/${longDir}/${"f".repeat(99)}`);
    expect(sh("tar", ["-tf", out]).toString()).toContain(`deep/${longDir}/${"f".repeat(99)}`);
  });

  it("places sources at destinations, creating parents, and honours exclude patterns", async () => {
    const src = tempDirSync();
    makeTree(src, files, 5);
    const file = join(tempDirSync(), "single.txt");
    writeFileSync(file, "single");
    const out = join(tempDirSync(), "layer.tar");
    await buildLayer(
      [
        { source: src, dest: "/app" },
        { source: file, dest: "/opt/bin/" },
      ],
      out,
      {
        compression: "none",
        exclude: ["data/*.bin", "deep", "!deep/d*/e*"],
        uid: 1000,
        gid: 1001,
        mtime: 77,
      },
    );
    const headers = [];
    for await (const e of readTar(streamOf(readFileSync(out)))) headers.push(e.header);
    const paths = headers.map((h) => h.path);
    expect(paths.slice(0, 3)).toEqual(["app", "app/bin", "app/bin/tool"]);
    expect(paths).not.toContain("app/data/big.bin");
    expect(paths).toContain("app/data/a/b");
    expect(paths).toContain(`app/deep/${longDir}/${"f".repeat(99)}`);
    expect(paths.slice(-3)).toEqual(["opt", "opt/bin", "opt/bin/single.txt"]);
    for (const h of headers) {
      expect(h.uid).toBe(1000);
      expect(h.gid).toBe(1001);
      expect(h.mtime).toBe(77);
    }
    expect(headers.find((h) => h.path === "opt")?.mode).toBe(0o755);
  });
});
