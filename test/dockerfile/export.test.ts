/**
 * `-o type=local|tar` (src/dockerfile/export.ts): the target stage's filesystem with the layers applied (a file a
 * later step removed is not exported), SOURCE_DATE_EPOCH's times in both, and several platforms each into its own
 * folder (BuildKit's platform-split: DEST/linux_amd64, DEST/linux_arm64) or, with platform-split=false, all into
 * DEST; one platform goes into DEST itself unless platform-split=true. A tar of several platforms holds each under
 * its folder (linux_amd64/…), as BuildKit's tar exporter.
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readTar } from "../../src/layer/reader.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-export-");
  base = await localBase(join(tmp, "base"));
}, 300_000);

async function build(dockerfile: string, args: string[]) {
  const ctx = await writeContext(join(tmp, `ctx-${n++}`), {
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
    "a.txt": "a\n",
  });
  return berth(["build", ctx, "--dockerfile", "--network", "none", ...args], {
    home: join(tmp, "home"),
    env: { SOURCE_DATE_EPOCH: "1000" },
  });
}

describe("-o type=local|tar", () => {
  it("exports the layers applied (whiteouts honoured), with SOURCE_DATE_EPOCH's times, in a folder and a tar", async () => {
    const dest = join(tmp, "whiteout");
    const r = await build(
      `FROM {{BASE}}\nRUN mkdir /out && echo 1 > /out/gone && echo 2 > /out/kept\nRUN rm /out/gone\nCOPY a.txt /out/\n`,
      ["-o", `type=local,dest=${dest}`, "-o", `type=tar,dest=${dest}.tar`],
    );
    expect(r.stderr).not.toMatch(/INTERNAL/);
    expect(r.code).toBe(0);
    expect((await readdir(join(dest, "out"))).sort()).toEqual(["a.txt", "kept"]);
    expect(await readFile(join(dest, "out", "kept"), "utf8")).toBe("2\n");
    expect((await lstat(join(dest, "out", "a.txt"))).mtimeMs).toBe(1000_000);
    expect((await lstat(join(dest, "bin", "busybox"))).isFile()).toBe(true);
    const names: string[] = [];
    for await (const { header, body } of readTar(createReadStream(`${dest}.tar`))) {
      if (header.path.startsWith("out/")) names.push(`${header.path} ${header.mtime}`);
      if (body) for await (const _ of body);
    }
    expect(names.sort()).toEqual(["out/a.txt 1000", "out/kept 1000"]);
  });

  it("device nodes and FIFOs are made in DEST when berth runs as root, as current fsutil's receiver mknods them", async () => {
    // (docker 20.10's client, the private engine's, wrote a device as an empty file and dropped a FIFO: its
    // vendored fsutil predates the DiskWriter's handleTarTypeBlockCharFifo, which BuildKit v0.26's clients have)
    const dest = join(tmp, "devices");
    const r = await build(
      `FROM {{BASE}}
RUN mkdir /out && mknod /out/null c 1 3 && mkfifo /out/fifo
`,
      ["-o", `type=local,dest=${dest}`],
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await lstat(join(dest, "out", "fifo"))).isFIFO()).toBe(true);
    // not root: mknod is not permitted, the node is skipped (a note), as before
    if (process.getuid?.() !== 0) return;
    const dev = await lstat(join(dest, "out", "null"));
    expect([dev.isCharacterDevice(), dev.rdev, (dev.mode & 0o777).toString(8), dev.uid]).toEqual([
      true,
      0x103,
      "644",
      0,
    ]);
  });

  it("one platform into DEST itself, or DEST/linux_amd64 with platform-split=true", async () => {
    const df = `FROM scratch\nCOPY a.txt /\n`;
    expect((await build(df, ["-o", join(tmp, "one"), "--platform", "linux/amd64"])).code).toBe(0);
    expect(await readdir(join(tmp, "one"))).toEqual(["a.txt"]);
    const split = `type=local,dest=${join(tmp, "one-split")},platform-split=true`;
    expect((await build(df, ["-o", split, "--platform", "linux/amd64"])).code).toBe(0);
    expect(await readdir(join(tmp, "one-split", "linux_amd64"))).toEqual(["a.txt"]);
  });

  it("several platforms: a folder each (platform-split), or all in DEST; a tar with a folder each", async () => {
    const df = `FROM scratch\nARG TARGETARCH\nCOPY a.txt /a-$TARGETARCH\n`;
    const platforms = ["--platform", "linux/amd64,linux/arm64"];
    expect((await build(df, ["-o", join(tmp, "split"), ...platforms])).code).toBe(0);
    expect((await readdir(join(tmp, "split"))).sort()).toEqual(["linux_amd64", "linux_arm64"]);
    expect(await readdir(join(tmp, "split", "linux_arm64"))).toEqual(["a-arm64"]);
    const merged = `type=local,dest=${join(tmp, "merged")},platform-split=false`;
    expect((await build(df, ["-o", merged, ...platforms])).code).toBe(0);
    expect((await readdir(join(tmp, "merged"))).sort()).toEqual(["a-amd64", "a-arm64"]);
    // a tar holds each platform under its folder, as BuildKit's tar exporter writes it
    expect((await build(df, ["-o", `type=tar,dest=${join(tmp, "p.tar")}`, ...platforms])).code).toBe(0);
    const entries: string[] = [];
    for await (const { header, body } of readTar(createReadStream(join(tmp, "p.tar")))) {
      entries.push(`${header.path} ${header.type} ${header.mode.toString(8)}`);
      if (body) for await (const _ of body);
    }
    expect(entries).toEqual([
      "linux_amd64 dir 755",
      "linux_amd64/a-amd64 file 644",
      "linux_arm64 dir 755",
      "linux_arm64/a-arm64 file 644",
    ]);
  });
});

describe("-o with --cache-from", () => {
  it("a fresh BERTH_HOME exports the layers it takes from a cache (fetched from there), running no RUN", async () => {
    const df = `FROM {{BASE}}\nRUN echo built > /made && echo ran\n`;
    const cache = join(tmp, "cache-from");
    expect(
      (await build(df, ["-t", "cached:1", "--cache-to", `type=local,dest=${cache},mode=max`])).code,
    ).toBe(0);
    const ctx = await writeContext(join(tmp, `ctx-${n++}`), { Dockerfile: df.replaceAll("{{BASE}}", base) });
    const dest = join(tmp, "from-cache");
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "--network",
        "none",
        "-o",
        dest,
        "--cache-from",
        `type=local,src=${cache}`,
      ],
      { home: join(tmp, "fresh-home"), env: { SOURCE_DATE_EPOCH: "1000" } },
    );
    expect(r.stderr).not.toMatch(/INTERNAL/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/STEP 2\/2: RUN echo built[^\n]*\n[^\n]*--> Using cache/);
    expect(await readFile(join(dest, "made"), "utf8")).toBe("built\n");
  });
});

describe("--iidfile and --metadata-file of several platforms", () => {
  it("the index's digest and descriptor, as buildx writes them (no config digest)", async () => {
    const df = `FROM scratch\nARG TARGETARCH\nCOPY a.txt /a-$TARGETARCH\n`;
    const iid = join(tmp, "mp.iid");
    const meta = join(tmp, "mp.json");
    const out = `oci:${join(tmp, "mp-layout")}:x`;
    const args = [
      "--platform",
      "linux/amd64,linux/arm64",
      "-t",
      out,
      "--iidfile",
      iid,
      "--metadata-file",
      meta,
    ];
    const r = await build(df, [...args, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(await readFile(iid, "utf8")).toBe(doc.digest);
    expect(JSON.parse(await readFile(meta, "utf8"))).toEqual({
      "containerimage.descriptor": {
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: doc.digest,
        size: expect.any(Number),
      },
      "containerimage.digest": doc.digest,
      "image.name": out,
    });
  });
});

describe("-o's image exporters", () => {
  it("type=oci and type=docker write archives skopeo reads, with no -t; --publish without -t is refused", async () => {
    const df = `FROM scratch\nCOPY a.txt /\n`;
    const oci = join(tmp, "img.oci.tar");
    const docker = join(tmp, "img.docker.tar");
    const r = await build(df, [
      "-o",
      `type=oci,dest=${oci},name=app:1`,
      "-o",
      `type=docker,dest=${docker},name=app:1`,
      "--json",
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.tags).toEqual([]);
    expect(doc.image).toBe(`oci-archive:${oci}:app:1`);
    for (const ref of [`oci-archive:${oci}:app:1`, `docker-archive:${docker}`]) {
      const inspected = JSON.parse(await run("skopeo", ["inspect", "--config", ref]));
      expect(inspected.rootfs.diff_ids.length).toBe(1);
    }
    const publish = await build(df, ["-o", join(tmp, "pub"), "--publish"]);
    expect(publish.code).toBe(2);
    expect(publish.stderr).toMatch(/--publish writes -t's image to its registry, and this build has no -t/);
  });
});
