/** Which way `build` takes and where `--publish` writes (src/api/build.ts; whole builds: test/cnb/, test/dockerfile/). */
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  build,
  buildDockerfile,
  callDockerfileBuild,
  chooseBuild,
  publishTarget,
} from "../../src/api/build.ts";
import { failure, failureOf } from "../dockerfile/helpers/failure.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { startRegistry } from "../registry/helpers/registry.ts";

describe("chooseBuild", () => {
  let app: string;
  let outside: string;
  beforeAll(async () => {
    app = await tempDir();
    outside = await tempDir();
  });
  const project = (text: string) => writeFile(join(app, "project.toml"), text);

  it("--dockerfile always wins; bare, it means the context's Dockerfile", async () => {
    await project('[io.berth]\nbuild = "buildpacks"\n');
    expect(await chooseBuild(app, "/x/Other.Dockerfile", undefined)).toEqual({
      way: "dockerfile",
      dockerfile: "/x/Other.Dockerfile",
      reason: "--dockerfile",
    });
    expect((await chooseBuild(app, true, undefined)).dockerfile).toBe(join(app, "Dockerfile"));
    expect((await chooseBuild(app, false, undefined)).way).toBe("buildpacks");
  });

  it("project.toml's [io.berth] build = dockerfile, with its dockerfile relative to the project", async () => {
    await project('[io.berth]\nbuild = "dockerfile"\ndockerfile = "docker/Dockerfile.prod"\n');
    expect(await chooseBuild(app, undefined, undefined)).toEqual({
      way: "dockerfile",
      dockerfile: join(app, "docker/Dockerfile.prod"),
      fromProject: true,
      reason: 'project.toml [io.berth] build = "dockerfile"',
    });
    await project('[_]\nschema-version = "0.2"\n');
    expect(await chooseBuild(app, undefined, undefined)).toEqual({
      way: "buildpacks",
      reason: "the default (no --dockerfile, project.toml does not ask for one)",
    });
  });

  it("refuses a bad project.toml, naming it", async () => {
    await project('[io.berth]\nbuild = "docker"\n');
    expect(await failureOf(chooseBuild(app, undefined, undefined))).toEqual({
      code: "USAGE",
      message: `${join(app, "project.toml")}: [io.berth] build must be "dockerfile" or "buildpacks", not "docker"`,
    });
    await project("[io.berth\n");
    const f = await failureOf(chooseBuild(app, undefined, undefined));
    expect([f.code, f.message.startsWith(`${join(app, "project.toml")} is not valid TOML: `)]).toEqual([
      "USAGE",
      true,
    ]);
  });

  it("a --descriptor must exist; a project.toml linking out of the app is not read", async () => {
    expect(await failureOf(chooseBuild(app, undefined, join(app, "none.toml")))).toEqual({
      code: "USAGE",
      message: `cannot read the descriptor ${join(app, "none.toml")}`,
    });
    const linked = await tempDir();
    await writeFile(join(outside, "project.toml"), '[io.berth]\nbuild = "dockerfile"\n');
    await mkdir(join(linked, "sub"));
    await symlink(join(outside, "project.toml"), join(linked, "project.toml"));
    const f = await failureOf(chooseBuild(linked, undefined, undefined));
    expect(f.code).toBe("UNSAFE_PATH");
  });
});

describe("publishTarget", () => {
  it("a registry reference unless publishing is off or it already says docker://", () => {
    expect(publishTarget("app:1", true)).toBe("docker://app:1");
    expect(publishTarget("docker://r/app:1", true)).toBe("docker://r/app:1");
    expect(publishTarget("app:1", false)).toBe("app:1");
    expect(failure(() => publishTarget("oci-archive:/x.tar", true))).toEqual({
      code: "USAGE",
      message: "--publish writes to a registry; oci-archive:/x.tar names an oci-archive destination",
    });
    expect(failure(() => publishTarget("docker-archive:/x.tar", true))).toEqual({
      code: "USAGE",
      message: "--publish writes to a registry; docker-archive:/x.tar names a docker-archive destination",
    });
  });
});

describe("a Dockerfile build's modules", () => {
  it("are the Dockerfile engine's: no buildpacks engine, TOML parser, registry client, archives or RUN runtime", async () => {
    const dir = await tempDir();
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n");
    await writeFile(join(app, "a.txt"), "a\n");
    // a module hook that notes every module the CLI loads
    const log = join(dir, "loaded");
    const hook = join(dir, "hook.mjs");
    await writeFile(
      hook,
      `import { registerHooks } from "node:module";
import { appendFileSync } from "node:fs";
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + "\\n"); return next(url, context); } });
`,
    );
    const r = await berth(["build", app, "--dockerfile", "-t", "app:1", "-q"], {
      home: join(dir, "home"),
      env: { NODE_OPTIONS: `--import=${hook}` },
    });
    expect(r.stderr).toBe("");
    const loaded = (await readFile(log, "utf8")).split("\n");
    const src = "/src/";
    expect(loaded.filter((u) => u.includes(`${src}dockerfile/build.ts`))).toHaveLength(1);
    const unwanted = loaded.filter(
      (u) =>
        (u.includes(`${src}cnb/`) && !u.endsWith("/cnb/image.ts")) ||
        u.includes("/smol-toml/") ||
        u.includes(`${src}registry/`) ||
        u.includes(`${src}oci/archive/`) ||
        // RUN's runtime is loaded when a RUN runs (the start-up sweep's few runtime modules are not it)
        /\/src\/runtime\/(index|sandbox|container|spec|snapshots)\.ts$/.test(u),
    );
    expect(unwanted.map((u) => u.slice(u.indexOf(src) + 1))).toEqual([]);
  });
});

describe("build --platform (buildpacks)", () => {
  it("--isolation host runs the buildpacks on this machine: another platform is refused before anything runs", async () => {
    const home = await tempDir();
    const app = await tempDir();
    expect(
      await failureOf(build({ home, path: app, image: "app:1", isolation: "host", platform: "linux/s390x" })),
    ).toEqual({
      code: "USAGE",
      message:
        "--platform linux/s390x cannot be built with --isolation host: the buildpacks run on this machine, linux/amd64",
      hint: "leave out --platform, or build in the sandbox (without --isolation host), where a foreign builder runs under qemu-user-static",
    });
    expect(
      await failureOf(build({ home, path: app, image: "app:1", platform: "linux/amd64,linux/arm64" })),
    ).toMatchObject({ code: "USAGE", hint: "give one (--platform linux/amd64) and build once per platform" });
  });

  it("berth's default builder is this machine's: another platform is refused before it is made", async () => {
    const home = await tempDir();
    expect(
      await failureOf(build({ home, path: await tempDir(), image: "app:1", platform: "linux/arm64" })),
    ).toEqual({
      code: "PLATFORM_NOT_FOUND",
      message: "berth's default builder is made for this machine, linux/amd64, not --platform linux/arm64",
      hint: "give -B a builder with a linux/arm64 image",
    });
    expect(await readdir(home)).not.toContain("store");
  });
});

describe("build --dockerfile --publish --json", () => {
  it("describes the image it pushed without reading it back from the registry", async () => {
    const registry = await startRegistry();
    try {
      const app = await tempDir();
      await writeFile(join(app, "a.txt"), "a\n");
      await writeFile(
        join(app, "Dockerfile"),
        'FROM scratch\nCOPY a.txt /a.txt\nWORKDIR /w\nENTRYPOINT ["/a"]\nCMD ["b"]\n',
      );
      const ref = `${registry.host}/doc/app:1`;
      const r = await berth(["build", app, "--dockerfile", "-t", ref, "--publish", "--json"], {
        home: await tempDir(),
      });
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc).toMatchObject({
        way: "dockerfile",
        image: ref,
        processes: [{ type: "default", command: ["/a", "b"], workDir: "/w", default: true }],
        layers: { total: 2, reused: 1 },
      });
      const manifest = await fetch(`${registry.url}/v2/doc/app/manifests/1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      expect(manifest.headers.get("docker-content-digest")).toBe(doc.digest);
      // the build's own requests: the push (PUT, POST, PATCH, HEAD of blobs), no GET of what it pushed
      const gets = (await registry.requests()).filter(
        (q) => q.method === "GET" && q.uri.startsWith("/v2/doc/"),
      );
      expect(gets.map((q) => q.uri)).toEqual(["/v2/doc/app/manifests/1"]);
    } finally {
      await registry.stop();
    }
  });
});

describe("build --dockerfile and SOURCE_DATE_EPOCH", () => {
  it("takes it from --build-arg as BuildKit does, else from the environment, which an ARG then sees (buildx's)", async () => {
    const app = await tempDir();
    await writeFile(
      join(app, "Dockerfile"),
      "FROM scratch\nARG SOURCE_DATE_EPOCH\nLABEL e=$SOURCE_DATE_EPOCH\n",
    );
    const config = async (args: string[], env?: Record<string, string>) => {
      const home = await tempDir();
      const r = await berth(["build", app, "--dockerfile", "-t", "e:1", "-q", ...args], { home, env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/not consumed/);
      const c = await berth(["inspect", "--config", "e:1"], { home });
      return JSON.parse(c.stdout) as { created: string; config: { Labels?: Record<string, string> } };
    };
    const arg = await config(["--build-arg", "SOURCE_DATE_EPOCH=100"], { SOURCE_DATE_EPOCH: "5" });
    expect(arg.created).toBe("1970-01-01T00:01:40Z");
    expect(arg.config.Labels).toEqual({ e: "100" });
    const env = await config([], { SOURCE_DATE_EPOCH: "100" });
    expect(env.created).toBe("1970-01-01T00:01:40Z");
    expect(env.config.Labels).toEqual({ e: "100" });
    // empty: no epoch, as BuildKit's
    const none = await config(["--build-arg", "SOURCE_DATE_EPOCH="], { SOURCE_DATE_EPOCH: "100" });
    expect(none.created).not.toBe("1970-01-01T00:01:40Z");
    // an unused build arg is still named; SOURCE_DATE_EPOCH never is
    await writeFile(join(app, "Dockerfile.plain"), "FROM scratch\nENV A=1\n");
    const plain = await berth(
      [
        "build",
        app,
        "-f",
        join(app, "Dockerfile.plain"),
        "-t",
        "p:1",
        "--build-arg",
        "SOURCE_DATE_EPOCH=7",
        "--build-arg",
        "X=1",
      ],
      { home: await tempDir() },
    );
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/build-args \[X\] were not consumed/);
    const bad = await berth(
      ["build", app, "--dockerfile", "-t", "e:1", "--build-arg", "SOURCE_DATE_EPOCH=soon"],
      {
        home: await tempDir(),
      },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/SOURCE_DATE_EPOCH=soon: invalid SOURCE_DATE_EPOCH/);
  });
});

describe("build --dockerfile and BuildKit's built-in build args", () => {
  it("BUILDKIT_INLINE_CACHE is --cache-to type=inline; BUILDKIT_MULTI_PLATFORM makes one platform an index and a folder; none is unused", async () => {
    const app = await tempDir();
    await writeFile(join(app, "a.txt"), "a\n");
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY a.txt /\n");
    const home = await tempDir();
    const build = (args: string[]) => berth(["build", app, "--dockerfile", ...args], { home });
    const inline = await build([
      "-t",
      "i:1",
      "--build-arg",
      "BUILDKIT_INLINE_CACHE=1",
      "--build-arg",
      "BUILDKIT_SYNTAX=x",
    ]);
    expect(inline.code, inline.stderr).toBe(0);
    expect(inline.stderr).not.toMatch(/not consumed/);
    const config = JSON.parse((await berth(["inspect", "--config", "i:1"], { home })).stdout) as {
      config: { Labels?: Record<string, string> };
    };
    expect(Object.keys(config).concat(Object.keys(config.config))).toContain("moby.buildkit.cache.v0");
    // one platform as a multi-platform build: an index of it, and its folder
    const layout = join(app, "multi");
    const out = join(app, "out");
    const multi = await build([
      "-t",
      `oci:${layout}:m`,
      "-o",
      out,
      "--build-arg",
      "BUILDKIT_MULTI_PLATFORM=1",
    ]);
    expect(multi.code, multi.stderr).toBe(0);
    const top = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const index = JSON.parse(
      await readFile(join(layout, "blobs", "sha256", top.manifests[0]!.digest.slice(7)), "utf8"),
    ) as { mediaType: string; manifests: { platform?: { os: string } }[] };
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m) => m.platform?.os)).toEqual(["linux"]);
    const [dir] = await readdir(out);
    expect(dir).toMatch(/^linux_[a-z0-9]+$/);
    expect(await readdir(join(out, dir!))).toEqual(["a.txt"]);
    // dockerui's refusals
    const bad = await build(["-t", "b:1", "--build-arg", "BUILDKIT_MULTI_PLATFORM=maybe"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/BUILDKIT_MULTI_PLATFORM=maybe: invalid boolean value for multi-platform/);
    const conflict = await build([
      "-t",
      "c:1",
      "--platform",
      "linux/amd64,linux/arm64",
      "--build-arg",
      "BUILDKIT_MULTI_PLATFORM=0",
    ]);
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflicting config: returning multiple target platforms is not allowed/);
  });
});

describe("buildDockerfile's annotations", () => {
  const scratch = async () => {
    const app = await tempDir();
    await writeFile(join(app, "a.txt"), "a\n");
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n");
    return app;
  };
  const manifestAnnotations = async (layout: string) => {
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
    const digest: string = index.manifests[0].digest;
    return JSON.parse(await readFile(join(layout, "blobs", "sha256", digest.slice(7)), "utf8")).annotations;
  };

  it("-o's annotation attributes, then --annotation over them; the descriptor's in the result; a docker-archive is said to go without", async () => {
    const app = await scratch();
    const lines: string[] = [];
    const r = await buildDockerfile({
      home: join(app, "home"),
      logger: { info: (l) => lines.push(l) },
      context: app,
      tags: [],
      outputs: [
        `type=oci,dest=${app}/out,tar=false,annotation.a=1,annotation.b=1`,
        `type=docker,dest=${app}/d.tar`,
      ],
      annotations: ["b=2", "manifest-descriptor:d=1", "manifest-descriptor[linux/arm64]:scoped=1"],
    });
    expect(await manifestAnnotations(join(app, "out"))).toEqual({ a: "1", b: "2" });
    // the descriptor buildx's metadata file gets: the image's alone has no platform-scoped annotation
    expect(r.descriptor?.annotations).toEqual({ d: "1" });
    expect(lines).toContain(
      `--annotation: docker-archive:${app}/d.tar is a docker-archive, which holds no manifest and no index: its image goes without them`,
    );
  });

  it("refused before anything runs: image outputs giving different annotations; an index annotation where only the image goes (--load); not where no image goes", async () => {
    const app = await scratch();
    const host = { home: join(app, "home"), context: app };
    const differ = await failureOf(
      buildDockerfile({
        ...host,
        tags: [],
        outputs: [
          `type=oci,dest=${app}/a,tar=false,annotation.a=1`,
          `type=oci,dest=${app}/b,tar=false,annotation.a=2`,
        ],
      }),
    );
    expect(differ.message).toBe(
      `-o type=oci,dest=${app}/a,tar=false,annotation.a=1 and -o type=oci,dest=${app}/b,tar=false,annotation.a=2 give different annotations, and berth writes one image to every destination`,
    );
    await expect(readdir(join(app, "a"))).rejects.toThrow();
    const load = await failureOf(
      buildDockerfile({
        ...host,
        tags: ["app:1"],
        load: true,
        provenance: "mode=min",
        annotations: ["index:i=1"],
      }),
    );
    expect(load.message).toMatch(
      /^--annotation "index:i=1": index annotations are not supported for a single-platform export/,
    );
    // no image written: the filesystem exporters take no annotation, as BuildKit's local exporter ignores them
    const local = await buildDockerfile({
      ...host,
      tags: [],
      outputs: [`${app}/files`],
      annotations: ["index:i=1"],
    });
    expect(local.digest).toMatch(/^sha256:/);
    const withIndex = await buildDockerfile({
      ...host,
      tags: ["app:1"],
      provenance: "mode=min",
      annotations: ["index:i=1", "index-descriptor:id=1", "manifest-descriptor:d=1"],
    });
    expect(withIndex.descriptor?.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(withIndex.descriptor?.annotations).toEqual({ id: "1" });
  });
});

describe("callDockerfileBuild (--call outline / targets)", () => {
  it("reads the context's Dockerfile (or -f's), takes --build-arg's KEY=VALUE and KEY from the env, builds nothing", async () => {
    const app = await tempDir();
    await writeFile(join(app, "Dockerfile"), "FROM scratch AS one\nARG A\nARG B\nFROM one\n");
    const host = { home: join(app, "home"), hostEnv: { B: "from-env" } };
    const o = await callDockerfileBuild("outline", {
      ...host,
      context: app,
      buildArgs: ["A=a", "B"],
      target: "one",
    });
    expect(o.text).toBe(
      "TARGET: one\n\nBUILD ARG   VALUE      DESCRIPTION\nA           a          \nB           from-env   \n\n",
    );
    await writeFile(join(app, "Other"), "FROM scratch\n");
    const t = await callDockerfileBuild("targets", { ...host, context: app, file: join(app, "Other") });
    expect(JSON.parse(t.json).targets).toEqual([
      { default: true, base: "scratch", location: { ranges: [{ start: { line: 1 }, end: { line: 1 } }] } },
    ]);
    expect(await readdir(app)).toEqual(["Dockerfile", "Other"]);
  });
});
