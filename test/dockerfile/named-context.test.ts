/**
 * `--build-context NAME=VALUE`: what FROM NAME, COPY --from=NAME and RUN --mount=from=NAME read, as docker
 * buildx's (BuildKit's dockerfile frontend): a directory (its .dockerignore applied, its files copied as root's,
 * the steps reading it keyed on what it holds), an OCI layout's image, an image berth reads; a name replaces the
 * stage of that name. Compared with buildah's --build-context where buildah has the same meaning.
 */
import { randomUUID } from "node:crypto";
import { chown, lstat, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import {
  contextName,
  findContext,
  parseBuildContext,
  platformKey,
} from "../../src/dockerfile/named-context.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { makeBaseRootfs } from "./helpers/base.ts";
import { buildBoth } from "./helpers/compare.ts";
import { type GitServer, serveGitRepo } from "./helpers/git.ts";
import { localBase, writeContext } from "./helpers/local.ts";

const amd64 = parsePlatform("linux/amd64");
let tmp: string;
let base: string;
let layout: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-named-");
  base = await localBase(join(tmp, "base"));
  layout = base.slice("oci:".length, base.lastIndexOf(":"));
}, 120_000);

describe("parseBuildContext", () => {
  it("names are matched as BuildKit's: the familiar reference without :latest", () => {
    expect(contextName("alpine")).toBe("alpine");
    expect(contextName("alpine:latest")).toBe("alpine");
    expect(contextName("docker.io/library/alpine")).toBe("alpine");
    expect(contextName("alpine:3.20")).toBe("alpine:3.20");
    expect(contextName("127.0.0.1:5000/team/app:latest")).toBe("127.0.0.1:5000/team/app");
    expect(contextName("Bad")).toBeUndefined();
    const c = parseBuildContext(`alpine=oci-layout://${layout}:base`, "/");
    expect(findContext([c], "docker.io/library/alpine:latest", amd64)).toBe(c);
    expect(findContext([c], "alpine:3", amd64)).toBeUndefined();
    const stage = parseBuildContext("build=.", "/");
    expect(findContext([stage], "Build", amd64)).toBe(stage);
  });

  it("NAME::PLATFORM is read by a build for that platform, before the bare NAME (BuildKit's context:NAME::PLATFORM)", () => {
    const bare = parseBuildContext("src=.", "/");
    const arm = parseBuildContext("src::linux/arm64/v8=/tmp", "/");
    const armv7 = parseBuildContext("docker.io/library/src::linux/arm=/tmp", "/");
    expect([arm.name, arm.platform, armv7.name, armv7.platform]).toEqual([
      "src",
      "linux/arm64",
      "src",
      "linux/arm/v7",
    ]);
    const all = [bare, arm, armv7];
    expect(findContext(all, "src", amd64)).toBe(bare);
    expect(findContext(all, "src", parsePlatform("linux/arm64"))).toBe(arm);
    expect(findContext(all, "src:latest", parsePlatform("linux/arm/v7"))).toBe(armv7);
    expect(findContext([arm], "src", amd64)).toBeUndefined();
    expect(platformKey(parsePlatform("linux/amd64/v1"))).toBe("linux/amd64");
    expect(() => parseBuildContext("Scratch=.", "/")).toThrow(/is not a stage or image name/);
    expect(() => parseBuildContext("context=.", "/")).toThrow(
      '--build-context "context=.": the name "context" is reserved',
    );
    expect(() => parseBuildContext("scratch::linux/amd64=.", "/")).toThrow(/"scratch" is reserved/);
    expect(() => parseBuildContext("src::linux=.", "/")).toThrow(
      '--build-context "src::linux=.": "linux" after :: is not a platform',
    );
  });

  it("reads a directory (relative to the current one), docker-image:// and oci-layout:// with a tag or digest", () => {
    expect(parseBuildContext("src=base", tmp)).toEqual({
      name: "src",
      kind: "dir",
      dir: join(tmp, "base"),
      text: "base",
    });
    expect(parseBuildContext("b=docker-image://127.0.0.1:5000/app:1", tmp)).toMatchObject({
      kind: "image",
      image: "127.0.0.1:5000/app:1",
    });
    expect(parseBuildContext("b=oci-layout://base/layout:base", tmp)).toMatchObject({
      image: `oci:${layout}:base`,
    });
    const d = `sha256:${"a".repeat(64)}`;
    expect(parseBuildContext(`b=oci-layout://${layout}@${d}`, "/")).toMatchObject({
      image: `oci:${layout}:${d}`,
    });
    expect(parseBuildContext(`b=oci-layout://${layout}`, "/")).toMatchObject({ image: `oci:${layout}` });
    // ADD's git forms, and any other http(s) URL (one file)
    for (const g of [
      "git@github.com:a/b.git",
      "git://h/r.git#v1",
      "https://h/r.git#main:sub",
      "https://github.com/a/b",
    ])
      expect(parseBuildContext(`g=${g}`, "/"), g).toMatchObject({ kind: "git", text: g });
    expect(parseBuildContext("u=https://h/tool.tar.gz", "/")).toMatchObject({
      kind: "url",
      text: "https://h/tool.tar.gz",
    });
  });

  it("refuses a bad value in one sentence naming the flag and the value", () => {
    const refused = (v: string) => {
      try {
        parseBuildContext(v, tmp);
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(refused("noequals")).toBe('--build-context "noequals": needs NAME=VALUE');
    expect(refused("Bad=.")).toBe('--build-context "Bad=.": the name "Bad" is not a stage or image name');
    expect(refused("a b=.")).toBe('--build-context "a b=.": the name "a b" is not a stage or image name');
    expect(refused("x=foo://bar")).toBe(
      '--build-context "x=foo://bar": the scheme foo:// is not one berth knows',
    );
    expect(refused("x=./missing")).toBe(`--build-context "x=./missing": ${tmp}/missing is not a directory`);
    expect(refused("x=oci-layout://base")).toBe(
      `--build-context "x=oci-layout://base": ${tmp}/base is not an OCI layout (no index.json)`,
    );
    expect(refused("x=docker-image://UPPER")).toMatch(
      /^--build-context "x=docker-image:\/\/UPPER": image reference/,
    );
  });
});

/** berth build of `ctx` with `df` and the flags; the image's files unpacked by umoci. */
async function build(name: string, df: string, flags: string[], home = "home") {
  const dir = join(tmp, name);
  await writeContext(join(dir, "ctx"), { Dockerfile: df });
  return rebuild(name, flags, home);
}

async function rebuild(name: string, flags: string[], home = "home") {
  const dir = join(tmp, name);
  const r = await berth(
    ["build", join(dir, "ctx"), "--dockerfile", "-t", `oci:${dir}/out:img`, "--json", ...flags],
    {
      home: join(tmp, home),
      env: { SOURCE_DATE_EPOCH: "0" },
      cwd: dir,
    },
  );
  return { ...r, dir, digest: r.code === 0 ? (JSON.parse(r.stdout) as { digest: string }).digest : "" };
}

/** The built image's config and its number of layers. */
async function imageOf(dir: string) {
  const blob = async (d: string) =>
    JSON.parse(await readFile(join(dir, "out", "blobs", "sha256", d.slice(7)), "utf8"));
  const idx = JSON.parse(await readFile(join(dir, "out", "index.json"), "utf8")) as {
    manifests: { digest: string }[];
  };
  const manifest = await blob(idx.manifests[0]!.digest);
  const config = (await blob(manifest.config.digest)) as {
    config: Record<string, unknown>;
    history: { created_by?: string; comment?: string }[];
  };
  return { config, layers: (manifest.layers as unknown[]).length };
}

async function unpack(dir: string, as: string): Promise<string> {
  await run("umoci", ["unpack", "--image", `${dir}/out:img`, `${dir}/${as}`]);
  return `${dir}/${as}/rootfs`;
}

describe("berth build --build-context", () => {
  it("a directory: COPY --from and RUN --mount=from read it, its .dockerignore applied, its files root's", async () => {
    const other = await writeContext(join(tmp, "dir", "other"), {
      "a.txt": "from the named context\n",
      "sub/b.txt": "b\n",
      "secret.key": "ignored\n",
      ".dockerignore": "secret.key\n",
    });
    await chown(join(other, "a.txt"), 1000, 1000);
    const df = `FROM ${base}\nCOPY --from=other / /o/\nRUN --mount=from=other,target=/m cat /m/a.txt > /m.txt && echo RAN-M\n`;
    const r = await build("dir", df, ["--build-context", "other=other", "--network", "none"]);
    expect(r.stderr).toMatch(/^RAN-M$/m);
    expect(r.code).toBe(0);
    const root = await unpack(r.dir, "b1");
    expect(await readFile(join(root, "o/a.txt"), "utf8")).toBe("from the named context\n");
    expect(await readFile(join(root, "m.txt"), "utf8")).toBe("from the named context\n");
    expect(await readFile(join(root, "o/sub/b.txt"), "utf8")).toBe("b\n");
    await expect(readFile(join(root, "o/secret.key"))).rejects.toThrow(/ENOENT/);
    // BuildKit's local sources are root's (filesync's resetUIDAndGID), as the build context's
    const st = await lstat(join(root, "o/a.txt"));
    expect([st.uid, st.gid]).toEqual([0, 0]);

    // the same: every step cached; an ignored file changed: still; a file read changed: both steps run again
    const same = await rebuild("dir", ["--build-context", "other=other", "--network", "none"]);
    expect([same.digest, same.stderr.match(/^RAN-M$/m) !== null]).toEqual([r.digest, false]);
    await writeFile(join(other, "secret.key"), "changed\n");
    const ignored = await rebuild("dir", ["--build-context", "other=other", "--network", "none"]);
    expect([ignored.digest, ignored.stderr.match(/^RAN-M$/m) !== null]).toEqual([r.digest, false]);
    await writeFile(join(other, "sub/b.txt"), "changed\n");
    const changed = await rebuild("dir", ["--build-context", "other=other", "--network", "none"]);
    expect(changed.digest).not.toBe(r.digest);
    expect(changed.stderr).toMatch(/^RAN-M$/m);
  });

  it("a name replaces the stage of that name; FROM NAME reads an OCI layout's image or an image of the store", async () => {
    await writeContext(join(tmp, "stage", "repl"), { f: "from the context\n" });
    const df = `FROM ${base} AS build\nRUN echo RAN-STAGE && echo stage > /f\nFROM alpine:latest\nCOPY --from=build /f /f\n`;
    const r = await build("stage", df, [
      "--build-context",
      "build=repl",
      "--build-context",
      `docker.io/library/alpine=oci-layout://${layout}:base`,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/^RAN-STAGE$/m);
    const root = await unpack(r.dir, "b1");
    expect(await readFile(join(root, "f"), "utf8")).toBe("from the context\n");
    // the busybox base's files: FROM alpine:latest read the layout
    expect(await readFile(join(root, "bin/busybox")).then((b) => b.length > 0)).toBe(true);

    // docker-image://: an image berth reads (here the store's)
    const home = "home-store";
    expect((await berth(["copy", base, "local/busybox:1"], { home: join(tmp, home) })).code).toBe(0);
    const s = await rebuild(
      "stage",
      ["--build-context", "build=repl", "--build-context", "alpine=docker-image://local/busybox:1"],
      home,
    );
    expect(s.code).toBe(0);
    expect(s.digest).toBe(r.digest);
  });

  it("FROM a directory context: its files on BuildKit's empty image (PATH, WorkingDir /), .dockerignore applied, root's", async () => {
    const d = await writeContext(join(tmp, "from-dir", "d"), {
      "bin/x.txt": "x\n",
      "secret.key": "ignored\n",
      ".dockerignore": "secret.key\n",
    });
    await chown(join(d, "bin/x.txt"), 1000, 1000);
    // buildah 1.28 reads `FROM d` as an image's short name even with --build-context d=DIR ("short-name "d" did
    // not resolve"); BuildKit's dockerfile2llb gives the stage contextByName's state and emptyImage's config
    const r = await build("from-dir", `FROM d\nCOPY --from=${base} /bin/busybox /busybox\n`, [
      "--build-context",
      "d=d",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const root = await unpack(r.dir, "b1");
    expect(await readFile(join(root, "bin/x.txt"), "utf8")).toBe("x\n");
    await expect(readFile(join(root, "secret.key"))).rejects.toThrow(/ENOENT/);
    const st = await lstat(join(root, "bin/x.txt"));
    expect([st.uid, st.gid]).toEqual([0, 0]);
    const img = await imageOf(r.dir);
    expect(img.config.config).toEqual({
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      WorkingDir: "/",
    });
    // the context's layer has no entry in BuildKit's image: its exporter (normalizeLayersAndHistory) appends one,
    // described as the top layer's ref is: here the COPY's file op, by its vertex's name (FROM d counts, unnamed)
    expect(img.config.history.map((h) => [h.created_by, h.comment ?? ""])).toEqual([
      ["COPY /bin/busybox /busybox # buildkit", ""],
      [`[1/2] COPY --from=${base} /bin/busybox /busybox`, "buildkit.exporter.image.v0"],
    ]);
    expect(img.layers).toBe(2);
    // a file of the context changed: the image changes; the same again: cached
    await writeFile(join(d, "bin/x.txt"), "y\n");
    const changed = await rebuild("from-dir", ["--build-context", "d=d"]);
    expect(changed.digest).not.toBe(r.digest);
    expect((await rebuild("from-dir", ["--build-context", "d=d"])).digest).toBe(changed.digest);
    // a base the context names that cannot be read fails naming the flag
    const m = await rebuild("from-dir", ["--build-context", `d=oci-layout://${layout}:nope`]);
    expect(m.code).not.toBe(0);
    expect(m.stderr).toContain(`FROM d (--build-context oci-layout://${layout}:nope)`);
  });

  it("FROM a directory context: the history as BuildKit's exporter writes it, the context's entry appended for the top layer", async () => {
    // the context is a root with a shell (the base's busybox and its links) for the RUN
    await makeBaseRootfs(join(tmp, "history", "d"));
    const df = `FROM d AS files\nENV A=1\nFROM files\nRUN echo hi > /hi\nENV B=2\n`;
    const r = await build("history", df, ["--build-context", "d=d"]);
    expect(r.code, r.stderr).toBe(0);
    const img = await imageOf(r.dir);
    expect(img.layers).toBe(2);
    // the entries with a layer describe the layers from the bottom; the one appended, the RUN's (its exec's root
    // mount), after the config entries; created as the top layer's entry; no empty_layer
    expect(img.config.history).toEqual([
      { created: "1970-01-01T00:00:00Z", created_by: "ENV A=1", empty_layer: true },
      { created: "1970-01-01T00:00:00Z", created_by: "RUN /bin/sh -c echo hi > /hi # buildkit" },
      { created: "1970-01-01T00:00:00Z", created_by: "ENV B=2", empty_layer: true },
      {
        created: "1970-01-01T00:00:00Z",
        created_by: "mount / from exec /bin/sh -c echo hi > /hi",
        comment: "buildkit.exporter.image.v0",
      },
    ]);
    // FROM d alone as the target: its entry after the stage's config entries
    const alone = await rebuild("history", ["--build-context", "d=d", "--target", "files"]);
    expect((await imageOf(alone.dir)).config.history.map((h) => h.created_by)).toEqual([
      "ENV A=1",
      "local source for d",
    ]);
  });

  it("a context named as the target (or the last stage) is the build's output: an image's image, a directory's files", async () => {
    const d = await writeContext(join(tmp, "target", "d"), { "only.txt": "only\n" });
    const df = `FROM ${base} AS build\nRUN echo RAN-STAGE > /f\nFROM build AS final\nRUN echo RAN-FINAL > /g\n`;
    const dir = await build("target", df, ["--target", "build", "--build-context", `build=${d}`]);
    expect(dir.code).toBe(0);
    expect(dir.stderr).not.toMatch(/RAN-/);
    const root = await unpack(dir.dir, "t1");
    expect(await readFile(join(root, "only.txt"), "utf8")).toBe("only\n");
    await expect(readFile(join(root, "bin/busybox"))).rejects.toThrow(/ENOENT/);
    // dockerfile2llb leaves a replaced stage's image unset: no PATH, no WorkingDir (FROM NAME gets emptyImage's)
    expect((await imageOf(dir.dir)).config.config ?? {}).toEqual({});
    // the last stage replaced by an image context: that image (here the layout's busybox, unchanged)
    const last = await rebuild("target", ["--build-context", `final=oci-layout://${layout}:base`]);
    expect(last.code).toBe(0);
    expect(last.stderr).not.toMatch(/RAN-/);
    const root2 = await unpack(last.dir, "t2");
    expect(await readFile(join(root2, "bin/busybox")).then((b) => b.length > 0)).toBe(true);
    await expect(readFile(join(root2, "g"))).rejects.toThrow(/ENOENT/);
    expect((await imageOf(last.dir)).layers).toBe(1);
  });

  it("--platform a,b: a NAME::PLATFORM context is read by that platform's build, the bare NAME by the others", async () => {
    await writeContext(join(tmp, "plat", "all"), { "which.txt": "all\n" });
    await writeContext(join(tmp, "plat", "arm"), { "which.txt": "arm64\n" });
    const df = "FROM src AS s\nFROM scratch\nCOPY --from=src / /\nCOPY --from=s /which.txt /from.txt\n";
    const r = await build("plat", df, [
      "--platform",
      "linux/amd64,linux/arm64",
      "--build-context",
      "src=all",
      "--build-context",
      "src::linux/arm64=arm",
      "-o",
      `type=local,dest=${join(tmp, "plat", "out")}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const which = (p: string) => readFile(join(tmp, "plat", "out", p, "which.txt"), "utf8");
    expect([await which("linux_amd64"), await which("linux_arm64")]).toEqual(["all\n", "arm64\n"]);
    const from = (p: string) => readFile(join(tmp, "plat", "out", p, "from.txt"), "utf8");
    expect([await from("linux_amd64"), await from("linux_arm64")]).toEqual(["all\n", "arm64\n"]);
  });

  it("--no-cache-filter runs the named stage's steps again, the others from the cache", async () => {
    const df = `FROM ${base} AS a\nRUN echo RAN-A > /a\nFROM ${base}\nCOPY --from=a /a /a\nRUN echo RAN-B > /b\n`;
    const r = await build("filter", df, ["--network", "none"]);
    expect(r.code).toBe(0);
    const again = await rebuild("filter", ["--network", "none", "--no-cache-filter", "a"]);
    expect(again.code).toBe(0);
    const steps = (
      JSON.parse(again.stdout) as { steps: { stage: number; instruction: string; cached: boolean }[] }
    ).steps;
    expect(steps.filter((s) => s.instruction.startsWith("RUN")).map((s) => [s.stage, s.cached])).toEqual([
      [0, false],
      [1, true],
    ]);
    const bad = await rebuild("filter", ["--no-cache-filter", "nope"]);
    expect(bad.stderr).toContain('--no-cache-filter "nope": the Dockerfile has no stage of that name');
  });
});

describe("berth build's refusals of the new flags", () => {
  it("a bad --build-context or --add-host stops the build before it starts: one sentence and a hint, exit 2, nothing written", async () => {
    await writeContext(join(tmp, "refused", "ctx"), { Dockerfile: "FROM scratch\n" });
    for (const [flag, value, sentence] of [
      [
        "--build-context",
        "x=foo://bar",
        '--build-context "x=foo://bar": the scheme foo:// is not one berth knows',
      ],
      [
        "--build-context",
        "x=./missing",
        `--build-context "x=./missing": ${join(tmp, "refused", "missing")} is not a directory`,
      ],
      ["--build-context", "Bad=.", '--build-context "Bad=.": the name "Bad" is not a stage or image name'],
      ["--add-host", "nocolon", '--add-host "nocolon" is not HOST:IP'],
    ] as const) {
      const r = await rebuild("refused", [flag, value]);
      expect(r.code, value).toBe(2);
      expect(r.stderr.split("\n").filter(Boolean), value).toEqual([
        `berth: ${sentence}`,
        expect.stringMatching(/^hint: /),
      ]);
      await expect(lstat(join(tmp, "refused", "out"))).rejects.toThrow(/ENOENT/);
    }
  });
});

describe("berth build --build-context of a git repository or a URL", () => {
  let server: GitServer;
  let http: Server;
  let url: string;
  beforeAll(async () => {
    server = await serveGitRepo(join(tmp, "served"));
    http = createServer((req, res) => {
      if (req.url === "/tool.txt") res.end("downloaded\n");
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server?.close();
    http?.close();
  });

  it("clones the repository at the ref as ADD does; a URL is its one file", async () => {
    const df = "FROM scratch\nCOPY --from=src hello.txt /hello.txt\nCOPY --from=dl tool.txt /tool.txt\n";
    const r = await build("git", df, [
      "--build-context",
      `src=${server.url}#v1`,
      "--build-context",
      `dl=${url}/tool.txt`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const root = await unpack(r.dir, "b1");
    expect(await readFile(join(root, "hello.txt"), "utf8")).toBe("v1\n");
    expect(await readFile(join(root, "tool.txt"), "utf8")).toBe("downloaded\n");
    // another ref: other content, another image
    const head = await rebuild("git", [
      "--build-context",
      `src=${server.url}`,
      "--build-context",
      `dl=${url}/tool.txt`,
    ]);
    expect(head.code, head.stderr).toBe(0);
    expect(head.digest).not.toBe(r.digest);
  });

  it("a ref the repository lacks, or a URL that answers 404, fails naming the flag", async () => {
    const r = await rebuild("git", [
      "--build-context",
      `src=${server.url}#nope`,
      "--build-context",
      `dl=${url}/tool.txt`,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `--build-context src=${server.url}#nope: repository does not contain ref nope`,
    );
    const u = await rebuild("git", [
      "--build-context",
      `src=${server.url}`,
      "--build-context",
      `dl=${url}/missing`,
    ]);
    expect(u.code).not.toBe(0);
    expect(u.stderr).toContain(`--build-context dl could not fetch ${url}/missing: HTTP 404`);
  });
});

describe("berth build --build-context vs buildah bud --build-context", () => {
  it("a directory read by COPY --from and RUN --mount=from gives the same files", async () => {
    // buildah reads FROM oci:PATH as a reference too: the path lowercase
    const work = join(tmpdir(), `berth-df-named-${randomUUID().slice(0, 8)}`);
    onTestFinished(() => rm(work, { recursive: true, force: true }));
    const lower = await localBase(join(work, "base"));
    const other = await writeContext(join(work, "other"), { "a.txt": "a\n", "sub/b.txt": "b\n" });
    const ctx = await writeContext(join(work, "ctx"), {
      Dockerfile: `FROM ${lower}\nCOPY --from=other / /o/\nCOPY --from=other sub/b.txt /b.txt\nRUN --mount=from=other,target=/m cat /m/a.txt /m/sub/b.txt > /m.txt\n`,
    });
    const r = await buildBoth({
      work,
      context: ctx,
      home: join(work, "home"),
      extra: ["--build-context", `other=${other}`],
    });
    expect(r.berth.tree).toEqual(r.buildah.tree);
    expect(r.berth.tree["m.txt"]).toBeDefined();
  }, 300_000);
});
