import { execFileSync } from "node:child_process";
import {
  chmodSync,
  createReadStream,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { applyLayer } from "../../src/layer/apply.ts";
import { diffOverlay, diffTrees } from "../../src/layer/diff.ts";
import { readTar } from "../../src/layer/reader.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { files, makeTree } from "./fixtures.ts";
import { sh, snapshot } from "./helpers.ts";

async function names(file: string): Promise<string[]> {
  const out: string[] = [];
  const { decompress } = await import("../../src/oci/compression.ts");
  for await (const e of readTar(await decompress(createReadStream(file)))) out.push(e.header.path);
  return out;
}

describe("diffTrees", () => {
  it("applying the diff onto a copy of before gives after", async () => {
    const base = tempDirSync();
    const before = join(base, "before");
    mkdirSync(before);
    makeTree(before, files, 5);
    const after = join(base, "after");
    sh("cp", ["-a", before, after]);
    writeFileSync(join(after, "etc/config"), "a=changed\n"); // content (and its hardlink etc/hard)
    writeFileSync(join(after, "new-file"), "new");
    unlinkSync(join(after, "bin/tool")); // deleted file
    rmSync(join(after, "data/a"), { recursive: true }); // deleted directory with children
    writeFileSync(join(after, "data/a"), "dir became a file");
    rmSync(join(after, "empty"), { recursive: true }); // deleted empty dir
    unlinkSync(join(after, "data/a-b"));
    mkdirSync(join(after, "data/a-b")); // file became a directory
    writeFileSync(join(after, "data/a-b/inner"), "inner");
    chmodSync(join(after, "data"), 0o700); // attribute-only change
    unlinkSync(join(after, "etc/link"));
    symlinkSync("/elsewhere", join(after, "etc/link")); // retargeted symlink
    linkSync(join(after, "new-file"), join(after, "new-hardlink"));
    rmSync(join(after, "deep"), { recursive: true });
    const layer = join(base, "diff.tgz");
    const r = await diffTrees(before, after, layer);
    const listed = await names(layer);
    expect(listed).toContain("bin/.wh.tool");
    expect(listed).toContain(".wh.empty");
    expect(listed).toContain(".wh.deep");
    expect(listed).not.toContain("deep/.wh.d"); // only the top-most deletion
    expect(listed).not.toContain("data/big.bin"); // unchanged
    expect(r.whiteouts).toBe(3);
    const target = join(base, "target");
    sh("cp", ["-a", before, target]);
    await applyLayer(createReadStream(layer), target);
    expect(snapshot(target)).toEqual(snapshot(after));
    // no change, no entries
    const same = await diffTrees(after, after, join(base, "empty.tar"), { compression: "none" });
    expect(same.entries).toBe(0);
  });

  it("reads an overlayfs upper dir: char device 0/0 is a whiteout, trusted.overlay.opaque=y an opaque dir", async () => {
    const base = tempDirSync();
    const lower = join(base, "lower");
    mkdirSync(join(lower, "o"), { recursive: true });
    writeFileSync(join(lower, "o/old"), "old");
    writeFileSync(join(lower, "gone"), "gone");
    writeFileSync(join(lower, "kept"), "kept");
    const upper = join(base, "upper");
    mkdirSync(join(upper, "o"), { recursive: true });
    writeFileSync(join(upper, "o/new"), "new");
    writeFileSync(join(upper, "added"), "added");
    sh("mknod", [join(upper, "gone"), "c", "0", "0"]);
    sh("python3", [
      "-c",
      "import os,sys; os.setxattr(sys.argv[1], 'trusted.overlay.opaque', b'y')",
      join(upper, "o"),
    ]);
    const readXattrs = async (p: string) => {
      const out = execFileSync("python3", [
        "-c",
        "import os,sys,json; print(json.dumps({k: os.getxattr(sys.argv[1], k, follow_symlinks=False).hex() for k in os.listxattr(sys.argv[1], follow_symlinks=False)}))",
        p,
      ]).toString();
      const parsed = JSON.parse(out) as Record<string, string>;
      return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, Buffer.from(v, "hex")]));
    };
    const layer = join(base, "upper.tar");
    const r = await diffOverlay(upper, layer, { compression: "none", readXattrs });
    expect(r.whiteouts).toBe(2);
    expect(await names(layer)).toEqual(
      ["added", ".wh.gone", "o", "o/.wh..wh..opq", "o/new"].sort((a, b) =>
        Buffer.compare(Buffer.from(a), Buffer.from(b)),
      ),
    );
    await applyLayer(createReadStream(layer), lower);
    expect(Object.keys(snapshot(lower)).sort()).toEqual(["added", "kept", "o", "o/new"]);
    expect(readFileSync(join(lower, "o/new"), "utf8")).toBe("new");
  });
});
