/** COPY --from's sources read from snapshot dirs without a mount: as the mount reads them, or not at all. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type MatchedSource, type SelectOptions, selectSources } from "../../src/dockerfile/sources.ts";
import { layerSources } from "../../src/dockerfile/stage-sources.ts";
import { mountOverlay, unmount } from "../../src/runtime/mount.ts";
import type { UnionLayer } from "../../src/runtime/union.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";

const o: SelectOptions = { matcher: undefined, what: "--from=s", parents: false, excludes: [] };

/** What COPY takes from sources: everything but where on the host the files are. */
const shape = (sources: MatchedSource[]) =>
  sources.map((s) => ({
    ...s,
    files: s.files.map((f) => ({
      rel: f.rel,
      linkname: f.linkname,
      mode: f.st.mode,
      size: f.st.size,
      uid: f.st.uid,
    })),
  }));

/** Two snapshot dirs (top first): the bottom one a base, the top one a step's changes. */
async function layers() {
  const dir = await tempDir();
  const [top, bottom, host] = [join(dir, "top"), join(dir, "bottom"), join(dir, "host")];
  for (const d of [
    "bottom/etc",
    "bottom/merged",
    "bottom/gone",
    "top/out/sub",
    "top/merged",
    "top/etc",
    "host/secret-dir",
  ]) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await writeFile(join(host, "secret"), "host only");
  await writeFile(join(bottom, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  await writeFile(join(bottom, "merged/low"), "low");
  await writeFile(join(top, "merged/high"), "high");
  await writeFile(join(top, "out/app.gz"), "app");
  await writeFile(join(top, "out/sub/x"), "x");
  // links: one inside the selected dir to a host file, one on the way to a source, one to the host
  await symlink(join(host, "secret"), join(top, "out/sub/to-host"));
  await symlink("/out", join(top, "via"));
  await symlink(host, join(top, "hostlink"));
  const union: UnionLayer[] = [
    { dir: top, opaque: new Set() },
    { dir: bottom, opaque: new Set() },
  ];
  return { dir, top, bottom, host, union };
}

describe("layerSources", () => {
  it("a file and a directory one snapshot alone has: what the mounted root gives, read from that snapshot", async () => {
    const { dir, top, bottom, union } = await layers();
    const patterns = ["/out/", "/out/app.gz", "/etc/passwd", "out/sub/../app.gz"];
    const got = (await layerSources(union, patterns, o))!;
    expect(got).toBeDefined();
    for (const s of got)
      for (const f of s.files)
        expect(f.hostPath.startsWith(`${top}/`) || f.hostPath.startsWith(`${bottom}/`)).toBe(true);
    // the overlay of the same dirs, as StageRoot mounts it
    const target = join(dir, "mnt");
    await mkdir(target);
    await mountOverlay({ lowerDirs: [top, bottom], target });
    try {
      expect(shape(got)).toEqual(shape(await selectSources(target, patterns, o)));
      const excl = { ...o, excludes: ["sub"] };
      expect(shape((await layerSources(union, ["/out"], excl))!)).toEqual(
        shape(await selectSources(target, ["/out"], excl)),
      );
    } finally {
      await unmount(target);
    }
    // the link inside the selected dir is a link, not the host file it names
    const link = got[0]!.files.find((f) => f.rel === "sub/to-host")!;
    expect(link.st.isSymbolicLink()).toBe(true);
  });

  it("anything else is left to the mount: wildcards, --parents, a merged directory, a link on the way, a whiteout, a missing path", async () => {
    const { top, union } = await layers();
    expect(await layerSources(union, ["/out/*.gz"], o)).toBeUndefined();
    expect(await layerSources(union, ["/out/app.gz"], { ...o, parents: true })).toBeUndefined();
    expect(await layerSources(union, ["/merged"], o)).toBeUndefined();
    expect(await layerSources(union, ["/etc"], o)).toBeUndefined();
    expect(await layerSources(union, ["/via/app.gz"], o)).toBeUndefined();
    expect(await layerSources(union, ["/missing"], o)).toBeUndefined();
    expect(await layerSources(union, ["/"], o)).toBeUndefined();
    // a link to a host directory: never followed out of the snapshot
    expect(await layerSources(union, ["/hostlink/secret"], o)).toBeUndefined();
    expect(await layerSources(union, ["/hostlink/secret-dir"], o)).toBeUndefined();
    await run("mknod", [join(top, "out/sub/.wh"), "c", "0", "0"]);
    expect(await layerSources(union, ["/out/app.gz"], o)).toBeDefined();
    expect(await layerSources(union, ["/out"], o)).toBeUndefined();
  });

  it("a lower snapshot's link is not followed to find the directory there (a host directory does not count)", async () => {
    const { bottom, host, union } = await layers();
    await mkdir(join(host, "sub"), { recursive: true });
    // bottom/out -> the host dir, which has `sub`: the bottom snapshot has no out/sub of its own
    await symlink(host, join(bottom, "out"));
    expect(await layerSources(union, ["/out/sub"], o)).toBeDefined();
  });
});
