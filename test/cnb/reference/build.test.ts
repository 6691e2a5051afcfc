/**
 * Build, differential: the same app, buildpacks (Buildpack API 0.7, 0.9, 0.10), order and stack go through
 * `berth build` and the reference lifecycle's `creator`, twice each (the second build restores from the
 * first's image and cache). Compared: the group and plan (`berth detect --json` against group.toml and
 * plan.toml), `<layers>/config/metadata.toml`, the io.buildpacks.* labels field by field (digests masked),
 * the layers each buildpack exported, the image config, what the default process prints, and what the
 * buildpacks saw restored on the second build.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";
import { explain, layerListing, mask, parseTomlText, plain } from "./compare.ts";
import { layersFile, referenceLifecycle, runCreator, withBash } from "./lifecycle.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let builder: string;
let layout: string;
let order: string;
const bps: { id: string; version: string; dir: string }[] = [];

interface Side {
  image: string;
  output: string[];
  config: ImageConfig[];
  metadataToml: unknown[];
  group?: unknown;
  plan?: unknown;
}
interface ImageConfig {
  config: {
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[] | null;
    WorkingDir?: string;
    User?: string;
    Labels?: Record<string, string>;
  };
  rootfs: { diff_ids: string[] };
}
const ours: Side = { image: "", output: [], config: [], metadataToml: [] };
const ref: Side = { image: "", output: [], config: [], metadataToml: [] };

const BUILD_SEEN =
  'for l in "$LAYERS"/*/; do [ -d "$l" ] && echo "seen: $(basename "$l") $(cat "$l/data" 2>/dev/null)"; done; for t in "$LAYERS"/*.toml; do [ -f "$t" ] && echo "toml: $(basename "$t"): $(tr "\\n" " " < "$t")"; done; true';

async function configOf(image: string): Promise<ImageConfig> {
  const r = await berth(["inspect", "--config", `docker://${image}`], { home });
  if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
  return JSON.parse(r.stdout) as ImageConfig;
}

async function catIn(image: string, path: string): Promise<string> {
  const r = await berth(["run", "--pull", "always", "--entrypoint", "/bin/cat", `docker://${image}`, path], {
    home,
  });
  if (r.code !== 0) throw new Error(`cat ${path} in ${image}: ${r.stderr}`);
  return r.stdout;
}

/** The lines the buildpacks printed (marked `bp:`), from a build's whole output, those matching `only`. */
function buildpackLines(output: string, only: RegExp = /./): string[] {
  return (
    plain(output)
      .split("\n")
      .map((l) => l.replace(/^\s+/, ""))
      .filter((l) => l.startsWith("bp:"))
      // The TOML files both write hold the same data but are indented differently (README: Differences).
      .map((l) => l.replace(/\s+/g, " "))
      .filter((l) => only.test(l))
  );
}

beforeAll(async () => {
  dir = await tempDir("berth-reference-build-");
  home = join(dir, "home");
  const [, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
  const push = await berth(["copy", `oci:${layout}:run`, `docker://${reg.host}/base/run:1`], { home });
  if (push.code !== 0) throw new Error(`pushing the run image failed: ${push.stderr}`);

  const root = join(dir, "bps");
  const add = async (spec: Parameters<typeof writeBuildpack>[1]) =>
    bps.push({ id: spec.id, version: spec.version ?? "0.0.1", dir: await writeBuildpack(root, spec) });
  // Never passes: the first group fails, the second is chosen.
  await add({ id: "test/never", detect: "exit 100" });
  // Provides and requires through the plan; launch, cache and build layers; store.toml; labels, slices.
  await add({
    id: "test/provider",
    api: "0.10",
    detect: `cat >> "$CNB_BUILD_PLAN_PATH" <<'EOF'
[[provides]]
name = "dep"
[[requires]]
name = "dep"
[requires.metadata]
version = "1.2"
EOF`,
    build: `LAYERS="$CNB_LAYERS_DIR"
${BUILD_SEEN.replaceAll("echo ", "echo bp:provider ")}
echo "bp:provider plan: $(tr '\\n' ' ' < "$CNB_BP_PLAN_PATH")"
echo "bp:provider store: $(cat "$LAYERS/store.toml" 2>/dev/null | tr '\\n' ' ')"
mkdir -p "$LAYERS/dep/bin" "$LAYERS/dep/env" "$LAYERS/buildonly" "$LAYERS/cacheonly"
printf '#!/bin/sh\\necho "dep says $DEP_HOME"\\n' > "$LAYERS/dep/bin/dep"; chmod 755 "$LAYERS/dep/bin/dep"
printf '/layers/test_provider/dep' > "$LAYERS/dep/env/DEP_HOME"
echo "dep v1" > "$LAYERS/dep/data"
printf '[types]\\nlaunch = true\\ncache = true\\n[metadata]\\nversion = "1.2"\\n' > "$LAYERS/dep.toml"
echo "build only" > "$LAYERS/buildonly/data"
printf '[types]\\nbuild = true\\n' > "$LAYERS/buildonly.toml"
echo "cache only" > "$LAYERS/cacheonly/data"
printf '[types]\\ncache = true\\n[metadata]\\nkept = "yes"\\n' > "$LAYERS/cacheonly.toml"
printf '[metadata]\\nbuilds = "1"\\n' > "$LAYERS/store.toml"
cat > "$LAYERS/launch.toml" <<'EOF'
[[labels]]
key = "org.example.provider"
value = "yes"

[[processes]]
type = "web"
command = ["dep"]
default = true

[[processes]]
type = "worker"
command = ["sh", "-c", "echo worker"]
working-dir = "/workspace/sub"

[[slices]]
paths = ["static/*"]
EOF
`,
  });
  // Optional and failing detection: left out of the group.
  await add({ id: "test/optional", api: "0.10", detect: "exit 100" });
  // Buildpack API 0.9: requires what the provider provides.
  await add({
    id: "test/consumer",
    api: "0.9",
    detect: `cat >> "$CNB_BUILD_PLAN_PATH" <<'EOF'
[[requires]]
name = "dep"
[requires.metadata]
from = "consumer"
EOF`,
    build: `LAYERS="$CNB_LAYERS_DIR"
${BUILD_SEEN.replaceAll("echo ", "echo bp:consumer ")}
echo "bp:consumer plan: $(tr '\\n' ' ' < "$CNB_BP_PLAN_PATH")"
echo "bp:consumer sees DEP_HOME=$DEP_HOME PATH=$PATH"
mkdir -p "$LAYERS/c"
echo "c" > "$LAYERS/c/data"
printf '[types]\\nlaunch = true\\n' > "$LAYERS/c.toml"
`,
  });
  // Buildpack API 0.7: the layers dir as $1, and a layer of the old top-level shape.
  await add({
    id: "test/seven",
    api: "0.7",
    build: `LAYERS="$1"
${BUILD_SEEN.replaceAll("echo ", "echo bp:seven ")}
echo "bp:seven env: layers=\${CNB_LAYERS_DIR:-unset} plan=\${CNB_BP_PLAN_PATH:-unset} platform=\${CNB_PLATFORM_DIR:-unset}"
mkdir -p "$LAYERS/old"
echo "old" > "$LAYERS/old/data"
printf '[types]\\nlaunch = true\\ncache = true\\n' > "$LAYERS/old.toml"
`,
  });
  order = `[[order]]
[[order.group]]
id = "test/never"
version = "0.0.1"

[[order]]
[[order.group]]
id = "test/provider"
version = "0.0.1"
[[order.group]]
id = "test/optional"
version = "0.0.1"
optional = true
[[order.group]]
id = "test/consumer"
version = "0.0.1"
[[order.group]]
id = "test/seven"
version = "0.0.1"
`;
  await writeFile(
    join(dir, "builder.toml"),
    `${bps.map((b) => `[[buildpacks]]\nuri = "${b.dir}"\n`).join("\n")}\n${order}\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${reg.host}/base/run:1"\n`,
  );
  builder = `oci:${layout}:builder`;
  const bc = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (bc.code !== 0) throw new Error(`builder create failed: ${bc.stderr}`);
  const app = join(dir, "app");
  await mkdir(join(app, "static"), { recursive: true });
  await mkdir(join(app, "sub"), { recursive: true });
  await writeFile(join(app, "index.txt"), "app\n");
  await writeFile(join(app, "static", "a.css"), "css\n");

  ours.image = `${reg.host}/berth/app:1`;
  ref.image = `${reg.host}/reference/app:1`;
  const det = await berth(["detect", app, "--builder", builder, "--json"], { home });
  if (det.code !== 0) throw new Error(`berth detect failed: ${det.stderr}`);
  const detected = JSON.parse(det.stdout) as { group: unknown; plan: unknown };
  ours.group = detected.group;
  ours.plan = detected.plan;
  const refWork = join(dir, "ref");
  for (let n = 0; n < 2; n++) {
    const b = await berth(
      [
        "build",
        app,
        "-t",
        ours.image,
        "--builder",
        builder,
        "--publish",
        "--run-image",
        `${reg.host}/base/run:1`,
      ],
      { home },
    );
    if (b.code !== 0) throw new Error(`berth build ${n + 1} failed: ${b.stderr}`);
    ours.output.push(b.stdout + b.stderr);
    const r = await runCreator({
      home,
      work: refWork,
      buildImage: `oci:${layout}:build`,
      app,
      buildpacks: bps,
      order,
      runImage: `${reg.host}/base/run:1`,
      // The builder's [[run.images]], as pack puts them into the builder (berth's builder records the same).
      runToml: `[[images]]\nimage = "${reg.host}/base/run:1"\n`,
      image: ref.image,
      cacheDir: join(dir, "ref-cache"),
    });
    if (r.exitCode !== 0)
      throw new Error(`the reference creator ${n + 1} failed (${r.exitCode}):\n${r.output}`);
    ref.output.push(r.output);
    if (n === 0) {
      ref.group = parseTomlText(await layersFile(r.layers, "group.toml"));
      ref.plan = parseTomlText(await layersFile(r.layers, "plan.toml"));
    }
    ref.metadataToml.push(parseTomlText(await layersFile(r.layers, "config/metadata.toml")));
    ours.metadataToml.push(parseTomlText(await catIn(ours.image, "/layers/config/metadata.toml")));
    ours.config.push(await configOf(ours.image));
    ref.config.push(await configOf(ref.image));
  }
}, 1_200_000);

afterAll(async () => {
  await reg?.stop();
});

function label(c: ImageConfig, key: string): unknown {
  const v = c.config.Labels?.[key];
  return v === undefined ? undefined : JSON.parse(v);
}

/** Digests, the run image's reference and the launcher's own version must differ between the two. */
const MASKED = ["sha", "topLayer", "reference"];

describe("build: berth against the reference lifecycle", () => {
  it("group.toml: the chosen group", () => {
    expect(ours.group, explain("group", ref.group, ours.group)).toEqual(ref.group);
  });
  it("plan.toml: the resolved plan", () => {
    expect(ours.plan, explain("plan", ref.plan, ours.plan)).toEqual(ref.plan);
  });
  it("<layers>/config/metadata.toml", () => {
    expect(ours.metadataToml[0], explain("metadata.toml", ref.metadataToml[0], ours.metadataToml[0])).toEqual(
      ref.metadataToml[0],
    );
  });

  type Lm = {
    buildpacks: {
      key: string;
      version: string;
      layers: Record<string, Record<string, unknown>>;
      store?: unknown;
    }[];
    runImage?: unknown;
    stack?: unknown;
    sbom?: unknown;
  };
  const lm = (c: ImageConfig) => mask(label(c, "io.buildpacks.lifecycle.metadata"), MASKED) as Lm;
  /** The layer records with `data` only where the buildpack wrote metadata. */
  const layerRecords = (m: Lm, withEmptyData: boolean) =>
    m.buildpacks.map((b) => ({
      ...b,
      layers: Object.fromEntries(
        Object.entries(b.layers).map(([n, l]) => {
          const empty =
            l.data === null || (typeof l.data === "object" && Object.keys(l.data ?? {}).length === 0);
          const { data, ...rest } = l;
          return [n, empty && !withEmptyData ? rest : { ...rest, data }];
        }),
      ),
    }));
  it("io.buildpacks.lifecycle.metadata: buildpacks, layers, types, metadata (digests masked)", () => {
    const r = layerRecords(lm(ref.config[0]!), false);
    const o = layerRecords(lm(ours.config[0]!), false);
    expect(o, explain("io.buildpacks.lifecycle.metadata buildpacks", r, o)).toEqual(r);
  });
  it("io.buildpacks.lifecycle.metadata: a layer without metadata", () => {
    const r = layerRecords(lm(ref.config[0]!), true);
    const o = layerRecords(lm(ours.config[0]!), true);
    expect(o, explain("io.buildpacks.lifecycle.metadata buildpacks", r, o)).toEqual(r);
  });
  it("io.buildpacks.lifecycle.metadata: runImage and stack", () => {
    const pick = (m: Lm) => ({ runImage: m.runImage, stack: m.stack });
    const r = pick(lm(ref.config[0]!));
    const o = pick(lm(ours.config[0]!));
    expect(o, explain("io.buildpacks.lifecycle.metadata runImage", r, o)).toEqual(r);
  });
  it("io.buildpacks.lifecycle.metadata: the SBOM layer", () => {
    expect(lm(ours.config[0]!).sbom).toEqual(lm(ref.config[0]!).sbom);
  });

  type Bm = Record<string, unknown> & { processes: Record<string, unknown>[] };
  const bm = (c: ImageConfig) => mask(label(c, "io.buildpacks.build.metadata"), ["launcher"]) as Bm;
  it("io.buildpacks.build.metadata: buildpacks", () => {
    expect(bm(ours.config[0]!).buildpacks).toEqual(bm(ref.config[0]!).buildpacks);
  });
  it("io.buildpacks.build.metadata: processes (args aside)", () => {
    const noArgs = (m: Bm) => m.processes.map(({ args, ...p }) => p);
    const r = noArgs(bm(ref.config[0]!));
    const o = noArgs(bm(ours.config[0]!));
    expect(o, explain("io.buildpacks.build.metadata processes", r, o)).toEqual(r);
  });
  it("io.buildpacks.build.metadata: processes", () => {
    const r = bm(ref.config[0]!).processes;
    const o = bm(ours.config[0]!).processes;
    expect(o, explain("io.buildpacks.build.metadata processes", r, o)).toEqual(r);
  });
  it("io.buildpacks.build.metadata: top-level keys", () => {
    const keys = (m: Bm) => Object.keys(m).sort();
    expect(keys(bm(ours.config[0]!))).toEqual(keys(bm(ref.config[0]!)));
  });
  it("io.buildpacks.project.metadata", () => {
    const r = label(ref.config[0]!, "io.buildpacks.project.metadata");
    const o = label(ours.config[0]!, "io.buildpacks.project.metadata");
    expect(o, explain("io.buildpacks.project.metadata", r, o)).toEqual(r);
  });
  it("the other labels (run image's, buildpacks')", () => {
    const other = (c: ImageConfig) =>
      Object.fromEntries(
        Object.entries(c.config.Labels ?? {}).filter(
          ([k]) => !["io.buildpacks.lifecycle.metadata", "io.buildpacks.build.metadata"].includes(k),
        ),
      );
    const r = mask(other(ref.config[0]!), ["io.buildpacks.project.metadata"]);
    const o = mask(other(ours.config[0]!), ["io.buildpacks.project.metadata"]);
    expect(o, explain("labels", r, o)).toEqual(r);
  });
  it("the image config: Env, Entrypoint, Cmd, WorkingDir, User", () => {
    const pick = (c: ImageConfig) => ({
      Env: c.config.Env,
      Entrypoint: c.config.Entrypoint,
      Cmd: c.config.Cmd ?? null,
      WorkingDir: c.config.WorkingDir,
      User: c.config.User,
    });
    const r = pick(ref.config[0]!);
    const o = pick(ours.config[0]!);
    expect(o, explain("config", r, o)).toEqual(r);
  });

  type Md = { buildpacks: { key: string; layers: Record<string, { sha: string }> }[] };
  const diffIds = (c: ImageConfig) =>
    Object.fromEntries(
      (label(c, "io.buildpacks.lifecycle.metadata") as Md).buildpacks.map((b) => [
        b.key,
        Object.fromEntries(Object.entries(b.layers).map(([n, l]) => [n, l.sha])),
      ]),
    ) as Record<string, Record<string, string>>;
  it("each buildpack's layers: the same entries, modes, owners, sizes and times", async () => {
    const r = diffIds(ref.config[0]!);
    const o = diffIds(ours.config[0]!);
    expect(Object.keys(o).sort()).toEqual(Object.keys(r).sort());
    // Entry names compared without a leading "/" or a trailing "/" (the diffIDs below compare the bytes).
    const norm = (lines: string[]) => lines.map((l) => l.replace(/ \/?([^ ]+?)\/?$/, " $1"));
    for (const [bp, ls] of Object.entries(r)) {
      expect(Object.keys(o[bp] ?? {}).sort(), bp).toEqual(Object.keys(ls).sort());
      for (const [name, sha] of Object.entries(ls)) {
        const theirs = norm(await layerListing(reg.url, ref.image, sha));
        const mine = norm(await layerListing(reg.url, ours.image, o[bp]![name]!));
        expect(mine, explain(`${bp}:${name} entries`, theirs, mine)).toEqual(theirs);
      }
    }
  });
  it("each buildpack's layers: same diffIDs", async () => {
    const r = diffIds(ref.config[0]!);
    const o = diffIds(ours.config[0]!);
    expect(o, explain("buildpack layer diffIDs", r, o)).toEqual(r);
  });
  it("the launch SBOM layer: same diffID (the legacy BOM file only)", () => {
    const sha = (c: ImageConfig) =>
      (label(c, "io.buildpacks.lifecycle.metadata") as { sbom?: { sha: string } }).sbom?.sha;
    expect(sha(ours.config[0]!)).toBe(sha(ref.config[0]!));
  });
  it("the default process and a second process print the same", async () => {
    for (const entrypoint of [undefined, "/cnb/process/worker"]) {
      const run = async (image: string) => {
        const a = ["run", ...(entrypoint ? ["--entrypoint", entrypoint] : []), `docker://${image}`];
        const r = await berth(a, { home });
        return {
          code: r.code,
          stdout: plain(r.stdout),
          stderr: plain(r.stderr).replace(/^berth: .*\n|^Blob .*\n|^Pulled .*\n/gm, ""),
        };
      };
      const r = await run(ref.image);
      const o = await run(ours.image);
      expect(o, explain(`running ${entrypoint ?? "the default"}`, r, o)).toEqual(r);
    }
  });
  const NOT_EMPTY_PLAN = /^(?!bp:\S+ plan: (entries = \[\] )?$)(?!bp:seven env:)/;
  it("the buildpacks see the same env, plan and layers on the first build", () => {
    const r = buildpackLines(ref.output[0]!, NOT_EMPTY_PLAN);
    const o = buildpackLines(ours.output[0]!, NOT_EMPTY_PLAN);
    expect(o, explain("buildpack output (first build)", r, o)).toEqual(r);
  });
  it("Buildpack API 0.7: no CNB_LAYERS_DIR, CNB_BP_PLAN_PATH, CNB_PLATFORM_DIR (0.8 added them)", () => {
    const r = buildpackLines(ref.output[0]!, /^bp:seven env:/);
    const o = buildpackLines(ours.output[0]!, /^bp:seven env:/);
    expect(r.length).toBe(1);
    expect(o, explain("API 0.7 build env", r, o)).toEqual(r);
  });
  it("an empty buildpack plan", () => {
    const r = buildpackLines(ref.output[0]!, /plan:/);
    const o = buildpackLines(ours.output[0]!, /plan:/);
    expect(o, explain("buildpack plans", r, o)).toEqual(r);
  });
  it("second build: the buildpacks see the same restored layer folders and their files", () => {
    const r = buildpackLines(ref.output[1]!, /seen:/);
    const o = buildpackLines(ours.output[1]!, /seen:/);
    expect(o, explain("restored layers (second build)", r, o)).toEqual(r);
  });
  it("second build: the same layer .toml files with metadata are restored", () => {
    const only = /^bp:\S+ toml: (?!store\.toml).*\[metadata\] \S/;
    const r = buildpackLines(ref.output[1]!, only);
    const o = buildpackLines(ours.output[1]!, only);
    expect(o, explain("restored layer tomls (second build)", r, o)).toEqual(r);
  });
  it("second build: the .toml of a restored layer without metadata", () => {
    const only = /^bp:\S+ toml: (?!store\.toml)/;
    const r = buildpackLines(ref.output[1]!, only);
    const o = buildpackLines(ours.output[1]!, only);
    expect(o, explain("restored layer tomls (second build)", r, o)).toEqual(r);
  });
  it("second build: store.toml is restored", () => {
    const r = buildpackLines(ref.output[1]!, /store/);
    const o = buildpackLines(ours.output[1]!, /store/);
    expect(o, explain("store.toml (second build)", r, o)).toEqual(r);
  });
  it("second build: the same metadata.toml and layer records", () => {
    expect(ours.metadataToml[1]).toEqual(ours.metadataToml[0]);
    expect(ref.metadataToml[1]).toEqual(ref.metadataToml[0]);
    const r = layerRecords(lm(ref.config[1]!), false);
    const o = layerRecords(lm(ours.config[1]!), false);
    expect(o, explain("io.buildpacks.lifecycle.metadata (second build)", r, o)).toEqual(r);
  });
});
