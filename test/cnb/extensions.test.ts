/**
 * Image extensions (issue 13 §2.10), through the real CLI: a builder made by `berth builder create` with
 * `[[extensions]]` and `[[order-extensions]]`, small sh extensions (one switches the run image, one extends the
 * build image with a tool a buildpack then uses, one extends the run image, one is dropped because nothing
 * requires what it provides), `berth build`, and the app image run.
 *
 * Against the reference lifecycle: its `analyzer` and `detector` (which runs the generate phase when the group
 * has extensions) run as the CNB user in the builder berth made, in berth's sandbox; group.toml, plan.toml,
 * the generated Dockerfiles, extend-config.toml and analyzed.toml's run image must match berth's. The
 * reference's `extender` needs kaniko and root and cannot run here (README, "Differences from the reference
 * lifecycle"): berth's extended build and run images are checked by running the app image.
 */
import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers } from "../../src/image/index.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "./helpers.ts";
import { explain, parseTomlText } from "./reference/compare.ts";
import { layersFile, referenceLifecycle, runPhase } from "./reference/lifecycle.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let layout: string;
let app: string;

interface ExtSpec {
  id: string;
  api?: string;
  detect?: string;
  generate?: string;
}

/** An extension folder: extension.toml, and bin/detect, bin/generate when given (sh bodies). */
async function writeExtension(root: string, s: ExtSpec): Promise<string> {
  const d = join(root, s.id.replaceAll("/", "_"));
  await mkdir(join(d, "bin"), { recursive: true });
  await writeFile(
    join(d, "extension.toml"),
    `api = "${s.api ?? "0.10"}"\n\n[extension]\nid = "${s.id}"\nversion = "0.0.1"\nname = "Test ${s.id}"\n`,
  );
  for (const [name, body] of [
    ["detect", s.detect],
    ["generate", s.generate],
  ] as const) {
    if (body === undefined) continue;
    await writeFile(join(d, "bin", name), `#!/bin/sh\nset -e\n${body}\n`);
    await chmod(join(d, "bin", name), 0o755);
  }
  return d;
}

const provides = (name: string) => `printf '[[provides]]\\nname = "${name}"\\n' > "$CNB_BUILD_PLAN_PATH"`;

const BUILD_DOCKERFILE = `ARG base_image
FROM \${base_image}
USER root
ARG TOOL_VERSION
RUN mkdir -p /opt/tool && echo "tool $TOOL_VERSION" > /opt/tool/version
ARG user_id
USER \${user_id}`;

const RUN_DOCKERFILE = `ARG base_image
FROM \${base_image}
USER root
RUN mkdir -p /opt/runtool && echo runtime-extended > /opt/runtool/v
ARG user_id
USER \${user_id}`;

async function makeBuilder(name: string, exts: ExtSpec[], bp: Parameters<typeof writeBuildpack>[1]) {
  const root = join(dir, name);
  const extDirs = [];
  for (const e of exts) extDirs.push(await writeExtension(root, e));
  const bpDir = await writeBuildpack(root, bp);
  const toml = [
    ...extDirs.map((d) => `[[extensions]]\nuri = "${d}"\n`),
    `[[buildpacks]]\nuri = "${bpDir}"\n`,
    "[[order-extensions]]",
    ...exts.map((e) => `[[order-extensions.group]]\nid = "${e.id}"\nversion = "0.0.1"\n`),
    `[[order]]\n[[order.group]]\nid = "${bp.id}"\nversion = "0.0.1"\n`,
    `[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${reg.host}/base/run:1"\n`,
  ].join("\n");
  await writeFile(join(root, "builder.toml"), toml);
  const builder = `oci:${layout}:${name}`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(root, "builder.toml")],
    { home },
  );
  return { builder, result: r };
}

/** Where `berth build -t ARG` keeps its layers folder (build.ts: per image name). */
function berthLayers(target: string): string {
  return join(home, "cache", "cnb", createHash("sha256").update(target).digest("hex").slice(0, 24), "layers");
}

beforeAll(async () => {
  dir = await tempDir("berth-extensions-");
  home = join(dir, "home");
  const [, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  // run:1 is the build image; run2:1 adds /etc/marker.
  const marker = join(dir, "marker-tree");
  await mkdir(join(marker, "etc"), { recursive: true });
  await writeFile(join(marker, "etc", "marker"), "run2\n");
  await appendLayers(
    parseImageArgument(`oci:${layout}:build`),
    [{ source: marker, dest: "/" }],
    parseImageArgument(`oci:${layout}:run2`),
    { home, env: {} },
  );
  for (const [tag, to] of [
    ["build", "run:1"],
    ["run2", "run2:1"],
  ] as const) {
    const push = await berth(["copy", `oci:${layout}:${tag}`, `docker://${reg.host}/base/${to}`], { home });
    if (push.code !== 0) throw new Error(`pushing ${to} failed: ${push.stderr}`);
  }
  app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, "index.txt"), "app\n");
}, 600_000);

afterAll(async () => {
  await reg?.stop();
});

describe("image extensions: switch and extend the run image, extend the build image", {
  timeout: 600_000,
}, () => {
  let builder: string;
  const target = () => `oci:${layout}:app`;
  const exts = (): ExtSpec[] => [
    // No bin/detect: passes with no plan. Switches the run image.
    {
      id: "test/switch",
      generate: `printf 'FROM %s\\n' "${reg.host}/base/run2:1" > "$CNB_OUTPUT_DIR/run.Dockerfile"`,
    },
    {
      id: "test/buildtool",
      detect: provides("tool"),
      generate: [
        `cat > "$CNB_OUTPUT_DIR/build.Dockerfile" <<'EOF'\n${BUILD_DOCKERFILE}\nEOF`,
        `printf '[[build.args]]\\nname = "TOOL_VERSION"\\nvalue = "7"\\n' > "$CNB_OUTPUT_DIR/extend-config.toml"`,
        'echo "generate as $(id -u), plan: $(tr "\\n" " " < "$CNB_BP_PLAN_PATH")"',
      ].join("\n"),
    },
    {
      id: "test/runtool",
      detect: provides("runtool"),
      generate: `cat > "$CNB_OUTPUT_DIR/run.Dockerfile" <<'EOF'\n${RUN_DOCKERFILE}\nEOF`,
    },
    // Provides what no buildpack requires: dropped from the group, as the lifecycle drops it.
    { id: "test/unused", detect: provides("unused"), generate: "exit 1" },
  ];
  let build: Awaited<ReturnType<typeof berth>>;

  beforeAll(async () => {
    const made = await makeBuilder("builder-ext", exts(), {
      id: "test/bp",
      detect: `printf '[[requires]]\\nname = "tool"\\n[[requires]]\\nname = "runtool"\\n' > "$CNB_BUILD_PLAN_PATH"`,
      build: [
        'echo "build plan: [$(cat "$CNB_BP_PLAN_PATH")]"',
        'mkdir -p "$CNB_LAYERS_DIR/l"',
        'cat /opt/tool/version > "$CNB_LAYERS_DIR/l/tool.txt"',
        'printf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/l.toml"',
        `printf '[[processes]]\\ntype = "web"\\ncommand = ["/bin/sh", "-c", "cat /layers/test_bp/l/tool.txt /opt/runtool/v /etc/marker"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
      ].join("\n"),
    });
    if (made.result.code !== 0) throw new Error(`builder create failed: ${made.result.stderr}`);
    builder = made.builder;
    build = await berth(["build", app, "-t", target(), "--builder", builder], { home });
  }, 600_000);

  it("builder create: extensions under /cnb/extensions, order-extensions in order.toml and the labels", async () => {
    const r = await berth(["inspect", "--config", builder], { home });
    expect(r.code, r.stderr).toBe(0);
    const labels = (JSON.parse(r.stdout) as { config: { Labels: Record<string, string> } }).config.Labels;
    const md = JSON.parse(labels["io.buildpacks.builder.metadata"]!) as { extensions: { id: string }[] };
    expect(md.extensions.map((e) => e.id).sort()).toEqual([
      "test/buildtool",
      "test/runtool",
      "test/switch",
      "test/unused",
    ]);
    const extLayers = JSON.parse(labels["io.buildpacks.extension.layers"]!) as Record<
      string,
      Record<string, unknown>
    >;
    expect(Object.keys(extLayers).sort()).toEqual([
      "test/buildtool",
      "test/runtool",
      "test/switch",
      "test/unused",
    ]);
    const inspect = await berth(["builder", "inspect", builder], { home });
    expect(inspect.stdout).toContain(
      "Detection Order (Extensions):\n  Group #1:\n    test/switch@0.0.1\n    test/buildtool@0.0.1\n    test/runtool@0.0.1\n    test/unused@0.0.1",
    );
    expect(JSON.parse(labels["io.buildpacks.buildpack.order-extensions"]!)).toEqual([
      { group: exts().map((e) => ({ id: e.id, version: "0.0.1" })) },
    ]);
  });

  it("berth build runs generate and extend; the app runs on the switched, extended run image with the build image's tool", async () => {
    expect(build.code, build.stdout + build.stderr).toBe(0);
    const out = build.stdout + build.stderr;
    expect(out).toContain("===> GENERATING");
    expect(out).toContain("===> EXTENDING");
    // bin/generate ran as the CNB user with its Buildpack Plan; the buildpack got the plan without the met entries.
    expect(out).toContain('generate as 1000, plan: [[entries]] name = "tool"');
    expect(out).toContain("build plan: []");
    const run = await berth(["run", target()], { home });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("tool 7\nruntime-extended\nrun2\n");
    const cfg = await berth(["inspect", "--config", target()], { home });
    const config = JSON.parse(cfg.stdout) as {
      config: { Labels: Record<string, string>; User?: string };
      history: { created_by?: string }[];
    };
    const lc = JSON.parse(config.config.Labels["io.buildpacks.lifecycle.metadata"]!) as {
      runImage: { reference: string; image: string };
    };
    expect(lc.runImage.image).toBe(`${reg.host}/base/run2:1`);
    expect(config.config.Labels["io.buildpacks.rebasable"]).toBe("false");
    // lc:phase/builder.go records the group's extensions in metadata.toml and the build label.
    const bm = JSON.parse(config.config.Labels["io.buildpacks.build.metadata"]!) as { extensions?: unknown };
    expect(bm.extensions).toEqual([
      { id: "test/switch", version: "0.0.1" },
      { id: "test/buildtool", version: "0.0.1" },
      { id: "test/runtool", version: "0.0.1" },
    ]);
    expect(config.history.map((h) => h.created_by)).toContainEqual(
      expect.stringMatching(/^Layer: 'RUN .*runtool.*', Created by extension: test\/runtool$/),
    );
  });

  it("a rebuild generates and extends again and gives the same app", async () => {
    const again = await berth(["build", app, "-t", target(), "--builder", builder], { home });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const run = await berth(["run", target()], { home });
    expect(run.stdout).toBe("tool 7\nruntime-extended\nrun2\n");
  });

  it("berth detect lists the extensions as group-extensions; the one nobody needs is dropped", async () => {
    const r = await berth(["detect", app, "--builder", builder, "--json"], { home });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as {
      group: { group: { id: string }[]; groupExtensions: { id: string }[] };
    };
    expect(res.group.group.map((g) => g.id)).toEqual(["test/bp"]);
    expect(res.group.groupExtensions.map((g) => g.id)).toEqual([
      "test/switch",
      "test/buildtool",
      "test/runtool",
    ]);
  });

  it("the reference detector and generator give the same group.toml, plan.toml, generated files and run image", async () => {
    const r = await runPhase(
      {
        home,
        work: join(dir, "ref"),
        buildImage: builder,
        app,
        buildpacks: [],
        order: "",
        runImage: `${reg.host}/base/run:1`,
        image: `${reg.host}/reference/ext:1`,
        builderCnb: true,
      },
      [
        "/bin/sh",
        "-c",
        `/cnb/lifecycle/analyzer -layers /layers -run-image ${reg.host}/base/run:1 ${reg.host}/reference/ext:1 && /cnb/lifecycle/detector -app /workspace -layers /layers -platform /platform -log-level debug`,
      ],
    );
    expect(r.exitCode, r.output).toBe(0);
    const ours = berthLayers(target());
    for (const f of ["group.toml", "plan.toml"]) {
      const theirs = parseTomlText(await layersFile(r.layers, f));
      const mine = parseTomlText(await layersFile(ours, f));
      expect(mine, explain(f, theirs, mine)).toEqual(theirs);
    }
    for (const f of [
      "generated/test_switch/run.Dockerfile.ignore",
      "generated/test_buildtool/build.Dockerfile",
      "generated/test_buildtool/extend-config.toml",
      "generated/test_runtool/run.Dockerfile",
    ]) {
      const theirs = await readFile(join(r.layers, f), "utf8").catch(() => "(missing)");
      const mine = await readFile(join(ours, f), "utf8").catch(() => "(missing)");
      expect(mine, `${f} differs`).toBe(theirs);
    }
    const runImage = (a: unknown) => (a as { "run-image"?: unknown })["run-image"];
    const theirs = runImage(parseTomlText(await layersFile(r.layers, "analyzed.toml")));
    const mine = runImage(parseTomlText(await layersFile(ours, "analyzed.toml")));
    expect(mine, explain("analyzed.toml [run-image]", theirs, mine)).toEqual(theirs);
  });
});

describe("image extensions: bad Dockerfiles", { timeout: 600_000 }, () => {
  it("an extension that swaps its output folder for a symlink to a host folder is refused, the link never followed", async () => {
    const evil = join(dir, "evil");
    await mkdir(evil, { recursive: true });
    await writeFile(join(evil, "build.Dockerfile"), `${BUILD_DOCKERFILE}\n`);
    const made = await makeBuilder(
      "builder-link",
      [{ id: "test/link", generate: `rm -rf "$CNB_OUTPUT_DIR"; ln -s ${evil} "$CNB_OUTPUT_DIR"` }],
      { id: "test/bp" },
    );
    expect(made.result.code, made.result.stderr).toBe(0);
    const r = await berth(["build", app, "-t", `oci:${layout}:link`, "--builder", made.builder], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/layers/generated/test_link");
    expect(r.stdout + r.stderr).not.toContain("Applying build.Dockerfile");
  });

  it("a failing bin/generate fails the build naming the extension and its exit status", async () => {
    const made = await makeBuilder(
      "builder-genfail",
      [{ id: "test/genfail", generate: 'echo "cannot generate" >&2; exit 3' }],
      { id: "test/bp" },
    );
    expect(made.result.code, made.result.stderr).toBe(0);
    const r = await berth(["build", app, "-t", `oci:${layout}:genfail`, "--builder", made.builder], { home });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("cannot generate");
    expect(r.stderr).toContain(
      'generate: extension "test/genfail@0.0.1" failed: bin/generate exited with status 3',
    );
  });

  it("a second FROM in build.Dockerfile is refused in one sentence naming the extension and the line", async () => {
    const made = await makeBuilder(
      "builder-bad",
      [
        {
          id: "test/twostage",
          generate: `printf 'ARG base_image\\nFROM \${base_image}\\nRUN true\\nFROM \${base_image}\\n' > "$CNB_OUTPUT_DIR/build.Dockerfile"`,
        },
      ],
      { id: "test/bp" },
    );
    expect(made.result.code, made.result.stderr).toBe(0);
    const r = await berth(["build", app, "-t", `oci:${layout}:bad`, "--builder", made.builder], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'extension "test/twostage": build.Dockerfile line 4: a second FROM is not allowed',
    );
  });
});
