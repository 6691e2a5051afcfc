/**
 * `runExtensions` (src/cnb/build/extensions.ts) on this machine (a host executor, sh extensions, real OCI
 * layouts for the run images): nothing without extensions; group.toml, plan.toml and analyzed.toml left as the
 * lifecycle's generator leaves them; a switched run image opened; a build image extension refused outside the
 * sandbox. Extending images (runc, the Dockerfile engine's apply) is test/cnb/extensions.test.ts.
 */
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerfileEngine } from "../../../src/api/dockerfile-engine.ts";
import { type ExtensionsInputs, runExtensions } from "../../../src/cnb/build/extensions.ts";
import type { Group } from "../../../src/cnb/files/group.ts";
import type { ExtractedBuilder } from "../../../src/cnb/platform/builder.ts";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { memoryLogger } from "../helpers.ts";
import { BuildpackStore, Env, hostExecutor, readExtensionDir, resolveImage } from "../lib.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
const ctx = () => ({ home, env: {} });
const runArg = (tag: string) => `oci:${join(dir, "images")}:${tag}`;
/** A run image name that is both in the local store and, with other contents, in the registry. */
const bothName = () => `${reg.host}/base/run:1`;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-build-ext-");
  home = join(dir, "home");
  reg = await startRegistry();
  await writeFile(join(dir, "marker"), "");
  for (const [tag, to] of [
    ["run", runArg("run")],
    ["run2", runArg("run2")],
    ["store", bothName()],
    ["registry", `docker://${bothName()}`],
  ] as const) {
    await appendLayers(
      parseImageArgument("scratch", { allowScratch: true }),
      [{ source: join(dir, "marker"), dest: `/etc/${tag}` }],
      parseImageArgument(to),
      ctx(),
      { platform: { os: "linux", architecture: "amd64" } },
    );
  }
}, 120_000);

afterAll(async () => {
  await reg?.stop();
});

/** An extension whose bin/generate is `generate` (sh), and the inputs of a build whose group holds it. */
async function inputs(
  name: string,
  generate: string,
): Promise<ExtensionsInputs & { logger: ReturnType<typeof memoryLogger> }> {
  const root = join(dir, name);
  const ext = join(root, "ext");
  await mkdir(join(ext, "bin"), { recursive: true });
  await writeFile(
    join(ext, "extension.toml"),
    'api = "0.10"\n\n[extension]\nid = "test/ext"\nversion = "0.0.1"\n',
  );
  await writeFile(join(ext, "bin", "generate"), `#!/bin/sh\nset -e\n${generate}\n`);
  await chmod(join(ext, "bin", "generate"), 0o755);
  const paths = {
    app: join(root, "app"),
    layers: join(root, "layers"),
    platform: join(root, "platform"),
    buildpacks: join(root, "bps"),
    buildConfig: join(root, "build-config"),
  };
  for (const p of Object.values(paths)) await mkdir(p, { recursive: true });
  await writeFile(
    join(paths.layers, "analyzed.toml"),
    `[run-image]\nreference = "r"\nimage = "${runArg("run")}"\n`,
  );
  const run = (await resolveImage(runArg("run"), ctx()))!;
  const group: Group = {
    group: [{ id: "test/bp", version: "0.0.1", api: "0.10" }],
    groupExtensions: [{ id: "test/ext", version: "0.0.1", api: "0.10" }],
  };
  // runExtensions reads only these of the builder.
  const builder = {
    extensions: new BuildpackStore([await readExtensionDir(ext)]),
    runImages: [{ image: runArg("run") }],
    info: { user: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } },
  } as unknown as ExtractedBuilder;
  return {
    builder,
    builderName: "builder:1",
    group,
    plan: {
      entries: [
        { providers: [{ id: "test/ext", version: "0.0.1", extension: true }], requires: [{ name: "tool" }] },
        { providers: [{ id: "test/bp", version: "0.0.1" }], requires: [{ name: "own" }] },
      ],
    },
    analyzed: {
      previous: undefined,
      runImage: { image: run.image, reference: run.pinned, name: runArg("run") },
      run,
      target: { os: "linux", arch: "amd64" },
      close: run.close,
    },
    executor: hostExecutor({ paths }),
    env: Env.forBuild({ PATH: "/usr/bin:/bin" }),
    target: { os: "linux", arch: "amd64" },
    platformApi: "0.13",
    engine: dockerfileEngine(ctx(), {}),
    sandbox: undefined,
    publish: false,
    workDir: root,
    ctx: ctx(),
    logger: memoryLogger(),
  };
}

const layersFile = (i: ExtensionsInputs, f: string) => readFile(join(i.executor.host.layers, f), "utf8");

describe("runExtensions", () => {
  it("no extensions in the group: nothing run, nothing written", async () => {
    const i = await inputs("none", "touch /nonexistent/ran");
    const result = await runExtensions({ ...i, group: { group: i.group.group } });
    expect(result).toBeUndefined();
    expect(await readdir(i.executor.host.layers)).toEqual(["analyzed.toml"]);
  });

  it("a generate that writes no Dockerfile: the plan without its entries, group.toml and plan.toml written, the run image kept", async () => {
    const i = await inputs("plain", "exit 0");
    const r = (await runExtensions(i))!;
    expect(r.plan).toEqual({
      entries: [{ providers: [{ id: "test/bp", version: "0.0.1" }], requires: [{ name: "own" }] }],
    });
    expect(r.runImage).toBeUndefined();
    expect(r.executor).toBeUndefined();
    expect(await layersFile(i, "group.toml")).toBe(
      '[[group]]\nid = "test/bp"\nversion = "0.0.1"\napi = "0.10"\n\n[[group-extensions]]\nid = "test/ext"\nversion = "0.0.1"\napi = "0.10"\n',
    );
    expect(await layersFile(i, "plan.toml")).toContain('name = "own"');
    expect(await layersFile(i, "plan.toml")).not.toContain('name = "tool"');
    expect(await layersFile(i, "analyzed.toml")).toBe(
      `[run-image]\nreference = "r"\nimage = "${runArg("run")}"\n`,
    );
    expect(i.logger.lines).not.toContain("===> EXTENDING");
    await r.close();
  });

  it("a run.Dockerfile that switches the run image: analyzed.toml names it and export gets it, pinned", async () => {
    const i = await inputs(
      "switch",
      `printf 'FROM %s\\n' "${runArg("run2")}" > "$CNB_OUTPUT_DIR/run.Dockerfile"`,
    );
    const r = (await runExtensions(i))!;
    expect(r.runImage?.name).toBe(runArg("run2"));
    expect(r.runImage?.reference).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(r.runImage?.image.digest).not.toBe(i.analyzed.runImage.image.digest);
    expect(await layersFile(i, "analyzed.toml")).toContain(`reference = "${runArg("run2")}"`);
    expect(i.logger.lines).toContain(`Run image: ${runArg("run2")} (from a run.Dockerfile)`);
    await r.close();
  });

  it("a switch to a name in both the store and its registry: the store's copy, but with --publish the registry's (as pack's restorer pulls it)", async () => {
    const digestOf = async (text: string) => {
      const opened = (await resolveImage(text, ctx()))!;
      await opened.close();
      return opened.image.digest;
    };
    const [stored, pushed] = [await digestOf(bothName()), await digestOf(`docker://${bothName()}`)];
    expect(stored).not.toBe(pushed);
    const generate = `printf 'FROM %s\\n' "${bothName()}" > "$CNB_OUTPUT_DIR/run.Dockerfile"`;
    for (const [publish, want] of [
      [false, stored],
      [true, pushed],
    ] as const) {
      const i = await inputs(`both-${publish}`, generate);
      const r = (await runExtensions({ ...i, publish }))!;
      expect(r.runImage?.name).toBe(bothName());
      expect(r.runImage?.image.digest, `publish: ${publish}`).toBe(want);
      expect(r.runImage?.reference).toBe(`${bothName().replace(/:1$/, "")}@${want}`);
      await r.close();
    }
  });

  it("a switch to a run image that is not there fails naming it", async () => {
    const i = await inputs(
      "missing",
      `printf 'FROM %s\\n' "${runArg("nope")}" > "$CNB_OUTPUT_DIR/run.Dockerfile"`,
    );
    const err = await runExtensions(i).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "CNB_ANALYZE_FAILED",
      message: `identifying run image: ${runArg("nope")} (from a run.Dockerfile) was not found`,
    });
  });

  it("a build.Dockerfile outside the sandbox (--isolation host) is refused in one sentence with a hint", async () => {
    const i = await inputs(
      "build",
      `printf 'ARG base_image\\nFROM \${base_image}\\nRUN true\\n' > "$CNB_OUTPUT_DIR/build.Dockerfile"`,
    );
    const err = await runExtensions(i).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "CNB_EXTENSION_INVALID",
      message: "extension test/ext extends the build image, which needs the build to run in it",
      hint: "leave out --isolation host",
    });
  });
});
