/**
 * docker build's inputs berth takes as BuildKit does, compared with the engine's BuildKit (Debian's docker 20.10,
 * DOCKER_BUILDKIT=1): `--add-host` puts a line in RUN's /etc/hosts and nothing in the image; `--pull` reads a base
 * image from its registry although the local store (the engine's images) holds one of that name. `--add-host` is
 * compared with buildah 1.28's too. RUN's default /dev/shm is the engine's (20.10 ignores `--shm-size`/`--ulimit`), and
 * `--cgroup-parent docker` puts RUN where the engine puts its own steps (/docker/buildkit/ID).
 */
import { randomUUID } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { removeCgroupParent } from "../../runtime/helpers.ts";
import { buildBoth } from "../helpers/compare.ts";
import { localBase, writeContext } from "../helpers/local.ts";
import { diffImages } from "./helpers/diff.ts";
import { flatten } from "./helpers/flatten.ts";
import { dockerBuild, type Engine, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;
let registry: RegistryHarness;

beforeAll(async () => {
  tmp = await tempDir("berth-df-inputs-");
  [engine, registry] = await Promise.all([
    startEngine(join(tmp, "engine"), { frontend: false }),
    startRegistry(),
  ]);
}, 600_000);
afterAll(async () => {
  await engine?.engine.stop();
  await registry?.stop();
});

const home = () => join(tmp, "home");
const env = () => ({ SOURCE_DATE_EPOCH: "0", BERTH_INSECURE_REGISTRIES: "127.0.0.1" });

async function berthBuild(ctx: string, tag: string, args: string[]) {
  const r = await berth(["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), "-t", tag, ...args], {
    home: home(),
    env: env(),
  });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stderr;
}

describe("--shm-size and --ulimit", () => {
  // docker 20.10's BuildKit (its vendored Dockerfile frontend predates them) ignores both flags: only the default
  // /dev/shm is compared here; the flags' effect is BuildKit v0.26.2's (test/dockerfile/instructions/run.test.ts)
  it("without them RUN's /dev/shm is the engine's: 64 MiB, nosuid,nodev,noexec; with them berth's is the size asked", async () => {
    const df = (base: string) =>
      `FROM ${base}\nRUN echo "S""HM $(df -k /dev/shm | tail -1 | awk '{print $2}') $(grep ' /dev/shm ' /proc/mounts | cut -d' ' -f4) NOFILE $(ulimit -n) $(ulimit -Hn) END"\n`;
    const ctx = await writeContext(join(tmp, "limits"), {
      "berth.Dockerfile": df(engine.base),
      "docker.Dockerfile": df(engine.buildkitBase),
    });
    const shm = (out: string) => /SHM (\d+ \S+) NOFILE/.exec(out)?.[1];
    const dest = `oci:${tmp}/limits-out:img`;
    const ours = await berthBuild(ctx, dest, ["--network", "none", "--progress", "plain"]);
    const theirs = await dockerBuild(engine.engine, ctx, ["-t", "limits:1"]);
    expect(shm(ours)).toBe("65536 rw,nosuid,nodev,noexec,relatime,size=65536k");
    expect(shm(ours)).toBe(shm(theirs));
    const flags = ["--shm-size", "96m", "--ulimit", "nofile=900:1800"];
    const limited = await berthBuild(ctx, dest, [...flags, "--network", "none", "--progress", "plain"]);
    expect(/SHM .* END/.exec(limited)?.[0]).toBe(
      "SHM 98304 rw,nosuid,relatime,size=98304k NOFILE 900 1800 END",
    );
  }, 300_000);
});

describe("--cgroup-parent", () => {
  // the engine runs RUN under its own cgroup parent, "docker" (docker 20.10 takes no per-build one): berth's
  // --cgroup-parent docker gives the same path, /docker/buildkit/ID, in every hierarchy
  it("RUN's cgroup is PARENT/buildkit/ID, as the engine's BuildKit puts its steps under its parent", async () => {
    const df = (base: string) =>
      `FROM ${base}\nRUN grep -E ':(memory|pids):' /proc/self/cgroup | sed 's/^/CG /'\n`;
    const ctx = await writeContext(join(tmp, "cgroup"), {
      "berth.Dockerfile": df(engine.base),
      "docker.Dockerfile": df(engine.buildkitBase),
    });
    onTestFinished(() => removeCgroupParent("docker"));
    const args = ["--network", "none", "--progress", "plain", "--cgroup-parent", "docker"];
    const ours = await berthBuild(ctx, `oci:${tmp}/cgroup-out:img`, args);
    const theirs = await dockerBuild(engine.engine, ctx, ["-t", "cgroup:1"]);
    const shape = (out: string) =>
      [...out.matchAll(/CG (\d+:\w+):(\/\S+)/g)].map((m) => `${m[1]}:${m[2]!.replace(/[^/]+$/, "ID")}`);
    expect(shape(ours).length).toBeGreaterThan(0);
    for (const line of shape(ours)) expect(line).toMatch(/^\d+:(memory|pids):\/docker\/buildkit\/ID$/);
    expect(shape(ours)).toEqual(shape(theirs));
  }, 300_000);
});

describe("--add-host", () => {
  it("RUN sees the line in /etc/hosts, after the usual ones; the image holds no /etc/hosts, as BuildKit's", async () => {
    const df = (base: string) =>
      `FROM ${base}\nRUN grep db.internal /etc/hosts > /seen.txt && echo "HOSTS-START" && cat /etc/hosts\n`;
    const ctx = await writeContext(join(tmp, "hosts"), {
      "berth.Dockerfile": df(engine.base),
      "docker.Dockerfile": df(engine.buildkitBase),
    });
    const ours = await berthBuild(ctx, `oci:${tmp}/hosts-out:img`, [
      "--add-host",
      "db.internal:10.1.2.3",
      "--network",
      "none",
    ]);
    const theirs = await dockerBuild(engine.engine, ctx, [
      "--add-host",
      "db.internal:10.1.2.3",
      "-t",
      "hosts:1",
    ]);
    for (const out of [ours, theirs]) {
      const hosts = out.slice(out.indexOf("HOSTS-START"));
      expect(hosts).toMatch(/10\.1\.2\.3\s+db\.internal/);
      expect(hosts.indexOf("localhost")).toBeLessThan(hosts.indexOf("db.internal"));
    }
    await engine.engine.docker(["save", "-o", join(tmp, "hosts.tar"), "hosts:1"]);
    const a = await flatten({ layout: `${tmp}/hosts-out`, tag: "img" });
    const b = await flatten({ archive: join(tmp, "hosts.tar"), scratch: join(tmp, "hosts-bk") });
    expect(diffImages(a, b)).toEqual([]);
    expect([a.files.has("etc/hosts"), b.files.has("etc/hosts")]).toEqual([false, false]);
    expect(a.files.get("seen.txt")?.sha256).toBe(b.files.get("seen.txt")?.sha256);
  }, 300_000);
});

describe("RUN's sandbox", () => {
  it("is BuildKit's: hostname buildkitsandbox, its /etc/hosts, the same environment (no HOSTNAME)", async () => {
    // (berth also gives RUN an /etc/hostname, which BuildKit's executor does not: issue 20 asks for it)
    const df = (base: string) => `FROM ${base}\nRUN (hostname; env | sort; cat /etc/hosts) > /sandbox.txt\n`;
    const ctx = await writeContext(join(tmp, "sandbox"), {
      "berth.Dockerfile": df(engine.base),
      "docker.Dockerfile": df(engine.buildkitBase),
    });
    await berthBuild(ctx, `oci:${tmp}/sandbox-out:img`, ["--network", "none", "--no-cache"]);
    await dockerBuild(engine.engine, ctx, ["--network", "none", "-t", "sandbox:1"]);
    await engine.engine.docker(["save", "-o", join(tmp, "sandbox.tar"), "sandbox:1"]);
    // the file's text, from each image's filesystem as berth exports it
    const text = async (image: string, name: string) => {
      const out = join(tmp, `sandbox-${name}.tar`);
      const r = await berth(["export", image, "-o", out], { home: home() });
      if (r.code !== 0) throw new Error(r.stderr);
      return run("tar", ["-xOf", out, "sandbox.txt"]);
    };
    const ours = await text(`oci:${tmp}/sandbox-out:img`, "berth");
    expect(ours).toBe(await text(`docker-archive:${join(tmp, "sandbox.tar")}`, "buildkit"));
    expect(ours.split("\n")[0]).toBe("buildkitsandbox");
  }, 300_000);
});

describe("--add-host vs buildah bud --add-host", () => {
  it("RUN reads the same line; the images hold the same files", async () => {
    // buildah reads FROM oci:PATH as a reference too: the path lowercase
    const work = join(tmpdir(), `berth-df-hosts-${randomUUID().slice(0, 8)}`);
    onTestFinished(() => rm(work, { recursive: true, force: true }));
    const base = await localBase(join(work, "base"));
    const ctx = await writeContext(join(work, "ctx"), {
      Dockerfile: `FROM ${base}\nRUN grep db.internal /etc/hosts > /seen.txt\n`,
    });
    const r = await buildBoth({
      work,
      context: ctx,
      home: join(work, "home"),
      extra: ["--add-host", "db.internal:10.1.2.3"],
    });
    expect(r.berth.tree).toEqual(r.buildah.tree);
    expect(await readFile(join(work, "berth-bundle/rootfs/seen.txt"), "utf8")).toBe(
      "10.1.2.3\tdb.internal\n",
    );
  }, 300_000);
});

describe("--pull", () => {
  it("reads the base from its registry, where the store's copy of that name differs; without it, the store's", async () => {
    const ref = `${registry.host}/pull/base:1`;
    // the registry's image says "registry", the local one (berth's store, the engine's images) "local"
    const seed = (text: string) => `FROM {{BASE}}\nRUN echo ${text} > /v\n`;
    const ctx = await writeContext(join(tmp, "pull"), {
      "berth.Dockerfile": seed("registry").replace("{{BASE}}", engine.base),
      "docker.Dockerfile": seed("local").replace("{{BASE}}", engine.buildkitBase),
    });
    await berthBuild(ctx, `docker://${ref}`, ["--publish", "--network", "none"]);
    await writeFile(join(ctx, "berth.Dockerfile"), seed("local").replace("{{BASE}}", engine.base));
    await berthBuild(ctx, ref, ["--network", "none"]);
    await dockerBuild(engine.engine, ctx, ["-t", ref]);

    const use = `FROM ${ref}\nRUN echo "BASE-SAYS-$(cat /v)"\n`;
    await writeFile(join(ctx, "berth.Dockerfile"), use);
    await writeFile(join(ctx, "docker.Dockerfile"), use);
    const says = (out: string) =>
      /BASE-SAYS-(\w+)/.exec(out.replace(/echo "BASE-SAYS-\$\(cat \/v\)"/g, ""))?.[1];
    const results: Record<string, string | undefined> = {};
    for (const pull of [false, true]) {
      const flags = pull ? ["--pull"] : [];
      results[`berth${pull ? " --pull" : ""}`] = says(
        await berthBuild(ctx, `oci:${tmp}/pull-out:img`, [...flags, "--no-cache", "--network", "none"]),
      );
      results[`docker${pull ? " --pull" : ""}`] = says(
        await dockerBuild(engine.engine, ctx, [...flags, "--no-cache", "-t", "pull:1"]),
      );
    }
    expect(results).toEqual({
      berth: "local",
      docker: "local",
      "berth --pull": "registry",
      "docker --pull": "registry",
    });
  }, 300_000);

  it("a base in no registry is refused with --pull, naming the image and the flag", async () => {
    const ctx = await writeContext(join(tmp, "pull-missing"), {
      "berth.Dockerfile": `FROM ${registry.host}/pull/none:1\n`,
    });
    const r = await berth(
      ["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), "-t", `oci:${tmp}/x:img`, "--pull"],
      { home: home(), env: env() },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `image "${registry.host}/pull/none:1" is not reachable in its registry, where --pull reads it`,
    );
  });
});
