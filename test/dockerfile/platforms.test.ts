/**
 * Multi-platform Dockerfile builds (issue 20, "Multi-platform"; src/dockerfile/platforms.ts): `--platform
 * linux/amd64,linux/arm64` builds an OCI image index whose arm64 image was built with its RUN steps under
 * qemu-user-static (registered by berth with binfmt_misc when missing; src/runtime/binfmt.ts) and runs under it
 * with `berth run --platform linux/arm64`; the TARGET and BUILD args as BuildKit defines them; the cross-compilation
 * pattern (FROM --platform=$BUILDPLATFORM, COPY --from it), with BuildKit's arm64 build as the oracle; skopeo
 * reads and copies the index, docker pulls and runs its arm64 image; a docker-archive
 * and a machine without qemu get one sentence. The arm64 base is Debian's arm64 busybox-static
 * (scripts/foreign-busybox.sh). And `buildPlatforms` itself, FROM scratch so that nothing runs under emulation.
 */

import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlatforms } from "../../src/dockerfile/platforms.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { dockerdAvailable, startDockerd } from "../helpers/dockerd.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { writeContext } from "./helpers/local.ts";
import { twoPlatformBase } from "./helpers/multiarch.ts";

let tmp: string;
let base: string;
let home: string;
let registry: RegistryHarness;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-platforms-");
  base = await twoPlatformBase(join(tmp, "base"));
  home = join(tmp, "home");
  registry = await startRegistry();
}, 300_000);
afterAll(async () => {
  await registry?.stop();
});

async function build(dockerfile: string, args: string[], env: Record<string, string> = {}) {
  const ctx = await writeContext(join(tmp, `ctx-${n++}`), {
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
  });
  return berth(["build", ctx, "--dockerfile", ...args], { home, env: { SOURCE_DATE_EPOCH: "0", ...env } });
}

/** The cross pattern: a build stage on the machine's platform, the target's image gets its output. */
const CROSS = `ARG GLOBAL=g
FROM --platform=$BUILDPLATFORM {{BASE}} AS build
ARG TARGETARCH
ARG TARGETPLATFORM
ARG BUILDARCH
RUN echo "built on $(uname -m) ($BUILDARCH) for $TARGETARCH ($TARGETPLATFORM)" > /out.txt
FROM {{BASE}}
ARG TARGETOS
ARG TARGETARCH
ARG TARGETVARIANT
ARG BUILDPLATFORM
COPY --from=build /out.txt /out.txt
RUN echo "$TARGETOS/$TARGETARCH[$TARGETVARIANT] from $BUILDPLATFORM on $(uname -m) [$GLOBAL]" > /run.txt
CMD ["uname", "-m"]
`;

const layoutIndex = async (dir: string) => JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
const blob = async (dir: string, digest: string) =>
  JSON.parse(await readFile(join(dir, "blobs", "sha256", digest.slice(7)), "utf8"));

const PLATFORMS = ["linux/amd64", "linux/arm64"].map((p) => parsePlatform(p));
const SCRATCH = "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\nCOPY a.txt /\n";

describe("buildPlatforms", () => {
  it("writes an index of one image per platform, each with its TARGET* args", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.txt"), "a");
    const out = join(dir, "out");
    const r = await buildPlatforms(
      {
        contextDir: dir,
        dockerfile: { text: SCRATCH },
        destinations: [parseImageArgument(`oci:${out}:multi`)],
        compression: "none",
      },
      PLATFORMS,
      { home: join(dir, "home"), env: {} },
    );
    expect(r.platforms.map((p) => `${p.platform.os}/${p.platform.architecture}`)).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
    const layoutIndex = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(layoutIndex.manifests.map((m: { digest: string }) => m.digest)).toEqual([r.digest]);
    const hex = (d: string) => d.slice("sha256:".length);
    const index = JSON.parse(await readFile(join(out, "blobs/sha256", hex(r.digest)), "utf8"));
    expect(index.manifests.map((m: { digest: string; platform: unknown }) => [m.digest, m.platform])).toEqual(
      [
        [r.platforms[0]!.result.digest, { architecture: "amd64", os: "linux" }],
        [r.platforms[1]!.result.digest, { architecture: "arm64", os: "linux" }],
      ],
    );
    const labels = [];
    for (const p of r.platforms) {
      const config = JSON.parse(
        await readFile(join(out, "blobs/sha256", hex(p.result.configDigest)), "utf8"),
      );
      labels.push([config.architecture, config.config.Labels.arch]);
    }
    expect(labels).toEqual([
      ["amd64", "amd64"],
      ["arm64", "arm64"],
    ]);
  });
});

describe("berth build --platform linux/amd64,linux/arm64", () => {
  let out: string;
  let json: {
    digest: string;
    manifests: { platform: string; digest: string; imageId: string }[];
    steps: { platform?: string }[];
  };

  beforeAll(async () => {
    out = join(tmp, "out");
    const r = await build(CROSS, ["--platform", "linux/amd64,linux/arm64", "-t", `oci:${out}:img`, "--json"]);
    if (r.code !== 0) throw new Error(r.stderr);
    json = JSON.parse(r.stdout);
    // the arm64 RUN ran under emulation: the build says which platform each line is of
    expect(r.stderr).toMatch(/^\[linux\/arm64\] \[stage 2\/2\] STEP 7\/8: RUN /m);
  }, 300_000);

  it("writes an OCI index with one manifest per platform, platform fields and configs to match", async () => {
    const top = await layoutIndex(out);
    const root = top.manifests.find(
      (m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === "img",
    );
    expect(root.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(root.digest).toBe(json.digest);
    const index = await blob(out, root.digest);
    expect(index.manifests.map((m: { platform: unknown }) => m.platform)).toEqual([
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64" },
    ]);
    expect(json.manifests.map((m) => [m.platform, m.digest])).toEqual(
      index.manifests.map((m: { digest: string }, i: number) => [
        ["linux/amd64", "linux/arm64"][i],
        m.digest,
      ]),
    );
    for (const [i, arch] of ["amd64", "arm64"].entries()) {
      const manifest = await blob(out, index.manifests[i].digest);
      const config = await blob(out, manifest.config.digest);
      expect([config.os, config.architecture]).toEqual(["linux", arch]);
      expect(manifest.config.digest).toBe(json.manifests[i]!.imageId);
    }
    expect(new Set(json.steps.map((s) => s.platform))).toEqual(new Set(["linux/amd64", "linux/arm64"]));
  });

  it("runs each image on its platform: the arm64 one under qemu prints aarch64", async () => {
    const arm = await berth(["run", "--rm", "--platform", "linux/arm64", `oci:${out}:img`], { home });
    expect(arm.stderr).toBe("");
    expect(arm.stdout).toBe("aarch64\n");
    const amd = await berth(["run", "--rm", "--platform", "linux/amd64", `oci:${out}:img`], { home });
    expect(amd.stdout).toBe("x86_64\n");
  });

  it("gives TARGET*/BUILD* as BuildKit does, the build stage on the machine's platform (the cross pattern)", async () => {
    const cat = (platform: string) =>
      berth(["run", "--rm", "--platform", platform, `oci:${out}:img`, "cat", "/out.txt", "/run.txt"], {
        home,
      });
    expect((await cat("linux/arm64")).stdout).toBe(
      "built on x86_64 (amd64) for arm64 (linux/arm64)\nlinux/arm64[] from linux/amd64 on aarch64 []\n",
    );
    expect((await cat("linux/amd64")).stdout).toBe(
      "built on x86_64 (amd64) for amd64 (linux/amd64)\nlinux/amd64[] from linux/amd64 on x86_64 []\n",
    );
  });

  it("is read and copied whole by skopeo", async () => {
    const raw = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${out}:img`]));
    expect(raw.manifests).toHaveLength(2);
    const copy = join(tmp, "skopeo-copy");
    await run("skopeo", ["copy", "--all", `oci:${out}:img`, `oci:${copy}:img`]);
    const arm = JSON.parse(
      await run("skopeo", ["inspect", "--override-arch", "arm64", "--config", `oci:${copy}:img`]),
    );
    expect(arm.architecture).toBe("arm64");
  });

  it("pushes the index to a registry, whose arm64 image berth runs from there", async () => {
    const ref = `${registry.host}/multi/app:1`;
    const r = await build(CROSS, [
      "--platform",
      "linux/amd64",
      "--platform",
      "linux/arm64",
      "-t",
      ref,
      "--publish",
      "--json",
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
    expect(JSON.parse(r.stdout).digest).toBe(json.digest);
    const res = await fetch(`http://${ref.replace("/multi/app:1", "/v2/multi/app/manifests/1")}`, {
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    expect(res.headers.get("docker-content-digest")).toBe(json.digest);
    const arm = await berth(["run", "--rm", "--platform", "linux/arm64", `docker://${ref}`], { home });
    expect(arm.stdout).toBe("aarch64\n");
  });

  it("writes the same index to the store and to an oci-archive; berth runs the store's arm64 image", async () => {
    const archive = join(tmp, "multi.tar");
    for (const dest of ["multi:1", `oci-archive:${archive}`]) {
      const r = await build(CROSS, ["--platform", "linux/amd64,linux/arm64", "-t", dest, "-q"]);
      if (r.code !== 0) throw new Error(r.stderr);
      expect(r.stdout).toBe(`${json.digest}\n`);
    }
    expect(
      JSON.parse(await run("skopeo", ["inspect", "--raw", `oci-archive:${archive}`])).manifests,
    ).toHaveLength(2);
    const arm = await berth(["run", "--rm", "--platform", "linux/arm64", "multi:1"], { home });
    expect(arm.stdout).toBe("aarch64\n");
  });

  it.skipIf(!dockerdAvailable())(
    "docker pulls and runs the index's arm64 image; BuildKit's arm64 build of the same Dockerfile sees the same args",
    async () => {
      const ref = `${registry.host}/multi/docker:1`;
      const r = await build(CROSS, ["--platform", "linux/amd64,linux/arm64", "-t", ref, "--publish"]);
      if (r.code !== 0) throw new Error(r.stderr);
      const files = ["cat", "/out.txt", "/run.txt"];
      const ours = await berth(["run", "--rm", "--platform", "linux/arm64", `docker://${ref}`, ...files], {
        home,
      });
      // the base for BuildKit, from the registry (the engine's image store holds one platform per name)
      const baseRef = `${registry.host}/multi/base:1`;
      await run("skopeo", ["copy", "--all", "--dest-tls-verify=false", base, `docker://${baseRef}`]);
      const ctx = await writeContext(join(tmp, "buildkit"), {
        Dockerfile: CROSS.replaceAll("{{BASE}}", baseRef),
      });
      const d = await startDockerd();
      try {
        await d.docker(["pull", "--platform", "linux/arm64", ref]);
        const arch = await d.docker(["image", "inspect", "--format", "{{.Architecture}}", ref]);
        expect(arch.trim()).toBe("arm64");
        const out = await d.docker(["run", "--rm", "--network", "none", "--platform", "linux/arm64", ref]);
        expect(out).toBe("aarch64\n");
        // BuildKit (the engine's own) as the oracle of TARGET*/BUILD* and the cross pattern, under the same qemu
        await d.docker(["build", "--network", "none", "--platform", "linux/arm64", "-t", "oracle:1", ctx]);
        const theirs = await d.docker([
          "run",
          "--rm",
          "--network",
          "none",
          "--platform",
          "linux/arm64",
          "oracle:1",
          ...files,
        ]);
        expect(ours.stdout).toBe(theirs);
      } finally {
        await d.stop();
      }
    },
  );
});

describe("the platform args in FROM", () => {
  it("TARGETARCH names each platform's own single-platform base in FROM, undeclared (global scope)", async () => {
    // the base layout also holds each platform's image under its arch's tag
    const perArch = base.replace(/:base$/, ":$TARGETARCH");
    const out = join(tmp, "per-arch");
    const r = await build(`FROM ${perArch}\nRUN uname -m > /m\n`, [
      "--platform",
      "linux/arm64,linux/amd64",
      "-t",
      `oci:${out}:img`,
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
    for (const [platform, m] of [
      ["linux/arm64", "aarch64"],
      ["linux/amd64", "x86_64"],
    ]) {
      const c = await berth(["run", "--rm", "--platform", platform!, `oci:${out}:img`, "cat", "/m"], {
        home,
      });
      expect(c.stdout).toBe(`${m}\n`);
    }
    const index = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${out}:img`]));
    expect(
      index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture),
    ).toEqual(["arm64", "amd64"]);
  });
});

describe("one --cache-to for several platforms, as BuildKit's", () => {
  const cases = [
    ["local", "min"],
    ["local", "max"],
    ["registry", "min"],
  ] as const;
  for (const [type, mode] of cases) {
    it(`type=${type},mode=${mode}: a fresh BERTH_HOME reading it runs no RUN for either platform, same index`, async () => {
      const ctx = await writeContext(join(tmp, `shared-cache-${type}-${mode}`), {
        Dockerfile: CROSS.replaceAll("{{BASE}}", base),
      });
      const where =
        type === "local" ? join(tmp, `shared-cache-${mode}`) : `${registry.host}/shared/cache:${mode}`;
      const spec = type === "local" ? `dest=${where}` : `ref=${where}`;
      const from = type === "local" ? `type=local,src=${where}` : `type=registry,ref=${where}`;
      const go = async (home: string, args: string[]) => {
        const r = await berth(
          ["build", ctx, "--dockerfile", "--platform", "linux/amd64,linux/arm64", "--json", ...args],
          { home: join(tmp, home), env: { SOURCE_DATE_EPOCH: "0" } },
        );
        if (r.code !== 0) throw new Error(r.stderr);
        return JSON.parse(r.stdout) as {
          digest: string;
          steps: { instruction: string; cached: boolean; platform?: string }[];
        };
      };
      const out = `oci:${tmp}/shared-${type}-${mode}`;
      const first = await go(`w-${type}-${mode}`, [
        "-t",
        `${out}:a`,
        "--cache-to",
        `type=${type},${spec},mode=${mode}`,
      ]);
      const again = await go(`r-${type}-${mode}`, ["-t", `${out}:b`, "--cache-from", from]);
      expect(again.digest).toBe(first.digest);
      const runs = again.steps.filter((s) => s.instruction.startsWith("RUN"));
      expect(new Set(runs.map((s) => s.platform))).toEqual(new Set(["linux/amd64", "linux/arm64"]));
      expect(runs.filter((s) => !s.cached)).toEqual([]);
      if (mode === "max") {
        // every stage's records are there, keyed as a build importing the cache keys them
        const stage = await go(`s-${type}-${mode}`, [
          "-t",
          `${out}:c`,
          "--target",
          "build",
          "--cache-from",
          from,
        ]);
        const built = stage.steps.filter((s) => s.instruction.startsWith("RUN"));
        expect([built.length, built.filter((s) => !s.cached)]).toEqual([2, []]);
      }
    });
  }
});

describe("multi-platform refusals", () => {
  it("a docker-archive destination: one sentence, exit 2, nothing built or written", async () => {
    const dest = join(tmp, "refused.tar");
    const r = await build(CROSS, ["--platform", "linux/amd64,linux/arm64", "-t", `docker-archive:${dest}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `docker-archive:${dest}: a docker-archive holds single-platform images, not the image index --platform linux/amd64,linux/arm64 builds`,
    );
    expect(r.stderr).not.toMatch(/STEP/);
    await expect(readFile(dest)).rejects.toThrow();
  });

  it("--annotation: each platform's manifest its own and the unscoped ones, descriptors in the index, the index's, index.json's; the registry serves them", async () => {
    const dest = join(tmp, "annotated");
    const ref = `${registry.host}/annotated:multi`;
    const r = await build("FROM scratch\nCOPY Dockerfile /\n", [
      "--platform",
      "linux/amd64,linux/arm64",
      "-t",
      `oci:${dest}:img`,
      "-o",
      `type=registry,name=${ref},annotation-index.from-output=1`,
      "--annotation",
      "all=1",
      "--annotation",
      "manifest[linux/arm64],manifest-descriptor[linux/arm64]:arm=yes",
      "--annotation",
      "manifest-descriptor:d=1",
      "--annotation",
      "index,index-descriptor:i=1",
    ]);
    expect(r.code, r.stderr).toBe(0);
    const top = JSON.parse(await readFile(join(dest, "index.json"), "utf8"));
    expect(top.manifests[0].annotations).toEqual({ i: "1", "org.opencontainers.image.ref.name": "img" });
    const index = JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${dest}:img`]));
    expect(index.annotations).toEqual({ "from-output": "1", i: "1" });
    expect(index.manifests.map((m: { annotations?: unknown }) => m.annotations)).toEqual([
      { d: "1" },
      { arm: "yes", d: "1" },
    ]);
    const pushed = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`]);
    expect(JSON.parse(pushed)).toEqual(index);
    const inspected = await berth(["inspect", "--raw", `oci:${dest}:img`], { home });
    expect(JSON.parse(inspected.stdout)).toEqual(index);
    // each platform's image, as the registry serves it and the layout holds it
    for (const m of index.manifests) {
      const at = `docker://${ref.slice(0, ref.lastIndexOf(":"))}@${m.digest}`;
      const image = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", at]);
      expect(await readFile(join(dest, "blobs", "sha256", m.digest.slice(7)), "utf8")).toBe(image);
      const want = m.platform.architecture === "arm64" ? { all: "1", arm: "yes" } : { all: "1" };
      expect(JSON.parse(image).annotations).toEqual(want);
    }
    const s390 = await build("FROM scratch\n", [
      "--platform",
      "linux/amd64,linux/arm64",
      "-t",
      `oci:${tmp}/s390:img`,
      "--annotation",
      "manifest[linux/s390x]:k=v",
    ]);
    expect(s390.code).toBe(2);
    expect(s390.stderr).toContain(
      '--annotation "manifest[linux/s390x]:k=v": no platform linux/s390x in this build (linux/amd64, linux/arm64)',
    );
  });

  it("a failure in one platform stops the build naming the platform; no index is written", async () => {
    const dest = join(tmp, "one-fails");
    const r = await build('FROM {{BASE}}\nRUN test "$(uname -m)" != aarch64 || exit 3\n', [
      "--platform",
      "linux/amd64,linux/arm64",
      "-t",
      `oci:${dest}:img`,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^berth: building for linux\/arm64: Dockerfile:2: RUN .*exit 3/m);
    await expect(readdir(dest)).rejects.toThrow();
  });

  it("a platform named twice is refused", async () => {
    const r = await build(CROSS, ["--platform", "linux/arm64,linux/arm64", "-t", `oci:${tmp}/twice:img`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('platform list "linux/arm64,linux/arm64" names linux/arm64 twice');
  });

  it("a machine without qemu-user-static: one sentence naming the package, exit 7, nothing written", async () => {
    // the qemu lookup pointed at empty folders (the host's registration stays as it is for the other tests)
    const empty = join(tmp, "no-qemu");
    await mkdir(join(empty, "binfmts"), { recursive: true });
    await mkdir(join(empty, "binfmt_misc"), { recursive: true });
    const env = { BERTH_QEMU_BINFMTS: join(empty, "binfmts"), BERTH_BINFMT_MISC: join(empty, "binfmt_misc") };
    const dest = join(tmp, "no-qemu-out");
    const r = await build(
      "FROM {{BASE}}\nRUN echo never-in-the-cache-before > /x\n",
      ["--platform", "linux/amd64,linux/arm64", "-t", `oci:${dest}:img`],
      env,
    );
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(
      `cannot run linux/arm64 binaries on this amd64 machine: qemu-user-static is not installed (there is no ${env.BERTH_QEMU_BINFMTS}/qemu-aarch64)`,
    );
    expect(r.stderr).toContain("apt-get install qemu-user-static");
    expect(r.stderr).toContain("--platform linux/amd64");
    await expect(readdir(dest)).rejects.toThrow();
    const runR = await berth(["run", "--rm", "--platform", "linux/arm64", base, "true"], { home, env });
    // berth run's own failures exit 125, as docker run's
    expect(runR.code).toBe(125);
    expect(runR.stderr).toContain("qemu-user-static is not installed");
  });
});
