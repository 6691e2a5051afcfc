/**
 * Detection and rebase, differential: the reference lifecycle's `detector` and `rebaser` against `berth build`
 * and `berth rebase` on the same buildpacks, app and images. Every case must match (§2.7 rebase
 * safety, §2.8 detection failure).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILDPACK_PHASE_ARGS } from "../../../src/cnb/index.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";
import { explain, mask, plain } from "./compare.ts";
import { type CreatorOptions, referenceLifecycle, runCreator, runPhase, withBash } from "./lifecycle.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let layout: string;
let app: string;

beforeAll(async () => {
  dir = await tempDir("berth-reference-detect-");
  home = join(dir, "home");
  const [, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
  for (const [tag, to] of [
    ["run", "run:1"],
    ["run", "run:2"],
  ] as const) {
    const push = await berth(["copy", `oci:${layout}:${tag}`, `docker://${reg.host}/base/${to}`], { home });
    if (push.code !== 0) throw new Error(`pushing the run image failed: ${push.stderr}`);
  }
  app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, "index.txt"), "app\n");
}, 600_000);

afterAll(async () => {
  await reg?.stop();
});

interface Setup {
  bps: { id: string; version: string; dir: string }[];
  order: string;
  builder: string;
}

let seq = 0;
async function setup(specs: Parameters<typeof writeBuildpack>[1][], order: string): Promise<Setup> {
  const n = ++seq;
  const root = join(dir, `bps${n}`);
  const bps = [];
  for (const spec of specs)
    bps.push({ id: spec.id, version: spec.version ?? "0.0.1", dir: await writeBuildpack(root, spec) });
  const toml = `${bps.map((b) => `[[buildpacks]]\nuri = "${b.dir}"\n`).join("\n")}\n${order}\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${reg.host}/base/run:1"\n`;
  await writeFile(join(dir, `builder${n}.toml`), toml);
  const builder = `oci:${layout}:builder${n}`;
  const bc = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, `builder${n}.toml`)],
    { home },
  );
  if (bc.code !== 0) throw new Error(`builder create failed: ${bc.stderr}`);
  return { bps, order, builder };
}

function creatorOptions(s: Setup, image: string): CreatorOptions {
  return {
    home,
    work: join(dir, `ref${seq}`),
    buildImage: `oci:${layout}:build`,
    app,
    buildpacks: s.bps,
    order: s.order,
    runImage: `${reg.host}/base/run:1`,
    image,
  };
}

/**
 * What a user sees of a failed detection in the reference's output: each buildpack's output under its header, and
 * the lifecycle's message (not the detector's own notes on running without analyze).
 */
function core(output: string): string[] {
  return plain(output)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .filter((l) => !/^(Warning: No analyzed metadata|target distro name)/.test(l))
    .filter((l) => !/^(======== Results|fail: |err: |ERROR: failed to detect|ERROR: Please check)/.test(l))
    .map((l) => l.replace(/^ERROR: /, ""));
}

const detector = ["/cnb/lifecycle/detector", ...BUILDPACK_PHASE_ARGS];

describe("detection failures as the reference lifecycle reports them", { timeout: 300_000 }, () => {
  it("no group passes: each buildpack's output and the lifecycle's message, without -v", async () => {
    const s = await setup(
      [
        { id: "test/a", detect: 'echo "a says no"; exit 100' },
        { id: "test/b", detect: 'echo "b says no" >&2; exit 100' },
      ],
      '[[order]]\n[[order.group]]\nid = "test/a"\nversion = "0.0.1"\n[[order.group]]\nid = "test/b"\nversion = "0.0.1"\n',
    );
    const r = await runPhase(creatorOptions(s, ""), [...detector, "-log-level", "info"]);
    const b = await berth(["build", app, "-t", "det:1", "--builder", s.builder], { home });
    const refLines = core(r.output);
    const ours = plain(b.stdout + b.stderr);
    // Every line the reference prints (buildpack output, the message) is in berth's output too.
    const missing = refLines.filter((l) => !ours.includes(l.trim()));
    expect(missing, `reference printed:\n${refLines.join("\n")}\nberth printed:\n${ours}`).toEqual([]);
    expect(r.exitCode).toBe(20);
    expect(b.code).not.toBe(0);
  });

  it("a buildpack's detect errors (exit 1): its output and the lifecycle's message", async () => {
    const s = await setup(
      [{ id: "test/err", detect: 'echo "detect broke"; exit 1' }],
      '[[order]]\n[[order.group]]\nid = "test/err"\nversion = "0.0.1"\n',
    );
    const r = await runPhase(creatorOptions(s, ""), [...detector, "-log-level", "info"]);
    const b = await berth(["build", app, "-t", "det:2", "--builder", s.builder], { home });
    const refLines = core(r.output);
    const ours = plain(b.stdout + b.stderr);
    const missing = refLines.filter((l) => !ours.includes(l.trim()));
    expect(missing, `reference printed:\n${refLines.join("\n")}\nberth printed:\n${ours}`).toEqual([]);
    expect(r.exitCode).toBe(21);
    expect(b.code).not.toBe(0);
  });
});

describe("rebase as the reference lifecycle's rebaser", { timeout: 300_000 }, () => {
  let s: Setup;
  const ours = () => `${reg.host}/berth/rebase:1`;
  const theirs = () => `${reg.host}/reference/rebase:1`;
  beforeAll(async () => {
    s = await setup(
      [
        {
          id: "test/r",
          api: "0.10",
          build:
            'mkdir -p "$CNB_LAYERS_DIR/l"; echo l > "$CNB_LAYERS_DIR/l/f"; printf "[types]\\nlaunch = true\\n" > "$CNB_LAYERS_DIR/l.toml"; printf "[[processes]]\\ntype = \\"web\\"\\ncommand = [\\"echo\\", \\"hi\\"]\\ndefault = true\\n" > "$CNB_LAYERS_DIR/launch.toml"',
        },
      ],
      '[[order]]\n[[order.group]]\nid = "test/r"\nversion = "0.0.1"\n',
    );
    const b = await berth(
      [
        "build",
        app,
        "-t",
        ours(),
        "--builder",
        s.builder,
        "--publish",
        "--run-image",
        `${reg.host}/base/run:1`,
      ],
      { home },
    );
    if (b.code !== 0) throw new Error(`berth build failed: ${b.stderr}`);
    const r = await runCreator(creatorOptions(s, theirs()));
    if (r.exitCode !== 0) throw new Error(`the reference creator failed:\n${r.output}`);
  }, 600_000);

  async function config(image: string) {
    const r = await berth(["inspect", "--config", `docker://${image}`], { home });
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as { config: { Labels: Record<string, string> } };
  }

  it("a run image not in the app's run-image metadata is refused without --force", async () => {
    const r = await runPhase(creatorOptions(s, theirs()), [
      "/cnb/lifecycle/rebaser",
      "-run-image",
      `${reg.host}/base/run:2`,
      theirs(),
    ]);
    expect(plain(r.output)).toContain("not found in existing run image metadata");
    expect(r.exitCode).not.toBe(0);
    const b = await berth(["rebase", ours(), "--run-image", `${reg.host}/base/run:2`, "--publish"], { home });
    expect(b.code, `${b.stdout}${b.stderr}`).not.toBe(0);
  });

  it("with --force: the same recorded run image (digests masked)", async () => {
    const r = await runPhase(creatorOptions(s, theirs()), [
      "/cnb/lifecycle/rebaser",
      "-force",
      "-run-image",
      `${reg.host}/base/run:2`,
      theirs(),
    ]);
    expect(r.exitCode, r.output).toBe(0);
    const b = await berth(
      ["rebase", ours(), "--run-image", `${reg.host}/base/run:2`, "--publish", "--force"],
      {
        home,
      },
    );
    expect(b.code, b.stderr).toBe(0);
    const label = async (image: string) =>
      mask(JSON.parse((await config(image)).config.Labels["io.buildpacks.lifecycle.metadata"]!), [
        "sha",
        "topLayer",
      ]) as { runImage: unknown };
    const rl = (await label(theirs())).runImage;
    const ol = (await label(ours())).runImage;
    expect(ol, explain("runImage after rebase", rl, ol)).toEqual(rl);
  });
});
