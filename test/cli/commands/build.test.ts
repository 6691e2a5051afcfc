/**
 * src/cli/commands/build.ts: the folder and image a build names (docker's and pack's spellings), the CNB_*
 * twins of the flags read by a build step, flags of the other way of building refused, a Dockerfile
 * build run in process (FROM scratch: no runtime needed), and -v/--verbose's debug lines in a buildpacks build
 * (a builder made here, real runc).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildTarget, cnbEnvOptions, stepOf } from "../../../src/cli/commands/build.ts";
import { BerthError } from "../../../src/errors.ts";
import { makeBuildImage, writeBuildpack } from "../../cnb/helpers.ts";
import { envImage } from "../../dockerfile/helpers/image.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";
import { startRegistry } from "../../registry/helpers/registry.ts";
import { busyboxImage } from "../../runtime/helpers.ts";

function refusal(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error("expected a refusal");
}

describe("buildTarget", () => {
  it("takes docker's CONTEXT -t IMAGE, the context defaulting to .", () => {
    expect(buildTarget("./api", { tag: "app:1" })).toEqual({ context: "./api", tag: "app:1" });
    expect(buildTarget(undefined, { tag: "app:1" })).toEqual({ context: ".", tag: "app:1" });
  });

  it("takes pack's IMAGE --path APP, and --path with -t", () => {
    expect(buildTarget("app:1", { path: "./api" })).toEqual({ context: "./api", tag: "app:1" });
    expect(buildTarget(undefined, { path: "./api", tag: "app:2" })).toEqual({
      context: "./api",
      tag: "app:2",
    });
  });

  it("takes -o alone (BuildKit's exporters write no image then)", () => {
    expect(buildTarget(".", { output: ["out"] })).toEqual({ context: ".", tag: undefined });
  });

  it("refuses no image, and two images, with the spelling to use", () => {
    const none = refusal(() => buildTarget("./api", {}));
    expect([none.code, none.message, none.hint]).toEqual([
      "USAGE",
      "no image to write: give -t IMAGE",
      "berth build ./api -t IMAGE (or, as pack: berth build IMAGE --path ./api)",
    ]);
    const nonePack = refusal(() => buildTarget(undefined, { path: "./api" }));
    expect([nonePack.message, nonePack.hint]).toEqual(["no image to write", "berth build IMAGE --path APP"]);
    const two = refusal(() => buildTarget("a:1", { path: ".", tag: "b:1" }));
    expect(two.message).toBe(
      'two images to write: "a:1" (with --path, the argument is the image) and -t "b:1"',
    );
  });
});

describe("cnbEnvOptions", () => {
  it("fills flags not given from their CNB_* variables", () => {
    const env = {
      CNB_RUN_IMAGE: "run:1",
      CNB_PREVIOUS_IMAGE: "app:0",
      CNB_CACHE_IMAGE: "cache:1",
      CNB_CACHE_DIR: "/cache",
      CNB_PROCESS_TYPE: "worker",
      CNB_SKIP_RESTORE: "true",
      CNB_LOG_LEVEL: "warn",
    };
    expect(cnbEnvOptions({ tag: "app:1" }, env)).toEqual({
      tag: "app:1",
      runImage: "run:1",
      previousImage: "app:0",
      cacheImage: "cache:1",
      cacheDir: "/cache",
      defaultProcess: "worker",
      clearCache: true,
      quiet: true,
    });
  });

  it("lets a flag given win over its variable, and ignores empty or other values", () => {
    const opts = { runImage: "flag:1", quiet: false };
    const env = { CNB_RUN_IMAGE: "env:1", CNB_CACHE_DIR: "", CNB_SKIP_RESTORE: "no", CNB_LOG_LEVEL: "info" };
    expect(cnbEnvOptions(opts, env)).toEqual({ runImage: "flag:1", quiet: false });
    expect(opts).toEqual({ runImage: "flag:1", quiet: false });
  });

  it("reads CNB_LOG_LEVEL=debug as -v, the flag given winning", () => {
    expect(cnbEnvOptions({}, { CNB_LOG_LEVEL: "DEBUG" })).toEqual({ verbose: true });
    expect(cnbEnvOptions({ verbose: false }, { CNB_LOG_LEVEL: "debug" })).toEqual({ verbose: false });
  });
});

describe("stepOf", () => {
  it("reads the step's folders and user, as the creator does", () => {
    const env = { CNB_APP_DIR: "/workspace", CNB_LAYERS_DIR: "/layers", CNB_PLATFORM_DIR: "/platform" };
    expect(stepOf({ ...env, CNB_USER_ID: "1001", CNB_GROUP_ID: "1000" })).toEqual({
      appDir: "/workspace",
      layersDir: "/layers",
      platformDir: "/platform",
      user: { uid: 1001, gid: 1000 },
    });
    expect(stepOf({})).toEqual({ user: undefined });
  });

  it("refuses an id that is not a number, or one given without the other, naming the variable", () => {
    expect(refusal(() => stepOf({ CNB_USER_ID: "cnb", CNB_GROUP_ID: "1000" })).message).toBe(
      'CNB_USER_ID "cnb" is not a number',
    );
    expect(refusal(() => stepOf({ CNB_USER_ID: "1000" })).message).toBe(
      "CNB_GROUP_ID undefined is not a number",
    );
  });
});

describe("berth build, in process", () => {
  async function dockerfileProject(): Promise<{ home: string; app: string }> {
    const dir = await tempDir();
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\n");
    await writeFile(join(app, "hello.txt"), "hello\n");
    return { home: join(dir, "home"), app };
  }

  it("refuses a buildpacks flag for a Dockerfile build, saying why it is one", async () => {
    const { home, app } = await dockerfileProject();
    const r = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "-B", "b:1", "-e", "A=1"], {
      home,
    });
    expect(r.error).toBeInstanceOf(BerthError);
    expect((r.error as BerthError).message).toBe(
      "-B/--builder, -e/--env apply only to buildpacks builds; this is a Dockerfile build (--dockerfile)",
    );
  });

  it("refuses a Dockerfile flag for a buildpacks build", async () => {
    const dir = await tempDir();
    const r = await runCommand(["build", dir, "-t", "app:1", "--target", "runtime"], {
      home: join(dir, "h"),
    });
    expect(r.error).toMatchObject({ code: "USAGE" });
    expect((r.error as BerthError).message).toMatch(
      /^--target applies only to Dockerfile builds; this is a buildpacks build \(/,
    );
    expect((r.error as BerthError).hint).toBe(
      "add --dockerfile to build with the Dockerfile, or leave the flag out",
    );
  });

  it("refuses -o, --label, --iidfile and --metadata-file for a buildpacks build (pack has none of them)", async () => {
    const dir = await tempDir();
    const r = await runCommand(
      ["build", dir, "-o", "out", "--label", "a=b", "--iidfile", "f", "--metadata-file", "m"],
      { home: join(dir, "h") },
    );
    expect(r.error).toMatchObject({ code: "USAGE" });
    expect((r.error as BerthError).message).toMatch(
      /^-o\/--output, --label, --iidfile, --metadata-file apply only to Dockerfile builds; this is a buildpacks build \(/,
    );
  });

  it("refuses a bad --cache-to and --stage-jobs before building", async () => {
    const { home, app } = await dockerfileProject();
    const cache = await runCommand(
      ["build", app, "--dockerfile", "-t", "app:1", "--cache-to", "type=nowhere"],
      {
        home,
      },
    );
    expect(cache.error).toMatchObject({ code: "USAGE" });
    expect((cache.error as BerthError).message).toContain("nowhere");
    const jobs = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "--stage-jobs", "0"], {
      home,
    });
    expect((jobs.error as BerthError).message).toBe('--stage-jobs "0" must be a whole number of 1 or more');
  });

  it("builds FROM scratch with -q, printing only the digest of the image it stored", async () => {
    const { home, app } = await dockerfileProject();
    const r = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "-q"], { home });
    expect(r.error).toBeUndefined();
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const images = await runCommand(["images", "--json"], { home });
    const list = (JSON.parse(images.stdout) as { images: { name: string; digest: string }[] }).images;
    // the store names it in full (the default registry's library/app:1)
    expect(list.map((i) => [i.name.endsWith("/library/app:1"), i.digest])).toEqual([[true, r.stdout.trim()]]);
  });
});

describe("berth build -v (pack's --verbose), -t again (pack's --tag)", () => {
  it("adds the phases' debug lines to a buildpacks build, and is refused for a Dockerfile build; more -t are more names", async () => {
    const dir = await tempDir();
    const home = join(dir, "home");
    const layout = join(dir, "layout");
    await makeBuildImage(dir, `oci:${layout}:build`, home);
    await busyboxImage(join(dir, "run"), "run", { env: ["PATH=/bin"], user: "app" });
    const bp = await writeBuildpack(join(dir, "bps"), { id: "test/hello" });
    await writeFile(
      join(dir, "builder.toml"),
      `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/hello"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "run")}:run"\n`,
    );
    const builder = `oci:${layout}:builder`;
    const made = await runCommand(
      ["builder", "create", "--no-lifecycle", builder, "--config", "builder.toml", "-q"],
      {
        home,
        cwd: dir,
      },
    );
    expect(made.error).toBeUndefined();
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "hello.txt"), "hi\n");
    // a second -t is pack's additional --tag: the image written there too, the same digest
    const tagged = await runCommand(
      ["build", app, "-t", "app:0", "-t", "again:1", "-t", `oci:${dir}/tagged:x`, "-B", builder, "--json"],
      { home },
    );
    expect(tagged.error).toBeUndefined();
    const doc = JSON.parse(tagged.stdout) as { digest: string; tags: string[] };
    expect(doc.tags).toEqual(["app:0", "again:1", `oci:${dir}/tagged:x`]);
    for (const name of doc.tags)
      expect((await runCommand(["digest", name], { home })).stdout.trim()).toBe(doc.digest);
    const plain = await runCommand(["build", app, "-t", "app:1", "-B", builder], { home });
    expect(plain.error).toBeUndefined();
    const verbose = await runCommand(["build", app, "-t", "app:2", "-B", builder, "-v"], { home });
    expect(verbose.error).toBeUndefined();
    // the detect phase's resolution is a debug line (the lifecycle's own, at debug level)
    expect(plain.stderr).not.toContain("======== Results ========");
    expect(verbose.stderr).toContain("======== Results ========");
    expect(verbose.stderr).toMatch(/^pass: test\/hello@0\.0\.1$/m);
    await writeFile(join(app, "Dockerfile"), "FROM scratch\n");
    const df = await runCommand(["build", app, "--dockerfile", "-t", "app:3", "-v"], { home });
    expect((df.error as BerthError).message).toMatch(/^-v\/--verbose applies only to buildpacks builds/);
  }, 180_000);
});

describe("berth build, what follows docker build", () => {
  async function project(): Promise<{ home: string; app: string; dir: string }> {
    const dir = await tempDir();
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "hello.txt"), "hello\n");
    return { home: join(dir, "home"), app, dir };
  }

  it("-f - reads the Dockerfile from standard input; the context - too; both at once is refused", async () => {
    const { home, app } = await project();
    const df = "FROM scratch\nCOPY hello.txt /hello.txt\n";
    const r = await runCommand(["build", "-f", "-", app, "-t", "app:1", "-q"], { home, stdin: df });
    expect(r.error).toBeUndefined();
    const s = await runCommand(["build", "-", "-t", "app:2", "-q"], {
      home,
      stdin: "FROM scratch\nLABEL a=b\n",
    });
    expect(s.error).toBeUndefined();
    expect(s.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const both = await runCommand(["build", "-", "--file", "-", "-t", "app:3"], { home, stdin: df });
    expect((both.error as BerthError).message).toBe("-f - and the context - both read standard input");
  });

  it("--progress quiet is -q, plain builds; an unknown value is refused naming the flag or variable; rawjson is for Dockerfile builds", async () => {
    const { home, app } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const q = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "--progress", "quiet"], {
      home,
    });
    expect(q.error).toBeUndefined();
    expect(q.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(q.stderr).toBe("");
    const plain = await runCommand(["build", app, "--dockerfile", "-t", "app:1"], {
      home,
      env: { BUILDKIT_PROGRESS: "plain" },
    });
    expect(plain.error).toBeUndefined();
    expect(plain.stderr).toContain("Successfully built");
    const bad = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "--progress", "fancy"], {
      home,
    });
    expect((bad.error as BerthError).message).toBe('--progress "fancy" is not a progress mode');
    const raw = await runCommand(["build", app, "--dockerfile", "-t", "app:1"], {
      home,
      env: { BUILDKIT_PROGRESS: "rawjson" },
    });
    expect(raw.error).toBeUndefined();
    expect(
      raw.stderr
        .split("\n")
        .filter(Boolean)
        .every((l) => l.startsWith("{")),
    ).toBe(true);
    expect(raw.stderr).toContain('"name":"[stage 1/1] STEP 1/2: FROM scratch"');
    const bp = await runCommand(["build", app, "-t", "app:1", "--progress", "rawjson"], { home });
    expect((bp.error as BerthError).message).toMatch(
      /^--progress rawjson writes BuildKit's solve status of a Dockerfile build; this is a buildpacks build/,
    );
    const bpEnv = await runCommand(["build", app, "-t", "app:1"], {
      home,
      env: { BUILDKIT_PROGRESS: "rawjson" },
    });
    expect((bpEnv.error as BerthError).message).toMatch(/^BUILDKIT_PROGRESS rawjson writes BuildKit's/);
    expect((bpEnv.error as BerthError).hint).toBe(
      "add --dockerfile to build with the Dockerfile, or give --progress plain",
    );
  });

  it("--load writes to the store and refuses another transport; --push applies to Dockerfile builds only", async () => {
    const { home, app, dir } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const load = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "--load", "-q"], { home });
    expect(load.error).toBeUndefined();
    const images = await runCommand(["images", "--json"], { home });
    expect(images.stdout).toContain(load.stdout.trim());
    const oci = await runCommand(["build", app, "--dockerfile", "-t", `oci:${dir}/out:x`, "--load"], {
      home,
    });
    expect((oci.error as BerthError).message).toBe(
      `--load writes to the store, and -t oci:${dir}/out:x names another place`,
    );
    const bp = await runCommand(["build", dir, "-t", "app:1", "--push"], { home });
    expect((bp.error as BerthError).message).toMatch(/^--push applies only to Dockerfile builds/);
  });

  it("-t is repeatable: every name gets the image, as docker build's", async () => {
    const { home, app, dir } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const r = await runCommand(
      ["build", app, "--dockerfile", "-t", "app:1", "-t", "app:2", "-t", `oci:${dir}/out:x`, "--json"],
      { home },
    );
    expect(r.error).toBeUndefined();
    const doc = JSON.parse(r.stdout) as { digest: string; tags: string[] };
    expect(doc.tags).toEqual(["app:1", "app:2", `oci:${dir}/out:x`]);
    for (const name of ["app:1", "app:2", `oci:${dir}/out:x`]) {
      const d = await runCommand(["digest", name], { home });
      expect(d.stdout.trim()).toBe(doc.digest);
    }
  });

  it("the legacy builder's flags buildx keeps hidden (--rm, --force-rm, -m, -c, --squash, …) build, each named as ignored; buildpacks refuse them", async () => {
    const { home, app, dir } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const legacy = [
      "--rm",
      "--force-rm",
      "--compress",
      "-m",
      "1g",
      "-c",
      "512",
      "--security-opt",
      "seccomp=x",
    ];
    const r = await runCommand(["build", app, "--dockerfile", "-t", "app:1", ...legacy], { home });
    expect(r.error).toBeUndefined();
    for (const flag of ["--rm", "--force-rm", "--compress", "--memory", "--cpu-shares", "--security-opt"])
      expect(r.stderr).toContain(`WARNING: ${flag}: `);
    expect(r.stderr).toContain('"RUN --security=insecure" should be used with BuildKit');
    const help = await runCommand(["build", "--help"], { home });
    expect(help.stdout).toContain("--shm-size");
    expect(help.stdout).not.toContain("--force-rm");
    const bp = await runCommand(["build", dir, "-t", "app:1", "--rm"], { home });
    expect((bp.error as BerthError).message).toMatch(/^--rm applies only to Dockerfile builds/);
  });

  it("--push writes -t's image to its registry, as --publish", async () => {
    const { home, app } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const reg = await startRegistry();
    try {
      const env = { BERTH_INSECURE_REGISTRIES: "127.0.0.1" };
      const ref = `${reg.host}/push/app:1`;
      const r = await runCommand(["build", app, "--dockerfile", "-t", ref, "--push", "-q"], { home, env });
      expect(r.error).toBeUndefined();
      const got = await runCommand(["inspect", `docker://${ref}`, "--json"], { home, env });
      expect(got.error).toBeUndefined();
      expect(got.stdout).toContain(r.stdout.trim());
    } finally {
      await reg.stop();
    }
  });
  it("--shm-size, --ulimit and --annotation are checked before anything runs, one sentence naming the flag; with --cgroup-parent they are Dockerfile flags", async () => {
    const { home, app, dir } = await project();
    await writeFile(join(app, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
    const df = (flags: string[]) =>
      runCommand(["build", app, "--dockerfile", "-t", "app:1", ...flags], { home });
    const shm = await df(["--shm-size", "huge"]);
    expect((shm.error as BerthError).message).toBe('--shm-size "huge" is not a size');
    const ulimit = await df(["--ulimit", "nofile=1", "--ulimit", "files=1"]);
    expect((ulimit.error as BerthError).message).toBe('--ulimit "files=1": invalid ulimit type: files');
    const ok = await df(["--shm-size", "1g", "--ulimit", "nofile=10:20", "--cgroup-parent", "ci", "-q"]);
    expect(ok.error).toBeUndefined();
    const annotation = await df(["--annotation", "config:k=v"]);
    expect((annotation.error as BerthError).message).toBe(
      '--annotation "config:k=v": unknown annotation type "config"',
    );
    for (const flag of [
      ["--shm-size", "1g"],
      ["--ulimit", "nofile=1"],
      ["--cgroup-parent", "ci"],
      ["--annotation", "k=v"],
    ]) {
      const bp = await runCommand(["build", dir, "-t", "app:1", ...flag], { home });
      expect((bp.error as BerthError).message).toMatch(
        new RegExp(`^${flag[0]} applies only to Dockerfile builds`),
      );
    }
  });
});

describe("berth build: BuildKit's build checks, buildx's --check", () => {
  const DOCKERFILE = "FROM scratch\nENV a b\nCMD echo hi\n";
  async function project(dockerfile = DOCKERFILE): Promise<{ home: string; app: string }> {
    const dir = await tempDir();
    const app = join(dir, "app");
    await mkdir(app);
    await writeFile(join(app, "Dockerfile"), dockerfile);
    return { home: join(dir, "home"), app };
  }
  const images = async (home: string) =>
    (JSON.parse((await runCommand(["images", "--json"], { home })).stdout) as { images: unknown[] }).images;
  const LEGACY =
    'LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format';
  const JSON_ARGS =
    "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals";

  it("a build logs each warning as it comes and ends with buildx's summary; --json carries them", async () => {
    const { home, app } = await project();
    const r = await runCommand(["build", app, "--dockerfile", "-t", "app:1", "--json"], { home });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toContain(`WARN: ${LEGACY} (Dockerfile:2)\nWARN: ${JSON_ARGS} (Dockerfile:3)\n`);
    expect(r.stderr).toContain(
      `\n 2 warnings found (use docker --debug to expand):\n - ${LEGACY} (line 2)\n - ${JSON_ARGS} (line 3)\n`,
    );
    expect(JSON.parse(r.stdout).warnings).toEqual([
      {
        rule: "LegacyKeyValueFormat",
        description: "Legacy key/value format with whitespace separator should not be used",
        url: "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
        detail: '"ENV key=value" should be used instead of legacy "ENV key value" format',
        line: 2,
      },
      {
        rule: "JSONArgsRecommended",
        description:
          "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
        url: "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
        detail: "JSON arguments recommended for CMD to prevent unintended behavior related to OS signals",
        line: 3,
      },
    ]);
  });

  it("--check prints buildx's report, writes nothing, and exits 1 with warnings", async () => {
    const { home, app } = await project();
    const r = await runCommand(["build", app, "--dockerfile", "--check"], { home });
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(
      `Check complete, 2 warnings have been found!

WARNING: LegacyKeyValueFormat - https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/
"ENV key=value" should be used instead of legacy "ENV key value" format
${app}/Dockerfile:2
--------------------
   1 |     FROM scratch
   2 | >>> ENV a b
   3 |     CMD echo hi
   4 |     
--------------------

WARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/
JSON arguments recommended for CMD to prevent unintended behavior related to OS signals
${app}/Dockerfile:3
--------------------
   1 |     FROM scratch
   2 |     ENV a b
   3 | >>> CMD echo hi
   4 |     
--------------------
`,
    );
    expect(await images(home)).toEqual([]);
    const json = await runCommand(["build", app, "--dockerfile", "--call", "check,format=json"], { home });
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).warnings.map((w: { ruleName: string }) => w.ruleName)).toEqual([
      "LegacyKeyValueFormat",
      "JSONArgsRecommended",
    ]);
    const ignored = await runCommand(["build", app, "--dockerfile", "--call", "check,ignorestatus=true"], {
      home,
    });
    expect([ignored.error, ignored.exitCode]).toEqual([undefined, undefined]);
  });

  it("--check of a clean Dockerfile says so and exits 0; --call refuses what berth does not evaluate", async () => {
    const { home, app } = await project('FROM scratch\nCMD ["x"]\n');
    const r = await runCommand(["build", app, "-f", join(app, "Dockerfile"), "--call", "check"], { home });
    expect([r.error, r.exitCode, r.stdout]).toEqual([
      undefined,
      undefined,
      "Check complete, no warnings found.\n",
    ]);
    const describe = await runCommand(["build", app, "--dockerfile", "--call", "subrequests.describe"], {
      home,
    });
    expect(describe.error).toMatchObject({
      code: "USAGE",
      message: '--call "subrequests.describe": berth does not evaluate "subrequests.describe"',
    });
    const dir = await tempDir();
    const buildpacks = await runCommand(["build", dir, "--check"], { home });
    expect((buildpacks.error as BerthError).message).toMatch(/^--check applies only to Dockerfile builds/);
  });

  it("--call outline and targets print buildx's tables (or the JSON), exit 0 and build nothing", async () => {
    const { home, app } = await project(
      "# V the version\nARG V=1\n# build compiles\nFROM scratch AS build\nARG N\nRUN --mount=type=ssh true\nFROM build\n",
    );
    const outline = await runCommand(
      ["build", app, "--dockerfile", "--call", "outline", "--build-arg", "N=x"],
      {
        home,
      },
    );
    expect([outline.error, outline.exitCode]).toEqual([undefined, undefined]);
    expect(outline.stdout).toBe(
      "BUILD ARG   VALUE   DESCRIPTION\nN           x       \n\nSSH       REQUIRED\ndefault   \n\n",
    );
    const target = await runCommand(
      ["build", app, "--dockerfile", "--call", "outline,format=json", "--target", "build"],
      { home },
    );
    expect(JSON.parse(target.stdout)).toMatchObject({
      name: "build",
      description: "compiles",
      args: [{ name: "N" }],
    });
    const targets = await runCommand(["build", app, "--dockerfile", "--call", "targets"], { home });
    expect(targets.stdout).toBe("TARGET    DESCRIPTION\nbuild     compiles\n(default) \n");
    const json = await runCommand(["build", app, "--dockerfile", "--call", "targets", "--json"], { home });
    expect(JSON.parse(json.stdout).targets.map((t: { base: string }) => t.base)).toEqual([
      "scratch",
      "build",
    ]);
    const missing = await runCommand(
      ["build", app, "--dockerfile", "--call", "outline", "--target", "nope"],
      {
        home,
      },
    );
    expect((missing.error as BerthError).message).toMatch(/target stage "nope" not found/);
    expect(await images(home)).toEqual([]);
  });

  it("# check=error=true fails the build after the checks, with nothing written", async () => {
    const { home, app } = await project(`# check=error=true\n${DOCKERFILE}`);
    const r = await runCommand(["build", app, "--dockerfile", "-t", "app:1"], { home });
    expect(r.error).toMatchObject({
      code: "DOCKERFILE_CHECK",
      message: "Dockerfile: lint violation found for rules: LegacyKeyValueFormat, JSONArgsRecommended",
    });
    expect(r.stderr).toContain("\n 2 warnings found (use docker --debug to expand):\n");
    expect(r.stderr).not.toContain("STEP 1/");
    expect(await images(home)).toEqual([]);
    const check = await runCommand(["build", app, "--dockerfile", "--check"], { home });
    expect(check.error).toMatchObject({ code: "DOCKERFILE_CHECK" });
    expect(check.stdout).toMatch(
      /^Check complete, 2 warnings have been found!\n[\s\S]*--------------------\n\n$/,
    );
  });

  it("a --build-context image in a FROM's place gives the checks its env, in a build and --check", async () => {
    const { home, app } = await project("FROM base\nLABEL p=$GOPATH q=$NOPE\n");
    const layout = join(app, "..", "layout");
    await envImage(layout, ["GOPATH=/go"]);
    const r = await runCommand(
      ["build", app, "--dockerfile", "-t", "app:1", "--build-context", `base=oci-layout://${layout}:1`],
      { home },
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr.match(/WARN: .*/g)).toEqual([
      "WARN: UndefinedVar: Usage of undefined variable '$NOPE' (Dockerfile:2)",
    ]);
    const check = await runCommand(
      ["build", app, "--dockerfile", "--check", "--build-context", `base=oci-layout://${layout}:1`],
      { home },
    );
    expect([check.error, check.exitCode]).toEqual([undefined, 1]);
    expect(check.stdout.match(/^WARNING: .*\n.*/gm)).toEqual([
      "WARNING: UndefinedVar - https://docs.docker.com/go/dockerfile/rule/undefined-var/\nUsage of undefined variable '$NOPE'",
    ]);
  });

  it("skip= leaves rules out; BUILDKIT_DOCKERFILE_CHECK replaces the directive and is no unused build arg", async () => {
    const { home, app } = await project(
      `# check=skip=JSONArgsRecommended,LegacyKeyValueFormat\n${DOCKERFILE}`,
    );
    const quiet = await runCommand(["build", app, "--dockerfile", "-t", "app:1"], { home });
    expect(quiet.error).toBeUndefined();
    expect(quiet.stderr).not.toContain("WARN:");
    expect(quiet.stderr).not.toContain("warnings found");
    const strict = await runCommand(
      [
        "build",
        app,
        "--dockerfile",
        "-t",
        "app:2",
        "--build-arg",
        "BUILDKIT_DOCKERFILE_CHECK=skip=LegacyKeyValueFormat;error=true",
      ],
      { home },
    );
    expect(strict.error).toMatchObject({
      message: "Dockerfile: lint violation found for rules: JSONArgsRecommended",
    });
    expect(strict.stderr).not.toContain("were not consumed");
    const bad = await runCommand(
      ["build", app, "--dockerfile", "-t", "app:3", "--build-arg", "BUILDKIT_DOCKERFILE_CHECK=skip"],
      { home },
    );
    expect(bad.error).toMatchObject({
      code: "DOCKERFILE_SYNTAX",
      message: 'failed to parse BUILDKIT_DOCKERFILE_CHECK: invalid check option "skip"',
    });
  });
});
