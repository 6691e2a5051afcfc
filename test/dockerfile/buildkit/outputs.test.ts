/**
 * `berth build -o type=local|tar`, `--label` and `--iidfile` against BuildKit (Debian's docker 20.10 with
 * DOCKER_BUILDKIT=1, a private engine): the same multi-stage Dockerfile (setuid and 0600 files, a hard link, a
 * relative and an absolute symlink, a folder owned by 1234:5678) exported by both. The local exports agree on
 * files, modes, owners (the exporting user's: root here), link targets, hard-link groups and content, and an
 * existing file in DEST stays (neither cleans it); the tars agree on the same, with the image's owners. `--label`
 * goes over the Dockerfile's LABEL with no history entry, and the iidfile is `sha256:` + the config digest with
 * no newline, on both sides.
 */
import { createReadStream } from "node:fs";
import { chmod, lstat, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTar } from "../../../src/layer/reader.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { readTree } from "../helpers/compare.ts";
import { writeContext } from "../helpers/local.ts";
import { type Engine, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;

beforeAll(async () => {
  tmp = await tempDir("berth-df-outputs-");
  engine = await startEngine(join(tmp, "engine"), { frontend: false });
}, 600_000);
afterAll(async () => {
  await engine?.engine.stop();
});

const DOCKERFILE = `FROM {{BASE}} AS build
RUN mkdir -p /out/sub && echo hi > /out/f && chmod 4751 /out/f && ln /out/f /out/hard && ln -s f /out/link \\
 && ln -s /etc/passwd /out/abs && echo x > /out/sub/x && chmod 0600 /out/sub/x && chown 1234:5678 /out/sub
LABEL from=build
FROM scratch
COPY --from=build /out/ /
LABEL stage=final over=dockerfile
`;

async function context(name: string, dockerfile = DOCKERFILE): Promise<string> {
  return writeContext(join(tmp, name, "ctx"), {
    "berth.Dockerfile": dockerfile.replaceAll("{{BASE}}", engine.base),
    "docker.Dockerfile": dockerfile.replaceAll("{{BASE}}", engine.buildkitBase),
  });
}

const home = () => join(tmp, "home");

function berthBuild(ctx: string, args: string[]) {
  return berth(["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), "--network", "none", ...args], {
    home: home(),
  });
}

function dockerBuild(ctx: string, args: string[]) {
  return engine.engine.docker([
    "build",
    "--network=none",
    "-f",
    join(ctx, "docker.Dockerfile"),
    ...args,
    ctx,
  ]);
}

/** A folder's tree (helpers/compare.ts) and its hard-link groups: the paths sharing an inode. */
async function listDir(root: string) {
  const tree = await readTree(root);
  const inodes = new Map<number, string[]>();
  for (const [path, e] of Object.entries(tree)) {
    if (e.type !== "file") continue;
    const { ino } = await lstat(join(root, path));
    inodes.set(ino, [...(inodes.get(ino) ?? []), path]);
  }
  return { tree, links: [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort()) };
}

/** A tar as `path mode uid:gid type target content` (a hard link's content is its target's) and its hard links. */
async function listTar(file: string): Promise<{ entries: string[]; links: string[][] }> {
  const entries: string[] = [];
  const links: string[][] = [];
  const content = new Map<string, string>();
  for await (const { header, body } of readTar(createReadStream(file))) {
    const chunks: Buffer[] = [];
    if (body) for await (const c of body) chunks.push(c as Buffer);
    const type = header.type === "hardlink" ? "file" : header.type;
    if (header.type === "file")
      content.set(header.path, JSON.stringify(Buffer.concat(chunks).toString("utf8")));
    if (header.type === "hardlink") links.push([header.linkname!, header.path].sort());
    const extra =
      header.type === "symlink"
        ? header.linkname
        : header.type === "file" || header.type === "hardlink"
          ? content.get(header.type === "file" ? header.path : header.linkname!)
          : "";
    entries.push(`${header.path} ${header.mode.toString(8)} ${header.uid}:${header.gid} ${type} ${extra}`);
  }
  return { entries: entries.sort(), links };
}

describe("-o type=local and type=tar, as BuildKit's exporters", () => {
  it("the local exports agree (the exporting user's owners, links, modes, content) and DEST is merged into", async () => {
    const ctx = await context("local");
    const ours = join(tmp, "local", "berth");
    const theirs = join(tmp, "local", "buildkit");
    for (const dir of [ours, theirs]) {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, "stale"), "there before\n");
    }
    const r = await berthBuild(ctx, ["-o", `type=local,dest=${ours}`]);
    expect(r.stderr).not.toMatch(/INTERNAL/);
    expect(r.code).toBe(0);
    await dockerBuild(ctx, ["-o", `type=local,dest=${theirs}`]);
    const a = await listDir(ours);
    const b = await listDir(theirs);
    expect(a).toEqual(b);
    expect(a.tree.stale).toMatchObject({ type: "file", mode: "644", owner: "0:0" });
    expect(a.tree.sub).toEqual({ type: "dir", mode: "755", owner: "0:0" });
    expect(a.tree.f).toMatchObject({ type: "file", mode: "4751", owner: "0:0" });
    expect(a.tree.abs).toEqual({ type: "symlink", mode: "777", owner: "0:0", content: "/etc/passwd" });
    expect(a.links).toEqual([["f", "hard"]]);
    // no image was written: -o alone
    const images = await berth(["images", "--json"], { home: home() });
    expect(images.stdout).not.toMatch(/sha256/);
  });

  it("the tars agree: the image's owners, hard links as links, symlinks as written", async () => {
    const ctx = await context("tar");
    const ours = join(tmp, "tar", "berth.tar");
    const theirs = join(tmp, "tar", "buildkit.tar");
    // two exports of one build: the folder's times are the tar's
    const r = await berthBuild(ctx, ["-o", `type=tar,dest=${ours}`, "-o", join(tmp, "tar", "dir")]);
    expect(r.code).toBe(0);
    const tarTimes: string[] = [];
    for await (const { header, body } of readTar(createReadStream(ours))) {
      if (body) for await (const _ of body);
      if (header.type === "file") tarTimes.push(`${header.path} ${header.mtime}`);
    }
    const dirTimes = await Promise.all(
      tarTimes.map(async (l) => {
        const path = l.split(" ")[0]!;
        return `${path} ${Math.floor((await lstat(join(tmp, "tar", "dir", path))).mtimeMs / 1000)}`;
      }),
    );
    expect(dirTimes).toEqual(tarTimes);
    await dockerBuild(ctx, ["-o", `type=tar,dest=${theirs}`]);
    const a = await listTar(ours);
    expect(a).toEqual(await listTar(theirs));
    expect(a.entries).toContain("sub 755 1234:5678 dir ");
    // -o - is the same tar on standard output
    const out = await berthBuild(ctx, ["-o", "-"]);
    expect(out.code).toBe(0);
    await writeFile(join(tmp, "tar", "stdout.tar"), out.stdoutBytes);
    expect(await listTar(join(tmp, "tar", "stdout.tar"))).toEqual(a);
  });

  it("the tar's entries come in BuildKit's order: fsutil's walk (each folder's names sorted, depth first)", async () => {
    // names across two layers, where a walk and a sort of whole paths differ ("a-c" < "a.b" < "a/" as bytes)
    const ctx = await context(
      "order",
      `FROM {{BASE}} AS build
RUN mkdir -p /out/a /out/z && echo 1 > /out/a.b && echo 2 > /out/a-c && echo 3 > /out/z/f && ln /out/z/f /out/a/hard
RUN echo 4 > /out/B && echo 5 > /out/a/0 && echo 6 > /out/0 && mkdir /out/a/d && echo 7 > /out/a/d/x
FROM scratch
COPY --from=build /out/ /
`,
    );
    const ours = join(tmp, "order", "berth.tar");
    const theirs = join(tmp, "order", "buildkit.tar");
    const r = await berthBuild(ctx, ["-o", `type=tar,dest=${ours}`]);
    expect(r.code, r.stderr).toBe(0);
    await dockerBuild(ctx, ["-o", `type=tar,dest=${theirs}`]);
    const order = async (file: string) => {
      const out: string[] = [];
      for await (const { header, body } of readTar(createReadStream(file))) {
        if (body) for await (const _ of body);
        out.push(`${header.path} ${header.type}${header.linkname ? ` ${header.linkname}` : ""}`);
      }
      return out;
    };
    const want = await order(theirs);
    expect(await order(ours)).toEqual(want);
  });

  it("a missing DEST (and the folders above it) is made 0700, not given the image root's mode; an existing one is kept", async () => {
    const ctx = await context(
      "dest",
      `FROM {{BASE}}
RUN mkdir -p /out && echo 1 > /out/f && chmod 0750 /out
FROM scratch
COPY --from=0 /out/ /
`,
    );
    const modes = async (side: string) => {
      const st = async (p: string) => ((await lstat(join(tmp, "dest", side, p))).mode & 0o7777).toString(8);
      return [await st("new"), await st("new/dest"), await st("kept"), await st("new/dest/f")];
    };
    for (const side of ["berth", "buildkit"]) {
      await mkdir(join(tmp, "dest", side, "kept"), { recursive: true, mode: 0o751 });
      await chmod(join(tmp, "dest", side, "kept"), 0o751);
    }
    for (const to of ["new/dest", "kept"]) {
      const r = await berthBuild(ctx, ["-o", `type=local,dest=${join(tmp, "dest", "berth", to)}`]);
      expect(r.code, r.stderr).toBe(0);
      await dockerBuild(ctx, ["-o", `type=local,dest=${join(tmp, "dest", "buildkit", to)}`]);
    }
    const want = await modes("buildkit");
    expect(want).toEqual(["700", "700", "751", "644"]);
    expect(await modes("berth")).toEqual(want);
  });

  it("--label over the Dockerfile's LABEL, no history entry; --iidfile as docker writes it", async () => {
    const ctx = await context("label");
    const iid = join(tmp, "label", "berth.iid");
    const r = await berthBuild(ctx, [
      "-t",
      `oci:${join(tmp, "label", "layout")}:img`,
      "--label",
      "over=cli",
      "--label",
      "extra=1",
      "--iidfile",
      iid,
      "--json",
    ]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    await dockerBuild(ctx, [
      "-t",
      "outputs/label:1",
      "--label",
      "over=cli",
      "--label",
      "extra=1",
      "--iidfile",
      `${iid}.docker`,
    ]);
    const theirs = JSON.parse(await engine.engine.docker(["image", "inspect", "outputs/label:1"]))[0];
    const layout = join(tmp, "label", "layout");
    const config = JSON.parse(await readFile(join(layout, "blobs", "sha256", doc.imageId.slice(7)), "utf8"));
    expect(config.config.Labels).toEqual(theirs.Config.Labels);
    expect(config.config.Labels).toEqual({ extra: "1", over: "cli", stage: "final" });
    const history = (await engine.engine.docker(["history", "-q", "--no-trunc", "outputs/label:1"]))
      .trim()
      .split("\n");
    expect(config.history.length).toBe(history.length);
    expect(await readFile(iid, "utf8")).toBe(doc.imageId);
    expect(await readFile(`${iid}.docker`, "utf8")).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("--metadata-file: buildx's keys for the image written", async () => {
    const ctx = await context("metadata");
    const file = join(tmp, "metadata", "meta.json");
    const layout = `oci:${join(tmp, "metadata", "layout")}:img`;
    const r = await berthBuild(ctx, ["-t", layout, "--metadata-file", file, "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      "containerimage.config.digest": doc.imageId,
      "containerimage.descriptor": {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: doc.digest,
        size: expect.any(Number),
      },
      "containerimage.digest": doc.digest,
      "image.name": layout,
    });
  });
});

describe("bad -o values and failed builds leave nothing behind", () => {
  it("one sentence naming -o and the value; no DEST, no iidfile", async () => {
    const ctx = await context("bad");
    const dest = join(tmp, "bad", "out");
    for (const [value, why] of [
      ["type=bogus,dest=x", /-o "type=bogus,dest=x": type=bogus is not an exporter berth has/],
      ["type=local", /-o "type=local": type=local needs dest=DIR/],
      [`type=local,dest=${dest},foo=bar`, /unknown key "foo" for type=local/],
    ] as const) {
      const r = await berthBuild(ctx, ["-o", value, "--iidfile", join(tmp, "bad", "iid")]);
      expect({ value, code: r.code }).toEqual({ value, code: 2 });
      expect(r.stderr).toMatch(why);
      expect(r.stderr.trim().split("\n").length).toBeLessThanOrEqual(2);
    }
    // -o - writes to standard output, where --json prints; an iidfile needs an image
    const json = await berthBuild(ctx, ["-o", "-", "--json"]);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/-o - writes the tar to standard output, where --json prints too/);
    const noImage = await berthBuild(ctx, ["-o", dest, "--iidfile", join(tmp, "bad", "iid")]);
    expect(noImage.code).toBe(2);
    expect(noImage.stderr).toMatch(
      /--iidfile: this build writes no image \(only -o .*\), so it has no image ID/,
    );
    await expect(lstat(dest)).rejects.toThrow(/ENOENT/);
    const failing = await context("failing", `FROM {{BASE}}\nRUN false\n`);
    const r = await berthBuild(failing, ["-o", dest, "-t", "x:1", "--iidfile", join(tmp, "bad", "iid")]);
    expect(r.code).not.toBe(0);
    await expect(lstat(dest)).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(tmp, "bad", "iid"))).rejects.toThrow(/ENOENT/);
  });

  it("links already in DEST do not lead the export out of it: replaced, as docker's client replaces them", async () => {
    const ctx = await context("escape");
    const trees = [];
    for (const side of ["berth", "buildkit"]) {
      const dest = join(tmp, "escape", side, "out");
      const outside = join(tmp, "escape", side, "outside");
      await mkdir(dest, { recursive: true });
      await mkdir(outside, { recursive: true });
      await symlink(outside, join(dest, "sub"));
      await symlink(join(outside, "f"), join(dest, "f"));
      if (side === "berth") expect((await berthBuild(ctx, ["-o", dest])).code).toBe(0);
      else await dockerBuild(ctx, ["-o", `type=local,dest=${dest}`]);
      expect({ side, outside: await readdir(outside) }).toEqual({ side, outside: [] });
      trees.push(await listDir(dest));
    }
    expect(trees[0]).toEqual(trees[1]);
    expect(trees[0]!.tree.sub?.type).toBe("dir");
    expect(trees[0]!.tree.f?.type).toBe("file");
  });
});
