/**
 * The build phase (spec §Build; lc phase/builder.go, buildpack/build.go): run each group member's
 * `bin/build` with its filtered Buildpack Plan and environment, then read what it wrote: `<layer>.toml`
 * types and metadata (no types → the directory becomes `<layer>.ignore`), env files of build layers for
 * later buildpacks, `build.toml` unmet entries, `launch.toml` processes, labels and slices, `store.toml`,
 * SBOM files; and write `<layers>/config/metadata.toml`.
 */
import { rename, rm, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { BerthError } from "../../errors.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { apiAtLeast } from "../api.ts";
import { escapeId } from "../buildpack/descriptor.ts";
import type { Env } from "../buildpack/env.ts";
import { bpSubject, type LoadedBuildpack } from "../buildpack/load.ts";
import type { Require } from "../buildpack/plan.ts";
import { type Executor, layersTree, makeOwnedDir, toRunPath } from "../executor.ts";
import { parseBuildToml } from "../files/build.ts";
import type { Group, GroupEntry } from "../files/group.ts";
import { type Label, type Process, parseLaunch, type Slice } from "../files/launch.ts";
import { RESERVED_LAYER_NAMES, readLayerTomls } from "../files/layer.ts";
import { type BuildMetadata, encodeMetadata } from "../files/metadata.ts";
import { encodeBuildpackPlan, filterPlan, findPlan, type Plan } from "../files/plan.ts";
import { readStore } from "../files/store.ts";
import { timer } from "../log.ts";
import { targetEnv } from "../platform/target.ts";
import type { Table } from "../toml.ts";
import type { PhaseInputs } from "./inputs.ts";

export interface BuildInputs extends PhaseInputs {
  group: Group;
  plan: Plan;
}

export interface BuiltLayer {
  name: string;
  /** Host path of the layer directory (`<layers>/<bp>/<name>`; `.ignore` suffix when it has no types). */
  path: string;
  types: { build: boolean; launch: boolean; cache: boolean };
  metadata?: Table;
  /** Whether the directory exists (a launch layer may be metadata only, to be reused from the previous image). */
  hasContents: boolean;
}

export interface BuiltBuildpack {
  id: string;
  version: string;
  api: string;
  /** `<layers>/<id with / as _>` on the host. */
  layersDir: string;
  layers: BuiltLayer[];
  /** `store.toml` metadata. */
  store?: Table | undefined;
}

export type SbomKind = "launch" | "build" | "cache";

export interface BuildResult {
  metadata: BuildMetadata;
  buildpacks: BuiltBuildpack[];
  /** Host path of metadata.toml. */
  metadataPath: string;
}

const SBOM_EXTS: Record<string, string> = {
  "cdx.json": "application/vnd.cyclonedx+json",
  "spdx.json": "application/spdx+json",
  "syft.json": "application/vnd.syft+json",
};

/**
 * A buildpack's layers directory as berth reads it: confined (util/confined.ts), so a file the buildpack
 * linked out of it is an UNSAFE_PATH error naming the buildpack and the path as the buildpack sees it.
 */
function buildpackTree(ex: Executor, layersDir: string, subject: string): ConfinedTree {
  return new ConfinedTree(layersDir, {
    owner: subject,
    name: "its layers directory",
    seenAs: toRunPath(ex, layersDir),
    hint: "a buildpack's output files must be regular files inside its layers directory; berth does not follow symlinks out of it",
  });
}

/** The process list in metadata.toml: last definition of a type wins, last default wins (lc processMap). */
export class ProcessMap {
  readonly byType = new Map<string, Process>();
  defaultType: string | undefined;

  add(processes: readonly Process[]): string | undefined {
    let warning: string | undefined;
    for (const p of processes) {
      if (p.default) {
        this.defaultType = p.type;
        warning = undefined;
      } else if (p.type === this.defaultType) {
        this.defaultType = undefined;
        warning = `Warning: redefining the following default process type with a process not marked as default: ${p.type}`;
      }
      this.byType.set(p.type, p);
    }
    return warning;
  }

  list(): Process[] {
    return [...this.byType.keys()].sort().map((k) => ({ ...this.byType.get(k)!, default: false }));
  }
}

/** Labels: the last buildpack to set a key wins. */
export function mergeLabels(labels: readonly Label[]): Label[] {
  const m = new Map<string, string>();
  for (const l of labels) m.set(l.key, l.value);
  return [...m].map(([key, value]) => ({ key, value }));
}

/** What the buildpacks of the group add up to, in order. */
interface Outputs {
  processes: ProcessMap;
  labels: Label[];
  slices: Slice[];
  built: BuiltBuildpack[];
  buildpacks: GroupEntry[];
}

class Builder {
  readonly i: BuildInputs;
  /** The build env that later buildpacks see (grows with each build layer). */
  readonly env: Env;

  constructor(i: BuildInputs) {
    this.i = i;
    this.env = i.env.clone();
  }

  async run(): Promise<BuildResult> {
    const ex = this.i.executor;
    await rm(join(ex.host.layers, "sbom"), { recursive: true, force: true });
    let plan = this.i.plan;
    const acc: Outputs = { processes: new ProcessMap(), labels: [], slices: [], built: [], buildpacks: [] };
    const planRoot = join(ex.host.layers, ".berth-build");
    try {
      for (const [n, member] of this.i.group.group.entries()) {
        const bp = this.i.store.lookup(member.id, member.version);
        const planFile = `${relative(ex.host.layers, planRoot)}/${n}-${escapeId(bp.descriptor.buildpack.id)}/plan.toml`;
        plan = await this.#buildOne(bp, plan, planFile, acc);
      }
    } finally {
      await rm(planRoot, { recursive: true, force: true });
    }
    const metadata: BuildMetadata = {
      buildpacks: acc.buildpacks,
      ...(this.i.group.groupExtensions?.length ? { extensions: this.i.group.groupExtensions } : {}),
      processes: acc.processes.list(),
      labels: mergeLabels(acc.labels),
      slices: acc.slices,
      ...(acc.processes.defaultType ? { buildpackDefaultProcessType: acc.processes.defaultType } : {}),
    };
    // lc:phase/builder.go: from Platform API 0.9 the legacy BOM goes to `<layers>/sbom/{launch,build}/sbom.legacy.json`
    // (JSON, `null` when no buildpack wrote one; berth reads no `[[bom]]` tables), so the image always gets the
    // launch SBOM layer the lifecycle's exporter makes of `<layers>/sbom/launch`.
    if (apiAtLeast(this.i.platformApi, "0.9")) {
      for (const kind of ["launch", "build"])
        await layersTree(ex).writeFile(`sbom/${kind}/sbom.legacy.json`, "null\n");
    }
    const metadataPath = await layersTree(ex).writeFile("config/metadata.toml", encodeMetadata(metadata));
    return { metadata, buildpacks: acc.built, metadataPath };
  }

  /** Run one buildpack's `bin/build` and read what it wrote; returns the plan left for the next ones. */
  async #buildOne(bp: LoadedBuildpack, plan: Plan, planFile: string, acc: Outputs): Promise<Plan> {
    const ex = this.i.executor;
    const d = bp.descriptor;
    const subject = bpSubject(d);
    const layersDir = join(ex.host.layers, escapeId(d.buildpack.id));
    await makeOwnedDir(ex, layersDir);
    const entries = findPlan(plan, d.buildpack.id);
    const planPath = await layersTree(ex).writeFile(planFile, encodeBuildpackPlan(entries), 0o644);
    await this.#exec(bp, layersDir, planPath);
    const tree = buildpackTree(ex, layersDir, subject);
    const layers = await this.processLayers(layersDir, subject, tree);
    await this.setupEnv(layers, tree);
    const unmet = await this.#unmet(tree, layersDir, subject, entries);
    const met = entries.filter((e) => !unmet.includes(e.name)).map((e) => e.name);
    await this.copySboms(layersDir, d.buildpack.id, layers, subject, d.buildpack.sbomFormats, tree);
    const launchText = await tree.readText("launch.toml");
    if (launchText !== undefined) {
      const launch = parseLaunch(launchText, join(layersDir, "launch.toml"), subject, d.api, d.buildpack.id);
      acc.labels.push(...launch.labels);
      acc.slices.push(...launch.slices);
      const warning = acc.processes.add(launch.processes);
      if (warning) this.i.logger.warn(warning);
    }
    const storeMd = await readStore(tree, layersDir, subject);
    const { id, version, homepage } = d.buildpack;
    acc.built.push({ id, version, api: d.api, layersDir, layers, store: storeMd });
    acc.buildpacks.push({ id, version, api: d.api, ...(homepage ? { homepage } : {}) });
    return filterPlan(plan, met);
  }

  /** `bin/build LAYERS PLATFORM PLAN` with the buildpack's environment; a non-zero exit fails the build. */
  async #exec(bp: LoadedBuildpack, layersDir: string, planPath: string): Promise<void> {
    const ex = this.i.executor;
    const d = bp.descriptor;
    const subject = bpSubject(d);
    const runLayers = toRunPath(ex, layersDir);
    const runDir = toRunPath(ex, bp.dir);
    const runPlan = toRunPath(ex, planPath);
    const env = await this.env.withOverrides(
      d.buildpack.clearEnv ? undefined : ex.host.platform,
      ex.host.buildConfig,
    );
    const vars = env.list();
    vars.push(`CNB_BUILDPACK_DIR=${runDir}`);
    // Buildpack API 0.7 gets these only as its arguments (lc:buildpack/build.go: the variables came in 0.8).
    if (apiAtLeast(d.api, "0.8")) {
      vars.push(
        `CNB_PLATFORM_DIR=${ex.run.platform}`,
        `CNB_BP_PLAN_PATH=${runPlan}`,
        `CNB_LAYERS_DIR=${runLayers}`,
      );
    }
    if (apiAtLeast(d.api, "0.10")) vars.push(...targetEnv(this.i.target));
    if (apiAtLeast(d.api, "0.12") && this.i.execEnv) vars.push(`CNB_EXEC_ENV=${this.i.execEnv}`);
    const buildPath = join(bp.dir, "bin", "build");
    const st = await stat(buildPath).catch(() => undefined);
    if (!st?.isFile())
      throw new BerthError("CNB_BUILDPACK_INVALID", `${subject}: ${buildPath} does not exist`);
    if ((st.mode & 0o111) === 0) {
      throw new BerthError(
        "CNB_BUILDPACK_INVALID",
        `${subject}: ${buildPath} is not executable (mode ${(st.mode & 0o7777).toString(8)})`,
      );
    }
    const t = timer(this.i.logger, `Build for ${d.buildpack.id}@${d.buildpack.version}`);
    const out = this.i.logger.output;
    const result = await ex.exec({
      args: [`${runDir}/bin/build`, runLayers, ex.run.platform, runPlan],
      env: vars,
      cwd: ex.run.app,
      ...(out
        ? { onStdout: (c: Buffer) => out(c, "stdout"), onStderr: (c: Buffer) => out(c, "stderr") }
        : {}),
      signal: this.i.signal,
    });
    t();
    if (result.exitCode !== 0) {
      throw new BerthError(
        "CNB_BUILD_FAILED",
        `build: ${subject} failed: bin/build exited with status ${result.exitCode}${result.signal ? ` (${result.signal})` : ""}`,
        { details: { buildpack: d.buildpack.id, exitCode: result.exitCode, stderr: result.stderrTail } },
      );
    }
  }

  /** `build.toml`'s unmet entries, each of which must name an entry of the buildpack's plan. */
  async #unmet(
    tree: ConfinedTree,
    layersDir: string,
    subject: string,
    entries: readonly Require[],
  ): Promise<string[]> {
    const text = await tree.readText("build.toml");
    const unmet = text ? parseBuildToml(text, join(layersDir, "build.toml"), subject).unmet : [];
    for (const u of unmet) {
      if (!entries.some((e) => e.name === u)) {
        throw new BerthError(
          "CNB_BUILD_INVALID",
          `${subject}: ${join(layersDir, "build.toml")}: unmet.name ${JSON.stringify(u)} must match an entry of its Buildpack Plan (${entries.map((e) => e.name).join(", ") || "empty"})`,
        );
      }
    }
    return unmet;
  }

  /** Read every `<layer>.toml`; rename type-less layer directories to `<layer>.ignore`. */
  async processLayers(layersDir: string, subject: string, tree: ConfinedTree): Promise<BuiltLayer[]> {
    const exists = async (rel: string) => (await tree.kind(rel)) !== undefined;
    const out: BuiltLayer[] = [];
    for (const md of await readLayerTomls(tree, layersDir, subject)) {
      const name = md.name;
      let path = join(layersDir, name);
      let hasContents = await exists(name);
      if (!md.build && !md.launch && !md.cache) {
        if (hasContents) {
          await rm(`${path}.ignore`, { recursive: true, force: true });
          await rename(path, `${path}.ignore`);
        }
        path = `${path}.ignore`;
        hasContents = false;
      }
      out.push({
        name,
        path,
        types: { build: md.build, launch: md.launch, cache: md.cache },
        ...(md.metadata ? { metadata: md.metadata } : {}),
        hasContents,
      });
    }
    for (const name of RESERVED_LAYER_NAMES) {
      if ((await tree.kind(name)) === "dir") {
        if (await exists(`${name}.toml`)) {
          throw new BerthError(
            "CNB_BUILD_INVALID",
            `${subject}: ${join(layersDir, name)}: "${name}" is not a valid layer name (build, launch and store are reserved)`,
          );
        }
      }
    }
    return out;
  }

  /** A build layer's bin/lib/include/pkgconfig and env/, env.build/ files reach later buildpacks. */
  async setupEnv(layers: BuiltLayer[], tree: ConfinedTree): Promise<void> {
    const ex = this.i.executor;
    for (const l of layers) {
      if (!l.types.build || !l.hasContents) continue;
      await this.env.addRootDir(l.path, toRunPath(ex, l.path));
      const rel = relative(tree.root, l.path);
      await this.env.addEnvDir({ tree, rel: `${rel}/env` }, "override");
      await this.env.addEnvDir({ tree, rel: `${rel}/env.build` }, "override");
    }
  }

  /** `<layer>.sbom.<ext>`, `launch.sbom.<ext>`, `build.sbom.<ext>` → `<layers>/sbom/{launch,build,cache}/<bp>/…`. */
  async copySboms(
    layersDir: string,
    id: string,
    layers: BuiltLayer[],
    subject: string,
    formats: string[] | undefined,
    tree: ConfinedTree,
  ): Promise<void> {
    const files = ((await tree.readdir("")) ?? []).map((e) => e.name);
    const layersOut = layersTree(this.i.executor);
    for (const f of files.sort()) {
      const m = /^(.+)\.sbom\.(cdx\.json|spdx\.json|syft\.json)$/.exec(f);
      if (!m) continue;
      const [, owner, ext] = m as unknown as [string, string, string];
      const media = SBOM_EXTS[ext]!;
      if (formats && !formats.includes(media)) {
        throw new BerthError(
          "CNB_BUILD_INVALID",
          `${subject}: ${join(layersDir, f)} is a ${media} SBOM, but buildpack.toml's sbom-formats does not declare it`,
        );
      }
      const kinds: { kind: SbomKind; layer?: string }[] = [];
      if (owner === "launch") kinds.push({ kind: "launch" });
      else if (owner === "build") kinds.push({ kind: "build" });
      else {
        const layer = layers.find((l) => l.name === owner);
        if (!layer) continue;
        if (layer.types.launch) kinds.push({ kind: "launch", layer: owner });
        if (layer.types.build) kinds.push({ kind: "build", layer: owner });
        if (layer.types.cache) kinds.push({ kind: "cache", layer: owner });
      }
      for (const k of kinds) {
        const dir = ["sbom", k.kind, escapeId(id), ...(k.layer ? [k.layer] : [])].join("/");
        await tree.copyOut(f, layersOut, `${dir}/sbom.${ext}`);
      }
    }
  }
}

export async function build(i: BuildInputs): Promise<BuildResult> {
  i.logger.info("===> BUILDING");
  const done = timer(i.logger, "Builder");
  const r = await new Builder(i).run();
  done();
  return r;
}
