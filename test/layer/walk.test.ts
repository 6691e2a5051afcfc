import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canStreamLayer, planLayer, planLayerByWalk, streamLayer } from "../../src/layer/walk.ts";
import { tempDirSync } from "../helpers/temp.ts";
import { sh } from "./helpers.ts";

async function streamed(dir: string, options: Parameters<typeof streamLayer>[1], dest?: string) {
  const out = [];
  for await (const e of streamLayer(dir, options, dest)) out.push(e);
  return out;
}

describe("streamLayer", () => {
  it("gives planLayer's entries in planLayer's order: names that sort between a folder and its children, hardlinks, excludes", async () => {
    const dir = tempDirSync("berth-stream-walk-");
    // "a-b" and "a.c" sort after "a" but before "a/x"; "a0" after all of "a/".
    for (const d of ["a/x", "a/y/z", "a0", "é/ü", "skip/me"]) await mkdir(join(dir, d), { recursive: true });
    for (const f of ["a-b", "a.c", "a/x/1", "a/y/z/2", "a0/3", "é/ü/4", "skip/me/5", "README.md", "b.md"]) {
      await writeFile(join(dir, f), f);
    }
    sh("ln", [join(dir, "a0/3"), join(dir, "a/hard")]);
    await symlink("a/x/1", join(dir, "link"));
    for (const options of [{}, { exclude: ["*.md", "skip"], mtime: 7, uid: 1 }]) {
      expect(canStreamLayer(options)).toBe(true);
      const planned = await planLayerByWalk([{ source: dir, dest: "/" }], options);
      expect(await streamed(dir, options)).toEqual(planned);
      // planLayer takes the streaming walk for one directory.
      expect(await planLayer([{ source: dir, dest: "/" }], options)).toEqual(planned);
      for (const dest of ["/srv/app/", "opt", "a0/deep"]) {
        const at = await planLayerByWalk([{ source: dir, dest }], options);
        expect(await streamed(dir, options, dest)).toEqual(at);
      }
    }
    const paths = (await streamed(dir, {})).map((e) => e.header.path);
    expect(paths.indexOf("a-b")).toBeLessThan(paths.indexOf("a/hard"));
    expect((await streamed(dir, {})).find((e) => e.header.path === "a0/3")?.header.type).toBe("hardlink");
  });

  it("orders names outside the BMP by their UTF-8 bytes, as planLayer does", async () => {
    const dir = tempDirSync("berth-stream-astral-");
    // UTF-16 puts U+1F600 (a surrogate pair, D83D…) before U+E000; UTF-8 (F0… after EE…) does not.
    for (const name of ["\u{1F600}", "\uE000", "a", "\u00E9"]) await writeFile(join(dir, name), name);
    await mkdir(join(dir, "d\u{1F600}"));
    await writeFile(join(dir, "d\u{1F600}", "\uE000"), "x");
    const planned = await planLayerByWalk([{ source: dir, dest: "/" }], {});
    expect(await streamed(dir, {})).toEqual(planned);
    const paths = planned.map((e) => e.header.path);
    expect(paths.indexOf("\uE000")).toBeLessThan(paths.indexOf("\u{1F600}"));
  });

  it("is not used when a pattern re-includes something below an excluded folder", () => {
    expect(canStreamLayer({ exclude: ["skip", "!skip/keep"] })).toBe(false);
  });
});
