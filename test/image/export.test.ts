import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { exportFilesystem } from "../../src/image/export.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tarEntries } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";

describe("exportFilesystem", () => {
  it("writes the layers applied, deletions honoured, to a file or a stream", async () => {
    const dir = await tempDir();
    await umociImage(join(dir, "img"), "v1", [
      [
        { path: "keep", content: "old" },
        { path: "gone", content: "x" },
      ],
      [
        { path: "keep", content: "new" },
        { path: "gone", delete: true },
      ],
    ]);
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const image = parseImageArgument(`oci:${join(dir, "img")}:v1`);
    const out = join(dir, "fs.tar");
    const r = await exportFilesystem(image, out, ctx);
    const entries = await tarEntries(await readFile(out));
    expect(entries.keep).toBe("new");
    expect(Object.keys(entries).filter((n) => n.includes("gone") || n.includes(".wh."))).toEqual([]);
    expect(r.entries).toBe(Object.keys(entries).length);
    expect(r.size).toBe((await readFile(out)).length);
    const stream = new PassThrough();
    const streamed = buffer(stream);
    await exportFilesystem(image, stream, ctx);
    expect((await streamed).equals(await readFile(out))).toBe(true);
  });

  it("names the image it cannot export", async () => {
    const dir = await tempDir();
    await umociImage(join(dir, "img"), "v1", [[{ path: "f", content: "x" }]]);
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const image = parseImageArgument(`oci:${join(dir, "img")}:v1`);
    const err = await exportFilesystem(image, join(dir, "no", "such", "dir", "fs.tar"), ctx).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^exporting oci:${join(dir, "img")}:v1: `));
  });
});
