/**
 * Builds without root (issue 16, point 8), through the real CLI run as a non-root user (`berthuser`, from root
 * through setpriv) with a BERTH_HOME of its own: a Dockerfile build whose RUN step chowns, a buildpacks build
 * with a small builder (its CNB user is 1000), `berth run` of both results, and the refusals. The layers'
 * tar headers must record the ids inside the build (1000), not the host's subordinate ids. Before berth ran
 * builds in a user namespace of the caller's, each build failed with EPERM on a chown.
 */
import { execFile, spawn } from "node:child_process";
import { chmod, chown, lstat, mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userNamespaceForbidden } from "../../src/runtime/userns.ts";
import { makeBuildImage, writeBuildpack } from "../cnb/helpers.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { testUser } from "../helpers/user.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { busyboxImage } from "../runtime/helpers.ts";

const pexec = promisify(execFile);
const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const isRoot = process.geteuid?.() === 0;
const forbidden = await userNamespaceForbidden();
const user = isRoot ? await testUser() : undefined;
const skip = !isRoot
  ? "the rootless build tests run as root (they switch to berthuser)"
  : forbidden
    ? forbidden
    : !user
      ? "no berthuser"
      : undefined;
if (skip) console.log(`rootless build tests skipped: ${skip}`);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let reg: RegistryHarness;
let builder: string;
/** A PATH like the usual one with everything but newuidmap/newgidmap. */
let noUidmap: string;

/** `berth ARGS` as berthuser, with HOME, BERTH_HOME and XDG_RUNTIME_DIR under `home`. */
function berthAs(home: string, args: string[], o: { path?: string; cwd?: string } = {}): Promise<Result> {
  const u = user!;
  const env = {
    PATH: o.path ?? PATH,
    HOME: home,
    BERTH_HOME: join(home, "berth"),
    XDG_RUNTIME_DIR: join(home, "xdg"),
  };
  const argv = [
    "setpriv",
    `--reuid=${u.uid}`,
    `--regid=${u.gid}`,
    "--init-groups",
    "--",
    process.execPath,
    BIN,
    ...args,
  ];
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env,
      cwd: o.cwd ?? home,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", fail);
    child.on("close", (code) =>
      done({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
  });
}

/** A fresh home folder owned by berthuser. */
async function homeFor(name: string): Promise<string> {
  const home = join(dir, name);
  await mkdir(join(home, "xdg"), { recursive: true, mode: 0o700 });
  await chown(home, user!.uid, user!.gid);
  await chown(join(home, "xdg"), user!.uid, user!.gid);
  return home;
}

/** A fresh home for berthuser with a build context `ctx/` in it: the Dockerfile and `files`, berthuser's. */
async function dockerfileContext(name: string, dockerfile: string, files: Record<string, string> = {}) {
  const home = await homeFor(name);
  const ctx = join(home, "ctx");
  await mkdir(ctx);
  for (const [f, content] of Object.entries({ Dockerfile: dockerfile, ...files })) {
    await writeFile(join(ctx, f), content);
  }
  await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, ctx]);
  return { home, ctx };
}

/** Every layer's entries of an OCI layout's image, with the owners its tar headers record. */
async function layerOwners(layout: string): Promise<Map<string, string>[]> {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const blob = (d: string) => join(layout, "blobs", ...d.split(":"));
  const manifest = JSON.parse(await readFile(blob(index.manifests[0].digest), "utf8"));
  const out: Map<string, string>[] = [];
  for (const l of manifest.layers) {
    const { stdout } = await pexec("tar", ["--numeric-owner", "-tvzf", blob(l.digest)], {
      maxBuffer: 64 << 20,
    });
    const owners = new Map<string, string>();
    for (const line of stdout.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6) continue;
      owners.set(
        f
          .slice(5)
          .join(" ")
          .replace(/ -> .*$/, "")
          .replace(/^\/|\/$/g, ""),
        f[1]!,
      );
    }
    out.push(owners);
  }
  return out;
}

/** Store, snapshots and temp folders hold nothing half-written: no temp entries left. */
async function leftovers(home: string): Promise<string[]> {
  const found: string[] = [];
  for (const d of ["berth/tmp", "berth/snapshots/tmp", "berth/run/containers"]) {
    const entries = await readdir(join(home, d)).catch(() => [] as string[]);
    found.push(...entries.map((e) => `${d}/${e}`));
  }
  return found;
}

const WEB = `printf '[[processes]]\\ntype = "web"\\ncommand = ["/bin/sh", "-c", "id -u; cat /layers/test_web/dep/file"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
mkdir -p "$CNB_LAYERS_DIR/dep" && echo dep > "$CNB_LAYERS_DIR/dep/file"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/dep.toml"`;

beforeAll(async () => {
  if (skip) return;
  dir = await tempDir("berth-rootless-build-");
  await chmod(dir, 0o755);
  // the base image and the builder, made as root, in a registry on 127.0.0.1 that berthuser pulls from
  reg = await startRegistry();
  const rootHome = join(dir, "root-home");
  await busyboxImage(join(dir, "bblayout"), "b", { cmd: ["sh"] });
  const base = await berth(
    ["copy", `oci:${join(dir, "bblayout")}:b`, `docker://${reg.host}/base/busybox:1`],
    {
      home: rootHome,
    },
  );
  if (base.code !== 0) throw new Error(base.stderr);
  const layout = join(dir, "buildlayout");
  await makeBuildImage(dir, `oci:${layout}:build`, rootHome);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bp = await writeBuildpack(join(dir, "bps"), { id: "test/web", build: WEB });
  const run = `${reg.host}/stack/run:1`;
  const copied = await berth(["copy", `oci:${join(dir, "runlayout")}:run`, `docker://${run}`], {
    home: rootHome,
  });
  if (copied.code !== 0) throw new Error(copied.stderr);
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/web"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${run}"\n`,
  );
  builder = `${reg.host}/team/builder:1`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--publish", "--config", join(dir, "builder.toml")],
    { home: rootHome },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  // everything but newuidmap/newgidmap
  noUidmap = join(dir, "no-uidmap-bin");
  await mkdir(noUidmap);
  for (const d of PATH.split(":")) {
    for (const name of await readdir(d).catch(() => [] as string[])) {
      if (name === "newuidmap" || name === "newgidmap") continue;
      await symlink(join(d, name), join(noUidmap, name)).catch(() => undefined);
    }
  }
}, 300_000);

afterAll(async () => {
  await reg?.stop();
});

describe.skipIf(skip !== undefined)("builds without root", () => {
  it("-o DIR: the files are the user's, as docker's client writes them; the tar keeps the image's owners", async () => {
    const { home, ctx } = await dockerfileContext(
      "home-export",
      "FROM scratch\nCOPY --chown=1234:5678 note.txt /sub/note.txt\nCOPY note.txt /b.txt\n",
      { "note.txt": "note\n" },
    );
    const r = await berthAs(home, ["build", ctx, "--dockerfile", "-o", "out", "-o", "type=tar,dest=out.tar"]);
    expect(r.stderr).not.toMatch(/INTERNAL/);
    expect(r.code).toBe(0);
    for (const f of ["b.txt", "sub", "sub/note.txt"]) {
      const st = await lstat(join(home, "out", f));
      expect({ f, owner: `${st.uid}:${st.gid}` }).toEqual({ f, owner: `${user!.uid}:${user!.gid}` });
    }
    const { stdout } = await pexec("tar", ["--numeric-owner", "-tvf", join(home, "out.tar")]);
    expect(stdout).toMatch(/ 1234\/5678 .* sub\/note\.txt/);
  });

  it("a Dockerfile build whose RUN chowns to 1000: the layer records 1000:1000; berth run of the result", async () => {
    const { home, ctx } = await dockerfileContext(
      "home-df",
      `FROM ${reg.host}/base/busybox:1\nRUN mkdir /data && echo hi > /data/f && chown -R 1000:1000 /data && ls -ln /data/f\nCOPY --chown=1000:1000 note.txt /data/note.txt\n`,
      { "note.txt": "note\n" },
    );
    const r = await berthAs(home, ["build", "--dockerfile", "-t", "df:1", ctx]);
    expect(r.stderr).toContain("Wrote sha256:");
    expect(r.code).toBe(0);
    // RUN saw the owner it set, inside the build
    expect(r.stdout + r.stderr).toMatch(/-rw-r--r--\s+1 1000\s+1000\s+3 .* \/data\/f/);
    const out = join(home, "out");
    const copied = await berthAs(home, ["copy", "df:1", `oci:${out}:x`]);
    expect(copied.code, copied.stderr).toBe(0);
    const layers = await layerOwners(out);
    expect(layers).toHaveLength(3);
    expect(layers[1]!.get("data")).toBe("1000/1000");
    expect(layers[1]!.get("data/f")).toBe("1000/1000");
    expect(layers[2]!.get("data/note.txt")).toBe("1000/1000");
    // the busybox layer applied in the namespace and unchanged: root's files stay 0:0
    expect(layers[1]!.size).toBe(2);
    const ran = await berthAs(home, ["run", "df:1", "sh", "-c", "cat /data/f /data/note.txt"]);
    expect([ran.code, ran.stdout, ran.stderr]).toEqual([0, "hi\nnote\n", ""]);
    expect(await leftovers(home)).toEqual([]);
  }, 180_000);

  it("--shm-size and --ulimit apply without root; --cgroup-parent is left out (no cgroup can be made), as BuildKit's rootless mode", async () => {
    const { home, ctx } = await dockerfileContext(
      "home-limits",
      `FROM ${reg.host}/base/busybox:1\nRUN echo "S""HM $(df -k /dev/shm | tail -1 | awk '{print $2}') $(ulimit -n) $(grep -c /rootless-parent/ /proc/self/cgroup) END"\n`,
    );
    const flags = ["--shm-size", "80m", "--ulimit", "nofile=512:1024", "--cgroup-parent", "rootless-parent"];
    const r = await berthAs(home, [
      "build",
      "--dockerfile",
      "-t",
      "limits:1",
      "--progress",
      "plain",
      ...flags,
      ctx,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(/SHM .* END/.exec(r.stderr)?.[0]).toBe("SHM 81920 512 0 END");
  }, 180_000);

  it("a RUN removes a directory of a lower layer and makes it again (an opaque dir: overlayfs mounted userxattr)", async () => {
    // Before userxattr, the second RUN failed: "rm: can't remove '/d': Input/output error".
    const { home, ctx } = await dockerfileContext(
      "home-opaque",
      `FROM ${reg.host}/base/busybox:1\nRUN mkdir -p /d /e && touch /d/old /e/old\nRUN rm -rf /d && mkdir /d && touch /d/new && rm /e/old\nRUN echo $(ls /d) $(ls /e) end\n`,
    );
    const r = await berthAs(home, ["build", "--dockerfile", "-t", "opq:1", ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toContain("new end\n");
    expect(await leftovers(home)).toEqual([]);
  }, 180_000);

  it("a buildpacks build: the CNB user's layers are 1000:1000 in the image; berth run of the result", async () => {
    const home = await homeFor("home-bp");
    const app = join(home, "app");
    await mkdir(app);
    await writeFile(join(app, "main.txt"), "m");
    await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, app]);
    const pulled = await berthAs(home, ["pull", builder]);
    expect(pulled.code, pulled.stderr).toBe(0);
    const detected = await berthAs(home, ["detect", app, "-B", builder]);
    expect(detected.code, detected.stderr).toBe(0);
    expect(detected.stdout).toContain("test/web");
    const r = await berthAs(home, ["build", "app:1", "--path", app, "-B", builder]);
    expect(r.stderr).not.toMatch(/EPERM|not permitted/);
    expect(r.code, r.stderr).toBe(0);
    const out = join(home, "out");
    const copied = await berthAs(home, ["copy", "app:1", `oci:${out}:x`]);
    expect(copied.code, copied.stderr).toBe(0);
    const all = new Map<string, string>();
    for (const l of await layerOwners(out)) for (const [k, v] of l) all.set(k, v);
    expect(all.get("layers/test_web/dep/file")).toBe("1000/1000");
    expect(all.get("workspace/main.txt")).toBe("1000/1000");
    // nothing recorded with a host id (berthuser's own or its subordinate range)
    const hostIds = [...all.values()].filter((o) =>
      o.split("/").some((n) => Number(n) >= user!.uid && Number(n) !== 1000),
    );
    expect(hostIds).toEqual([]);
    // rebase writes only a config and a manifest: no namespace needed
    const rebased = await berthAs(home, ["rebase", "app:1"]);
    expect(rebased.code, rebased.stderr).toBe(0);
    const ran = await berthAs(home, ["run", "app:1"]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/dep\n$/);
    // a second build as the same user reuses the cache the first left (files the namespace's ids own)
    const again = await berthAs(home, ["build", "app:1", "--path", app, "-B", builder]);
    expect(again.code, again.stderr).toBe(0);
    // what the builds left (owned by the namespace's ids: 1000 is a subordinate id on the host) is the
    // user's to measure and remove
    const df = await berthAs(home, ["system", "df"]);
    expect([df.code, df.stderr]).toEqual([0, ""]);
    const prune = await berthAs(home, ["system", "prune", "--all", "--force"]);
    expect([prune.code, prune.stderr]).toEqual([0, ""]);
    expect(await readdir(join(home, "berth", "cache", "cnb")).catch(() => [])).toEqual([]);
    expect(await readdir(join(home, "berth", "snapshots")).catch(() => [])).toEqual([]);
  }, 300_000);

  it("a base image with device nodes (as Debian's have /dev/console): they are left out of the build's root, as rootless mode does", async () => {
    const rootHome = join(dir, "root-home");
    const devs = join(dir, "devs-src");
    await mkdir(join(devs, "dev"), { recursive: true });
    await pexec("mknod", ["-m", "666", join(devs, "dev", "console"), "c", "5", "1"]);
    const appended = await berth(
      ["append", `oci:${join(dir, "bblayout")}:b`, `${devs}:/`, "-t", `docker://${reg.host}/base/devices:1`],
      { home: rootHome },
    );
    expect(appended.code, appended.stderr).toBe(0);
    const home = await homeFor("home-devices");
    const ctx = join(home, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), `FROM ${reg.host}/base/devices:1\nRUN echo ok > /ok\n`);
    await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, ctx]);
    const r = await berthAs(home, ["build", "--dockerfile", "-t", "devices:1", ctx]);
    expect(r.stderr).not.toContain("mknod");
    expect(r.code, r.stderr).toBe(0);
    const ran = await berthAs(home, ["run", "devices:1", "cat", "/ok"]);
    expect([ran.code, ran.stdout]).toEqual([0, "ok\n"]);
  }, 120_000);

  it("without newuidmap a build that needs only the caller's id still works (one id mapped, to 0)", async () => {
    const home = await homeFor("home-single");
    const ctx = join(home, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), `FROM ${reg.host}/base/busybox:1\nRUN echo made > /made\n`);
    await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, ctx]);
    const r = await berthAs(home, ["build", "--dockerfile", "-t", "single:1", ctx], { path: noUidmap });
    expect(r.code, r.stderr).toBe(0);
    const ran = await berthAs(home, ["run", "single:1", "cat", "/made"], { path: noUidmap });
    expect([ran.code, ran.stdout]).toEqual([0, "made\n"]);
  }, 120_000);

  it("without newuidmap, a base layer owned by 1000 is refused in one sentence naming the file and what to install; nothing written", async () => {
    const home = await homeFor("home-refuse");
    // an image with files owned by 1000, as a buildpacks app or a chowning Dockerfile makes
    const rootHome = join(dir, "root-home");
    const owned = join(dir, "owned-src");
    await mkdir(join(owned, "srv"), { recursive: true });
    await writeFile(join(owned, "srv", "app.txt"), "app\n");
    const appended = await berth(
      [
        "append",
        `oci:${join(dir, "bblayout")}:b`,
        `${owned}:/`,
        "-t",
        `docker://${reg.host}/base/owned:1`,
        "--owner",
        "1000:1000",
      ],
      { home: rootHome },
    );
    expect(appended.code, appended.stderr).toBe(0);
    const ctx = join(home, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "Dockerfile"), `FROM ${reg.host}/base/owned:1\nRUN cat /srv/app.txt\n`);
    await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, ctx]);
    const r = await berthAs(home, ["build", "--dockerfile", "-t", "refused:1", ctx], { path: noUidmap });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /^berth: .*srv[^\n]* in the layer is owned by 1000:1000, an id this user namespace does not map[^\n]*\nhint: install newuidmap\/newgidmap \(Debian: uidmap\)[^\n]*\/etc\/subuid[^\n]*or run berth as root\n$/m,
    );
    expect(r.stderr).not.toMatch(/EINVAL|EPERM|invalid argument/i);
    const images = await berthAs(home, ["images"]);
    expect(images.stdout).not.toContain("refused");
    expect(await leftovers(home)).toEqual([]);
    // a RUN step that chowns: its own error, and a line saying why
    await writeFile(
      join(ctx, "Dockerfile"),
      `FROM ${reg.host}/base/busybox:1\nRUN touch /x && chown 1000 /x\n`,
    );
    const chowned = await berthAs(home, ["build", "--dockerfile", "-t", "refused:2", ctx], {
      path: noUidmap,
    });
    expect(chowned.code).not.toBe(0);
    expect(chowned.stderr).toContain(
      "note: this build ran in a user namespace holding only your own id (newuidmap/newgidmap are not on PATH (Debian: apt install uidmap)), so files cannot be given other owners in it",
    );
    expect((await berthAs(home, ["images"])).stdout).not.toContain("refused");
  }, 120_000);

  it("the default builder's stack (debootstrap) is refused up front, with the way round it", async () => {
    const home = await homeFor("home-default");
    const app = join(home, "app");
    await mkdir(app);
    await writeFile(join(app, "index.html"), "hi");
    await pexec("chown", ["-R", `${user!.uid}:${user!.gid}`, app]);
    const r = await berthAs(home, ["build", app, "-t", "d:1"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "creating a stack runs debootstrap, which needs root (it makes device nodes, which a user namespace cannot); berth is not running as root",
    );
    expect(r.stderr).toContain("berth build -B BUILDER takes any builder image");
    expect(r.stderr).not.toMatch(/mknod|debootstrap bookworm exited/);
    expect(await leftovers(home)).toEqual([]);
  });

  it("the build's files in BERTH_HOME belong to the user or its subordinate ids, never to root", async () => {
    const home = join(dir, "home-df");
    const bad: string[] = [];
    const walk = async (p: string): Promise<void> => {
      const st = await lstat(p);
      if (st.uid === 0 || st.gid === 0) bad.push(p);
      if (st.isDirectory()) for (const e of await readdir(p)) await walk(join(p, e));
    };
    await walk(join(home, "berth"));
    expect(bad).toEqual([]);
  });
});
