/**
 * Issue 20, "Behaviour" 1–5: what BuildKit does and berth got wrong or ignored, each through the real CLI.
 * Cache keys cover mounted content; hard links survive COPY; no flag is silently ignored; RUN always has
 * /etc/hosts, /etc/resolv.conf, /etc/hostname and none reaches the image; symlink sources, empty wildcards,
 * `${EMPTY}`, dotted heredoc names, secret mount options, scratch's PATH, MAINTAINER, --platform,
 * `COPY --from=$VAR` and duplicate stage names as BuildKit has them.
 */

import { createHash } from "node:crypto";
import { chmod, link, lstat, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { readTree } from "./helpers/compare.ts";
import { serveGitRepo } from "./helpers/git.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let server: Server;
let port = 0;
let n = 0;
const PAYLOAD = "downloaded payload\n";
const PAYLOAD_SHA = `sha256:${createHash("sha256").update(PAYLOAD).digest("hex")}`;

beforeAll(async () => {
  tmp = await tempDir("berth-df-behaviour-");
  base = await localBase(join(tmp, "base"));
  server = createServer((req, res) => {
    if (req.url === "/files/payload.txt") res.end(PAYLOAD);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  server?.close();
});

interface Built {
  code: number | null;
  out: string;
  ctx: string;
  stderr: string;
  stdout: string;
}

async function tryBuild(
  dockerfile: string,
  files: Record<string, string> = {},
  extra: string[] = [],
  o: { prepare?: (ctx: string) => Promise<void>; home?: string; ctx?: string } = {},
): Promise<Built> {
  const i = n++;
  const ctx =
    o.ctx ??
    (await writeContext(join(tmp, `ctx-${i}`), {
      ...files,
      Dockerfile: dockerfile.replaceAll("{{BASE}}", base).replaceAll("{{PORT}}", String(port)),
    }));
  if (o.ctx) await writeFile(join(ctx, "Dockerfile"), dockerfile.replaceAll("{{BASE}}", base));
  await o.prepare?.(ctx);
  const out = join(tmp, `out-${i}`);
  const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${out}:img`, ...extra], {
    home: o.home ?? join(tmp, "home"),
    env: { BERTH_INSECURE_REGISTRIES: "127.0.0.1" },
  });
  return { code: r.code, out, ctx, stderr: r.stderr, stdout: r.stdout };
}

async function build(...args: Parameters<typeof tryBuild>): Promise<Built> {
  const b = await tryBuild(...args);
  if (b.code !== 0) throw new Error(b.stderr);
  return b;
}

async function image(layout: string) {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const blob = (d: string) => join(layout, "blobs", "sha256", d.slice(7));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), "utf8"));
  return { manifest, config, blob };
}

/** `tar -tv` of the image's last layer. */
async function lastLayer(layout: string): Promise<{ listing: string; size: number }> {
  const { manifest, blob } = await image(layout);
  const l = manifest.layers[manifest.layers.length - 1];
  return { listing: await run("tar", ["-tvzf", blob(l.digest)]), size: l.size };
}

async function tree(layout: string) {
  await run("umoci", ["unpack", "--image", `${layout}:img`, `${layout}-bundle`]);
  return readTree(`${layout}-bundle/rootfs`);
}

const file = (out: string, p: string) => readFile(join(`${out}-bundle/rootfs`, p), "utf8");

describe("1. cache keys cover everything a step reads", () => {
  it("RUN --mount=type=bind from the context re-runs when the mounted file changes", async () => {
    const home = join(tmp, "home-bind");
    const df = `FROM {{BASE}}
RUN --mount=type=bind,source=data.txt,target=/d cat /d > /copied
`;
    const first = await build(df, { "data.txt": "one\n" }, [], { home });
    await tree(first.out);
    expect(await file(first.out, "copied")).toBe("one\n");
    await writeFile(join(first.ctx, "data.txt"), "two\n");
    const second = await build(df, {}, [], { home, ctx: first.ctx });
    await tree(second.out);
    expect(await file(second.out, "copied")).toBe("two\n");
  });

  it("a secret mount's mode is part of the key", async () => {
    const home = join(tmp, "home-secret");
    const secret = join(tmp, "secret-key");
    await writeFile(secret, "s\n");
    const df = (mode: string) => `FROM {{BASE}}
RUN --mount=type=secret,id=s,mode=${mode} stat -c %a /run/secrets/s > /mode
`;
    const a = await build(df("0400"), {}, ["--secret", `id=s,src=${secret}`], { home });
    const b = await build(df("0444"), {}, ["--secret", `id=s,src=${secret}`], { home });
    await tree(a.out);
    await tree(b.out);
    expect((await file(a.out, "mode")).trim()).toBe("400");
    expect((await file(b.out, "mode")).trim()).toBe("444");
  });
});

describe("2. hard links survive COPY", () => {
  it("from the context and from --from, as hard-link groups (not copies)", async () => {
    const big = "x".repeat(512 * 1024);
    const b = await build(
      `FROM {{BASE}} AS links
RUN mkdir /l && cp /bin/busybox /l/a && for i in 1 2 3 4 5 6 7 8 9; do ln /l/a /l/h$i; done
FROM {{BASE}}
COPY --from=links /l /fromstage/
COPY . /ctx/
`,
      { "big.bin": big },
      [],
      {
        prepare: async (ctx) => {
          await link(join(ctx, "big.bin"), join(ctx, "big-link.bin"));
        },
      },
    );
    const { listing } = await lastLayer(b.out);
    expect(listing).toMatch(
      /ctx\/big-link\.bin link to ctx\/big\.bin|ctx\/big\.bin link to ctx\/big-link\.bin/,
    );
    const { manifest, blob } = await image(b.out);
    const fromLayer = manifest.layers[manifest.layers.length - 2];
    const fromListing = await run("tar", ["-tvzf", blob(fromLayer.digest)]);
    expect(fromListing.match(/ link to fromstage\/a/g)?.length).toBe(9);
    const busybox = (await stat("/bin/busybox")).size;
    // One copy of the content (compressed), not ten.
    expect(fromLayer.size).toBeLessThan(busybox * 1.5);
    const t = await tree(b.out);
    const st = await lstat(join(`${b.out}-bundle/rootfs`, "fromstage/h9"));
    expect(st.nlink).toBe(10);
    expect(t["ctx/big-link.bin"]?.content).toBe(t["ctx/big.bin"]?.content);
  });
});

describe("3. no flag is silently ignored", () => {
  it("an unknown flag, a flag without its value, an unknown mount key: errors naming the line", async () => {
    const unknown = await tryBuild(`FROM {{BASE}}\nCOPY --frm=x a /a\n`, { a: "a" });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("Dockerfile:2: unknown flag: frm");
    const bare = await tryBuild(`FROM {{BASE}}\nCOPY --from a /a\n`, { a: "a" });
    expect(bare.stderr).toContain("Dockerfile:2: missing a value on flag: from");
    const mount = await tryBuild(`FROM {{BASE}}\nRUN --mount=type=cache,target=/c,colour=red true\n`);
    expect(mount.code).not.toBe(0);
    expect(mount.stderr).toContain("Dockerfile:2");
    expect(mount.stderr).toContain("unexpected key 'colour' in 'colour=red'");
    const sharing = await tryBuild(`FROM {{BASE}}\nRUN --mount=type=cache,target=/c,sharing=some true\n`);
    expect(sharing.stderr).toContain('unsupported sharing value "some"');
    const bool = await tryBuild(`FROM {{BASE}}\nCOPY --link=maybe a /a\n`, { a: "a" });
    expect(bool.stderr).toContain("Dockerfile:2: expecting boolean value for flag link, not: maybe");
  });

  it("COPY --exclude and COPY --parents", async () => {
    const b = await build(
      `FROM {{BASE}}
COPY --exclude=*.md --exclude=dir/skip.txt . /ex/
COPY --exclude=*.md di* /wild/
COPY --parents x/a.txt y/*.txt /par/
COPY --parents ./x/./sub/f /piv/
`,
      {
        "a.txt": "a",
        "b.md": "b",
        "dir/c.txt": "c",
        "dir/d.md": "d",
        "dir/skip.txt": "s",
        "x/a.txt": "xa",
        "x/sub/f": "f",
        "y/b.txt": "yb",
        "y/c.txt": "yc",
      },
    );
    const t = await tree(b.out);
    expect(await file(b.out, "ex/a.txt")).toBe("a");
    expect(t["ex/b.md"]).toBeUndefined();
    expect(await file(b.out, "ex/dir/d.md")).toBe("d"); // `*.md` does not cross `/`, as in BuildKit
    expect(t["ex/dir/skip.txt"]).toBeUndefined();
    expect(await file(b.out, "ex/dir/c.txt")).toBe("c");
    // Patterns are relative to each matched source (BuildKit's exclude_patterns_test: `dir*`).
    expect(await file(b.out, "wild/c.txt")).toBe("c");
    expect(t["wild/d.md"]).toBeUndefined();
    expect(Object.keys(t).filter((p) => p.startsWith("par/"))).toEqual([
      "par/x",
      "par/x/a.txt",
      "par/y",
      "par/y/b.txt",
      "par/y/c.txt",
    ]);
    expect(await file(b.out, "piv/sub/f")).toBe("f");
    expect(t["piv/x"]).toBeUndefined();
  });

  it("COPY --parents as BuildKit: ** spans directories, wildcards before the ./ pivot, parents from the source", async () => {
    // The expectations of BuildKit's dockerfile_parents_test.go (testCopyRelativeParents), and its copier's
    // (fsutil) parent directories: made from the source's (mode, or --chmod; owner as the files').
    const files: Record<string, string> = {};
    for (const f of ["c/d/foo", "c/d/e/bay", "c2/d/e/baz", "c2/d/e2/baz"]) files[`test/a/b/${f}`] = f;
    files["test/a/b2/c/d/e/bar"] = "bar";
    Object.assign(files, {
      "src/app/main.go": "main",
      "src/app/readme.md": "readme",
      "src/app/sub/deep/x.go": "x",
      "src/app/sub/deep/x_test.go": "x test",
      "docs/a/b/c.txt": "c",
    });
    const b = await build(
      `FROM {{BASE}}
COPY --parents test/a/b*/./c/**/e /dw/
COPY --parents test/a/b/c*/./d/**/baz test/a/b*/./c/**/bar /di/
COPY --parents ./src/./app/**/*.go /pivot/
COPY --parents --exclude=**/*_test.go src/app/**/*.go /excl/
COPY --parents --chown=1000:1000 --chmod=640 docs/a/b/c.txt /owned/
COPY --parents docs/a/b/c.txt /plain/
`,
      files,
      [],
      {
        prepare: async (ctx) => {
          await chmod(join(ctx, "src/app"), 0o750);
          await chmod(join(ctx, "src/app/sub"), 0o700);
          await chmod(join(ctx, "docs/a"), 0o711);
        },
      },
    );
    const t = await tree(b.out);
    const under = (d: string) => Object.keys(t).filter((p) => p.startsWith(`${d}/`) && t[p]!.type === "file");
    expect(under("dw")).toEqual(["dw/c/d/e/bar", "dw/c/d/e/bay"]);
    expect(under("di")).toEqual(["di/c/d/e/bar", "di/d/e/baz", "di/d/e2/baz"]);
    expect(under("pivot")).toEqual([
      "pivot/app/main.go",
      "pivot/app/sub/deep/x.go",
      "pivot/app/sub/deep/x_test.go",
    ]);
    expect(under("excl")).toEqual(["excl/src/app/main.go", "excl/src/app/sub/deep/x.go"]);
    expect([t["pivot/app"]?.mode, t["pivot/app/sub"]?.mode, t["excl/src"]?.mode]).toEqual([
      "750",
      "700",
      "755",
    ]);
    expect(t["plain/docs/a"]?.mode).toBe("711");
    for (const p of ["owned/docs", "owned/docs/a", "owned/docs/a/b", "owned/docs/a/b/c.txt"])
      expect([p, t[p]?.mode, t[p]?.owner]).toEqual([p, "640", "1000:1000"]);
  });

  it("ADD --checksum verifies a URL's content; a wrong one fails; a local source is refused", async () => {
    const ok = await build(`FROM {{BASE}}
ADD --checksum=${PAYLOAD_SHA} http://127.0.0.1:{{PORT}}/files/payload.txt /p.txt
`);
    await tree(ok.out);
    expect(await file(ok.out, "p.txt")).toBe(PAYLOAD);
    const wrong = await tryBuild(`FROM {{BASE}}
ADD --checksum=sha256:${"0".repeat(64)} http://127.0.0.1:{{PORT}}/files/payload.txt /p.txt
`);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("Dockerfile:2");
    expect(wrong.stderr).toContain("checksum mismatch");
    expect(wrong.stderr).toContain(PAYLOAD_SHA);
    const local = await tryBuild(`FROM {{BASE}}\nADD --checksum=${PAYLOAD_SHA} a /a\n`, { a: "a" });
    expect(local.stderr).toContain("checksum requires HTTP(S) or Git sources");
  });

  it("ADD of a git repository (git daemon on 127.0.0.1): ref, --checksum verified, --keep-git-dir", async () => {
    const server = await serveGitRepo(join(tmp, "git"));
    const { url, v1 } = server;
    try {
      const b = await build(`FROM {{BASE}}
ADD ${url}#v1 /v1/
ADD --checksum=${v1.slice(0, 12)} ${url}#v1 /checked/
ADD --keep-git-dir=true ${url} /head/
`);
      const t = await tree(b.out);
      expect(await file(b.out, "v1/hello.txt")).toBe("v1\n");
      expect(t["v1/.git"]).toBeUndefined();
      expect(await file(b.out, "checked/hello.txt")).toBe("v1\n");
      expect(await file(b.out, "head/hello.txt")).toBe("v2\n");
      expect(t["head/.git"]?.type).toBe("dir");
      const wrong = await tryBuild(`FROM {{BASE}}\nADD --checksum=${"0".repeat(40)} ${url}#v1 /x/\n`);
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toContain("Dockerfile:2");
      expect(wrong.stderr).toContain(`expected checksum to match ${"0".repeat(40)}, got ${v1}`);
    } finally {
      server.close();
    }
  });

  it("COPY --link makes its layer as on an empty filesystem (parents 0755), as BuildKit", async () => {
    const b = await build(
      `FROM {{BASE}}
RUN mkdir -m 700 /plain /linked
COPY f /plain/sub/f
COPY --link f /linked/sub/f
`,
      { f: "f" },
    );
    const t = await tree(b.out);
    expect(t.plain?.mode).toBe("700");
    expect(t.linked?.mode).toBe("755");
    expect(await file(b.out, "linked/sub/f")).toBe("f");
    // Its layer is reused after a change before it (BuildKit's point of --link); a plain COPY re-runs.
    const home = join(tmp, "home-link");
    const df = (v: string) => `FROM {{BASE}}\nRUN echo ${v} > /v\nCOPY --link f /linked\nCOPY f /plain\n`;
    await build(df("one"), { f: "f" }, [], { home });
    const again = await build(df("two"), { f: "f" }, ["--json"], { home });
    const steps = JSON.parse(again.stdout).steps as { instruction: string; cached: boolean }[];
    expect(steps.find((x) => x.instruction.startsWith("COPY --link"))?.cached).toBe(true);
    expect(steps.find((x) => x.instruction.startsWith("COPY f"))?.cached).toBe(false);
    await tree(again.out);
    expect(await file(again.out, "v")).toBe("two\n");
    expect(await file(again.out, "linked")).toBe("f");
  });

  it("cache mounts: from= and source= seed the cache; sharing=locked and private run", async () => {
    const b = await build(`FROM {{BASE}} AS seed
RUN mkdir -p /seed && echo seeded > /seed/data
FROM {{BASE}}
RUN --mount=type=cache,target=/c,from=seed,source=/seed,id=seeded cat /c/data > /from-seed
RUN --mount=type=cache,target=/l,sharing=locked,id=locked-${n} echo x > /l/x && cat /l/x > /locked
RUN --mount=type=cache,target=/p,sharing=private,uid=1000,mode=0700,id=private-${n} stat -c '%u %a' /p > /private
`);
    await tree(b.out);
    expect(await file(b.out, "from-seed")).toBe("seeded\n");
    expect(await file(b.out, "locked")).toBe("x\n");
    expect((await file(b.out, "private")).trim()).toBe("1000 700");
  });

  it("RUN --mount=type=ssh forwards the agent given with --ssh; type=tmpfs takes size=", async () => {
    const sock = join(tmp, "agent.sock");
    const agent: NetServer = createNetServer((c) => c.end("agent\n"));
    await new Promise<void>((r) => agent.listen(sock, r));
    try {
      const b = await build(
        `FROM {{BASE}}
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /ssh
RUN --mount=type=ssh,id=other,required=false test -z "$SSH_AUTH_SOCK" && echo none > /ssh-other
RUN --mount=type=tmpfs,target=/t,size=1m cat /proc/mounts > /mounts
`,
        {},
        ["--ssh", `default=${sock}`],
      );
      await tree(b.out);
      expect((await file(b.out, "ssh")).trim()).toBe("/run/buildkit/ssh_agent.0");
      expect((await file(b.out, "ssh-other")).trim()).toBe("none");
      expect(await file(b.out, "mounts")).toMatch(/ \/t tmpfs [^\n]*size=1024k/);
      const missing = await tryBuild(`FROM {{BASE}}\nRUN --mount=type=ssh,required=true true\n`);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('ssh agent "default" is required');
    } finally {
      agent.close();
    }
  });
});

describe("4. RUN gets /etc/hosts, /etc/resolv.conf, /etc/hostname", () => {
  it("even when the base lacks them, and none ends up in the image", async () => {
    const b = await build(`FROM {{BASE}}
RUN test -s /etc/hosts && test -f /etc/resolv.conf && test -s /etc/hostname && cat /etc/hosts > /hosts-copy
FROM scratch AS bare
COPY --from=0 /bin/busybox /bin/busybox
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox test -s /etc/hosts && /bin/busybox test -s /etc/hostname && /bin/busybox touch /ok"]
`);
    const t = await tree(b.out);
    expect(t.ok?.type).toBe("file");
    expect(await file(b.out, "ok")).toBe("");
    const { listing } = await lastLayer(b.out);
    expect(listing).not.toMatch(/etc\/(hosts|resolv\.conf|hostname)/);
    expect(listing).not.toMatch(/ etc\/?$/m);
    const first = await build(`FROM {{BASE}}
RUN cat /etc/hosts > /hosts-copy
`);
    const l1 = await lastLayer(first.out);
    expect(l1.listing).toContain("hosts-copy");
    expect(l1.listing).not.toMatch(/etc\/(hosts|resolv\.conf|hostname)/);
    // Nor /etc itself (overlayfs copied it up to hold the mount points; the command did not change it).
    expect(l1.listing).not.toMatch(/ etc\/$/m);
    await tree(first.out);
    expect(await file(first.out, "hosts-copy")).toContain("localhost");
  });
});

describe("5. sources, heredocs, secrets, scratch, MAINTAINER, --platform, --from=$VAR, duplicate names", () => {
  it("a symlink source keeps its name; an empty wildcard copies nothing; an empty variable is the context; <<robots.txt", async () => {
    const b = await build(
      `FROM scratch
COPY link /a/
COPY nomatch* /b/
COPY \${EMPTY} /c/
COPY <<robots.txt /e/
User-agent: *
robots.txt
`,
      { "target.txt": "hi\n" },
      [],
      { prepare: (ctx) => symlink("target.txt", join(ctx, "link")) },
    );
    const t = await tree(b.out);
    expect(t["a/link"]?.type).toBe("file");
    expect(await file(b.out, "a/link")).toBe("hi\n");
    expect(t.b).toBeUndefined();
    expect(await file(b.out, "c/target.txt")).toBe("hi\n");
    expect(t["c/link"]?.type).toBe("symlink");
    expect(await file(b.out, "e/robots.txt")).toBe("User-agent: *\n");
  });

  it("secret mounts honour mode, uid, gid and a relative dst (below WORKDIR)", async () => {
    const secret = join(tmp, "secret-rel");
    await writeFile(secret, "s3cret\n");
    const b = await build(
      `FROM {{BASE}}
WORKDIR /w
RUN --mount=type=secret,id=s,dst=rel/s,mode=0440,uid=5,gid=6 stat -c '%a %u %g' /w/rel/s > /stat
RUN --mount=type=secret,id=s stat -c '%a %u %g' /run/secrets/s > /default
`,
      {},
      ["--secret", `id=s,src=${secret}`],
    );
    const t = await tree(b.out);
    expect((await file(b.out, "stat")).trim()).toBe("440 5 6");
    expect((await file(b.out, "default")).trim()).toBe("400 0 0");
    expect(t["w/rel"]).toBeUndefined();
  });

  it("FROM scratch has the default PATH; MAINTAINER sets author; --platform is stamped", async () => {
    const b = await build(`FROM scratch\nMAINTAINER Jane <jane@example.com>\nCOPY f /f\n`, { f: "f" });
    const { config } = await image(b.out);
    expect(config.config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    expect(config.author).toBe("Jane <jane@example.com>");
    // A stage pinned to the build machine's platform (a cross-compiling stage) still makes an image for the
    // platform asked for: BuildKit stamps an explicit target platform on the image.
    const p = await build(`FROM --platform=linux/amd64 {{BASE}}\nCOPY f /f\n`, { f: "f" }, [
      "--platform",
      "linux/arm64",
    ]);
    const arm = await image(p.out);
    expect([arm.config.os, arm.config.architecture]).toEqual(["linux", "arm64"]);
  });

  it("COPY --from=$VAR is refused with BuildKit's reason, naming the line", async () => {
    const b = await tryBuild(`ARG SRC=b
FROM {{BASE}} AS b
FROM {{BASE}}
COPY --from=$SRC /etc/motd /motd
`);
    expect(b.code).not.toBe(0);
    expect(b.stderr).toContain(
      "Dockerfile:4: variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
    );
  });

  it("duplicate stage names warn as BuildKit does, and the later stage is the one the name means", async () => {
    const b = await build(`FROM {{BASE}} AS dup
RUN echo first > /which
FROM {{BASE}} AS dup
RUN echo second > /which
FROM {{BASE}}
COPY --from=dup /which /which
`);
    expect(b.stderr).toContain(
      'WARN: DuplicateStageName: Duplicate stage name "dup", stage names should be unique (Dockerfile:3)',
    );
    await tree(b.out);
    expect(await file(b.out, "which")).toBe("second\n");
  });
});
