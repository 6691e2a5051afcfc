import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { appendLayers, epochToRfc3339 } from "../../src/image/append.ts";
import type { TransportContext } from "../../src/transport/context.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { layoutImage, tarEntries } from "../helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";

async function folder(dir: string, files: Record<string, string>): Promise<string> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, ".."), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

describe("epochToRfc3339", () => {
  it("writes whole seconds without fractions", () => {
    expect(epochToRfc3339(0)).toBe("1970-01-01T00:00:00Z");
    expect(epochToRfc3339(1_700_000_000)).toBe("2023-11-14T22:13:20Z");
  });
});

describe("appendLayers", () => {
  it("adds one reproducible layer per folder on top of the base, at its destination", async () => {
    const dir = await tempDir();
    await randomLayout(join(dir, "base"), "v1");
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const a = await folder(join(dir, "a"), { "hello.txt": "hi\n" });
    const b = await folder(join(dir, "b"), { "sub/x": "x" });
    const dirs = [
      { source: a, dest: "/" },
      { source: b, dest: "/opt/b" },
    ];
    const out = (tag: string) => parseImageArgument(`oci:${join(dir, "out")}:${tag}`);
    const base = parseImageArgument(`oci:${join(dir, "base")}:v1`);
    const r1 = await appendLayers(base, dirs, out("one"), ctx, { sourceDateEpoch: 1_700_000_000 });
    const r2 = await appendLayers(base, dirs, out("two"), ctx, { sourceDateEpoch: 1_700_000_000 });
    expect(r2.root.digest).toBe(r1.root.digest);

    const image = await layoutImage(join(dir, "out"), "one");
    expect(image.manifest.layers).toHaveLength(4);
    expect(image.config?.created).toBe("2023-11-14T22:13:20Z");
    expect(image.config?.history?.slice(-2).map((h) => h.created_by)).toEqual([
      "berth append (1 entries)",
      "berth append --dest /opt/b (4 entries)",
    ]);
    const layers = image.layers();
    expect(await tarEntries(await layers[2]!.uncompressed())).toEqual({ "hello.txt": "hi\n" });
    expect(Object.keys(await tarEntries(await layers[3]!.uncompressed())).sort()).toEqual([
      "opt/",
      "opt/b/",
      "opt/b/sub/",
      "opt/b/sub/x",
    ]);
  });

  it("refuses no folders, and names a folder it cannot read and the target", async () => {
    const dir = await tempDir();
    const ctx: TransportContext = { home: join(dir, "home"), env: {} };
    const scratch = parseImageArgument("scratch", { allowScratch: true });
    const target = parseImageArgument(`oci:${join(dir, "out")}:x`);
    expect(() => appendLayers(scratch, [], target, ctx)).toThrow("append needs at least one directory");
    const missing = join(dir, "missing");
    const err = await appendLayers(scratch, [{ source: missing, dest: "/" }], target, ctx).catch(
      (e: unknown) => e,
    );
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^writing ${target.text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: building a layer from ${missing}: `,
      ),
    );
  });
});
