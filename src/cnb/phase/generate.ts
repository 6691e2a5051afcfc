/**
 * The generate phase (Platform API 0.13, lc phase/generator.go): each image extension of the group, in order,
 * runs `bin/generate <output> <platform> <plan>` as the CNB user (or, without `bin/generate`, its `generate/`
 * folder is the output), with CNB_OUTPUT_DIR = `<layers>/generated/<id>`, CNB_PLATFORM_DIR,
 * CNB_BP_PLAN_PATH and CNB_EXTENSION_DIR; its `run.Dockerfile`, `build.Dockerfile` and `extend-config.toml`
 * are checked and collected, the plan entries it was given are taken off the plan the buildpacks see, and a
 * run.Dockerfile that switches the run image (`FROM <image>`) gives the new run image for analyzed.toml (the
 * last one wins; earlier run.Dockerfiles become `run.Dockerfile.ignore`).
 */
import { rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { BerthError } from "../../errors.ts";
import { ConfinedTree } from "../../util/confined.ts";
import { apiAtLeast } from "../api.ts";
import { escapeId } from "../buildpack/descriptor.ts";
import { extSubject } from "../buildpack/extension.ts";
import type { LoadedBuildpack } from "../buildpack/load.ts";
import type { BuildpackStore } from "../buildpack/store.ts";
import { layersTree, makeOwnedDir, toRunPath } from "../executor.ts";
import type { GroupEntry } from "../files/group.ts";
import { encodeBuildpackPlan, filterPlan, findPlan, type Plan } from "../files/plan.ts";
import type { RunImage } from "../files/run.ts";
import { timer } from "../log.ts";
import { targetEnv } from "../platform/target.ts";
import { Fields, type Origin, parseToml } from "../toml.ts";
import { checkDockerfile, type DockerfileEngine, type GeneratedDockerfile } from "./extend.ts";
import type { PhaseInputs } from "./inputs.ts";

export interface GenerateInputs extends Omit<PhaseInputs, "store"> {
  extensions: BuildpackStore;
  /** group.toml's `[[group-extensions]]`. */
  group: readonly GroupEntry[];
  plan: Plan;
  /** Parses the Dockerfiles (berth's Dockerfile engine). */
  engine: DockerfileEngine | undefined;
  /** analyzed.toml's run image `image` (what a run.Dockerfile's FROM is compared with). */
  runImage: string;
  /** run.toml's images (a switched-to image not among them is warned about). */
  runImages: readonly RunImage[];
}

export interface GenerateResult {
  /** The plan without the entries the extensions met: what the build phase gets. */
  plan: Plan;
  /** Every Dockerfile, in group order (run before build per extension, as the lifecycle lists them). */
  dockerfiles: GeneratedDockerfile[];
  /** The run image a run.Dockerfile switched to, when it differs from analyzed.toml's. */
  newRunImage?: string | undefined;
  /** Some run.Dockerfile that is not ignored extends the run image. */
  extendRun: boolean;
}

export async function generate(i: GenerateInputs): Promise<GenerateResult> {
  i.logger.info("===> GENERATING");
  const done = timer(i.logger, "Generator");
  const ex = i.executor;
  const generatedDir = join(ex.host.layers, "generated");
  await rm(generatedDir, { recursive: true, force: true });
  await makeOwnedDir(ex, generatedDir);
  const planRoot = join(ex.host.layers, ".berth-generate");
  let plan = i.plan;
  const dockerfiles: GeneratedDockerfile[] = [];
  try {
    for (const [n, member] of i.group.entries()) {
      const ext = i.extensions.lookup(member.id, member.version);
      const d = ext.descriptor;
      const subject = extSubject(d);
      const id = d.buildpack.id;
      i.logger.debug(`Running generate for extension ${member.id}@${member.version}`);
      const outDir = join(generatedDir, escapeId(id));
      await makeOwnedDir(ex, outDir);
      const entries = findPlan(plan, id, true);
      const planPath = await layersTree(ex).writeFile(
        `${relative(ex.host.layers, planRoot)}/${n}-${escapeId(id)}/plan.toml`,
        encodeBuildpackPlan(entries),
        0o644,
      );
      if (await stat(join(ext.dir, "bin", "generate")).catch(() => undefined)) {
        await execGenerate(i, ext, member, outDir, planPath);
      } else {
        await copyGenerateFolder(ext, outDir, subject);
      }
      const outputs = new ConfinedTree(outDir, {
        owner: subject,
        name: "its output folder",
        seenAs: toRunPath(ex, outDir),
      });
      dockerfiles.push(...(await readOutputs(i, outputs, outDir, subject, id, d.api)));
      plan = filterPlan(
        plan,
        entries.map((e) => e.name),
      );
      i.logger.debug(`Finished running generate for extension ${member.id}@${member.version}`);
    }
  } finally {
    await rm(planRoot, { recursive: true, force: true });
  }
  const run = await runImageFrom(i, dockerfiles);
  done();
  return { plan, dockerfiles, ...run };
}

/**
 * Without bin/generate, the extension's generate/ folder is its output (copied to where the extend phase finds
 * the output of the others).
 */
async function copyGenerateFolder(ext: LoadedBuildpack, outDir: string, subject: string): Promise<void> {
  const pre = new ConfinedTree(join(ext.dir, "generate"), { owner: subject, name: "its generate folder" });
  const own = new ConfinedTree(outDir, { owner: subject, name: "its output folder" });
  for (const f of ["run.Dockerfile", "build.Dockerfile", "extend-config.toml"]) {
    const text = await pre.readText(f).catch(() => undefined);
    if (text !== undefined) await own.writeFile(f, text, 0o644);
  }
}

/** `bin/generate <output> <platform> <plan>` as the CNB user, with the spec's env; a failure names the extension. */
async function execGenerate(
  i: GenerateInputs,
  ext: LoadedBuildpack,
  member: GroupEntry,
  outDir: string,
  planPath: string,
): Promise<void> {
  const ex = i.executor;
  const d = ext.descriptor;
  const runDir = toRunPath(ex, ext.dir);
  const env = await i.env.withOverrides(
    d.buildpack.clearEnv ? undefined : ex.host.platform,
    ex.host.buildConfig,
  );
  const vars = env.list();
  vars.push(
    `CNB_BP_PLAN_PATH=${toRunPath(ex, planPath)}`,
    `CNB_EXTENSION_DIR=${runDir}`,
    `CNB_OUTPUT_DIR=${toRunPath(ex, outDir)}`,
    `CNB_PLATFORM_DIR=${ex.run.platform}`,
  );
  if (apiAtLeast(d.api, "0.10")) vars.push(...targetEnv(i.target));
  const out = i.logger.output;
  const t = timer(i.logger, `Generate for ${member.id}@${member.version}`);
  const result = await ex.exec({
    args: [`${runDir}/bin/generate`, toRunPath(ex, outDir), ex.run.platform, toRunPath(ex, planPath)],
    env: vars,
    cwd: ex.run.app,
    ...(out ? { onStdout: (c: Buffer) => out(c, "stdout"), onStderr: (c: Buffer) => out(c, "stderr") } : {}),
    signal: i.signal,
  });
  t();
  if (result.exitCode !== 0) {
    throw new BerthError(
      "CNB_GENERATE_FAILED",
      `generate: ${extSubject(d)} failed: bin/generate exited with status ${result.exitCode}${result.signal ? ` (${result.signal})` : ""}`,
      { details: { extension: d.buildpack.id, exitCode: result.exitCode, stderr: result.stderrTail } },
    );
  }
}

/**
 * The run image (lc Generator.runImageFrom): walking back, the last run.Dockerfile that switches the image
 * wins and the ones before it are ignored (renamed `run.Dockerfile.ignore`).
 */
async function runImageFrom(
  i: GenerateInputs,
  dockerfiles: GeneratedDockerfile[],
): Promise<{ newRunImage: string | undefined; extendRun: boolean }> {
  let newBase: string | undefined;
  let extendRun = false;
  let ignoreNext = false;
  for (let k = dockerfiles.length - 1; k >= 0; k--) {
    const df = dockerfiles[k]!;
    if (df.kind !== "run") continue;
    if (ignoreNext) {
      df.ignore = true;
      // In its folder as the tree holds it (a symlink put there by the extension is refused, not followed); no
      // extension runs any more, so the folder cannot change under the rename.
      const folder = await layersTree(i.executor).mkdirs(relative(i.executor.host.layers, dirname(df.path)));
      await rename(join(folder, "run.Dockerfile"), join(folder, "run.Dockerfile.ignore"));
      continue;
    }
    if (df.extend) extendRun = true;
    if (df.withBase) {
      newBase = df.withBase;
      i.logger.debug(
        `Found a run.Dockerfile from extension '${df.extensionId}' setting run image to '${newBase}'`,
      );
      ignoreNext = true;
    }
  }
  if (newBase === undefined || newBase === i.runImage) return { newRunImage: undefined, extendRun };
  if (!i.runImages.some((r) => r.image === newBase || (r.mirrors ?? []).includes(newBase!))) {
    i.logger.warn(`new runtime base image '${newBase}' not found in run metadata`);
  }
  return { newRunImage: newBase || undefined, extendRun };
}

/** Read and check what one extension wrote (lc `readOutputFilesExt`). */
async function readOutputs(
  i: GenerateInputs,
  tree: ConfinedTree,
  outDir: string,
  subject: string,
  id: string,
  api: string,
): Promise<GeneratedDockerfile[]> {
  const configText = await tree.readText("extend-config.toml");
  const config =
    configText === undefined
      ? undefined
      : parseExtendConfig(configText, join(outDir, "extend-config.toml"), subject);
  const shared = await isDir(tree, "context");
  const contexts = { build: await isDir(tree, "context.build"), run: await isDir(tree, "context.run") };
  if (shared && (contexts.build || contexts.run)) {
    throw new BerthError(
      "CNB_EXTENSION_INVALID",
      `${subject}: ${outDir} has both a shared context folder and an image-specific one (context.build or context.run)`,
    );
  }
  const out: GeneratedDockerfile[] = [];
  for (const kind of ["run", "build"] as const) {
    const file = `${kind}.Dockerfile`;
    const text = await tree.readText(file);
    if (text === undefined) continue;
    if (!i.engine) {
      throw new BerthError(
        "CNB_EXTENSION_INVALID",
        `${subject} generated ${file}, but no Dockerfile engine was given to apply it`,
      );
    }
    const parsed = i.engine.parse(text, `${id}/${file}`);
    const info = checkDockerfile(parsed, kind, id, api, (l) => i.logger.warn(l));
    const contextDir = contexts[kind]
      ? join(outDir, `context.${kind}`)
      : shared
        ? join(outDir, "context")
        : i.executor.host.app;
    out.push({
      extensionId: id,
      kind,
      path: join(outDir, file),
      text,
      ...info,
      ignore: false,
      args: config?.[kind] ?? [],
      contextDir,
    });
  }
  return out;
}

async function isDir(tree: ConfinedTree, name: string): Promise<boolean> {
  const entries = (await tree.readdir("")) ?? [];
  return entries.some((e) => e.name === name && e.isDirectory());
}

/** `extend-config.toml`: `[[build.args]]` and `[[run.args]]` (name, value), as lc `extend.ValidateConfig` takes it. */
export function parseExtendConfig(
  text: string,
  file: string,
  subject: string,
): { build: { name: string; value: string }[]; run: { name: string; value: string }[] } {
  const origin: Origin = { file, subject, code: "CNB_EXTENSION_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const args = (key: "build" | "run") =>
    (doc.sub(key)?.list("args") ?? []).map((a) => ({
      name: a.requiredStr("name"),
      value: a.str("value") ?? "",
    }));
  return { build: args("build"), run: args("run") };
}
