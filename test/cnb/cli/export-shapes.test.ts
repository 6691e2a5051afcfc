/**
 * Shapes export writes as the reference lifecycle (v0.21.0) does, checked without a build: the tar entry names
 * of CNB layers (lc:archive, lc:layers: absolute, no trailing `/` on directories) next to the relative names
 * every other layer keeps, and the run image recorded for rebase (lc:platform/run_image.go).
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { runImageForExport } from "../../../src/cnb/phase/export.ts";
import type { EntryHeader } from "../../../src/layer/entry.ts";
import { type TarNames, TarWriter } from "../../../src/layer/index.ts";

async function names(mode: TarNames | undefined): Promise<string[]> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const w = new TarWriter(out, undefined, mode ? { names: mode } : {});
  const base = { mode: 0o755, uid: 1000, gid: 1000, size: 0, mtime: 315532801 };
  const entries: EntryHeader[] = [
    { ...base, path: "layers", type: "dir" },
    { ...base, path: "layers/bp/dep", type: "dir" },
    { ...base, path: "layers/bp/dep/f", type: "file", mode: 0o644, size: 1 },
    { ...base, path: "layers/bp/dep/l", type: "symlink", linkname: "f" },
  ];
  for (const e of entries) await w.add(e, e.type === "file" ? Buffer.from("x") : undefined);
  await w.finish();
  const tar = Buffer.concat(chunks);
  const out2: string[] = [];
  for (let off = 0; off + 512 <= tar.length; off += 512) {
    const name = tar
      .subarray(off, off + 100)
      .toString("latin1")
      .replace(/\0.*$/s, "");
    if (name === "") break;
    out2.push(name);
    const size = Number.parseInt(
      tar
        .subarray(off + 124, off + 136)
        .toString("latin1")
        .replace(/\0.*$/s, ""),
      8,
    );
    off += Math.ceil(size / 512) * 512;
  }
  return out2;
}

describe("export shapes as the lifecycle's", () => {
  it("CNB layer tars name entries absolutely without a trailing slash; other layers keep relative names", async () => {
    expect(await names("absolute")).toEqual([
      "/layers",
      "/layers/bp/dep",
      "/layers/bp/dep/f",
      "/layers/bp/dep/l",
    ]);
    expect(await names(undefined)).toEqual([
      "layers/",
      "layers/bp/dep/",
      "layers/bp/dep/f",
      "layers/bp/dep/l",
    ]);
  });

  it("records the run.toml entry naming the run image used, else the first, else nothing (--run-image alone)", () => {
    const run = [{ image: "reg/run:1", mirrors: ["mirror/run:1"] }, { image: "reg/other:1" }];
    expect(runImageForExport("reg/run:1", [], "0.13")).toEqual({});
    expect(runImageForExport("mirror/run:1", run, "0.13")).toEqual(run[0]);
    expect(runImageForExport("reg/other:1@sha256:abcd", run, "0.13")).toEqual({ image: "reg/other:1" });
    expect(runImageForExport("somewhere/else:1", run, "0.13")).toEqual(run[0]);
    // Below Platform API 0.12: stack.toml's run image (the builder's first).
    expect(runImageForExport("reg/other:1", run, "0.11")).toEqual(run[0]);
    // With image extensions (lc GetRunImageForExport): a run image they switched to is recorded by its name.
    expect(runImageForExport("somewhere/else:1", run, "0.13", true)).toEqual({ image: "somewhere/else:1" });
    expect(runImageForExport("mirror/run:1", run, "0.13", true)).toEqual(run[0]);
  });
});
