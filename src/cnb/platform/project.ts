/**
 * `project.toml`, the project descriptor (schema 0.2, and 0.1 with a warning, as pack reads them):
 * builder, include/exclude, build env, buildpack group (ids, URIs or inline scripts), pre/post groups.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BerthError } from "../../errors.ts";
import { Fields, type Origin, parseToml, type Table, tomlError } from "../toml.ts";

export interface ProjectBuildpack {
  id?: string;
  version?: string;
  uri?: string;
  /** An inline buildpack (`script = { api, inline, shell }`). */
  script?: { api: string; inline: string; shell: string };
}

export interface ProjectDescriptor {
  file: string;
  schemaVersion: "0.1" | "0.2";
  project: { id?: string; name?: string; version?: string; sourceUrl?: string; metadata?: Table };
  builder?: string;
  include: string[];
  exclude: string[];
  group: ProjectBuildpack[];
  pre: ProjectBuildpack[];
  post: ProjectBuildpack[];
  buildEnv: { name: string; value: string }[];
  warnings: string[];
}

function buildpacks(list: Fields[]): ProjectBuildpack[] {
  return list.map((b) => {
    const bp: ProjectBuildpack = {};
    for (const k of ["id", "version", "uri"] as const) {
      const v = b.str(k);
      if (v) bp[k] = v;
    }
    const script = b.sub("script");
    if (script) {
      const inline = script.requiredStr("inline");
      const api = script.requiredStr("api");
      bp.script = { api, inline, shell: script.str("shell") ?? "/bin/sh" };
      if (!bp.id) throw b.fail("id", "is required for an inline buildpack");
    }
    if (!bp.id && !bp.uri) throw b.fail("id", "or uri is required");
    return bp;
  });
}

function env(list: Fields[]): { name: string; value: string }[] {
  return list.map((e) => ({ name: e.requiredStr("name"), value: e.str("value") ?? "" }));
}

export function parseProjectToml(text: string, file: string): ProjectDescriptor {
  const origin: Origin = { file, subject: "project descriptor", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const warnings: string[] = [];
  const underscore = doc.sub("_");
  const schema = underscore?.str("schema-version");
  if (schema === "0.2" || (schema === undefined && underscore && doc.has("io"))) {
    const p = underscore!;
    const io = doc.sub("io")?.sub("buildpacks");
    const project: ProjectDescriptor["project"] = {};
    for (const [k, prop] of [
      ["id", "id"],
      ["name", "name"],
      ["version", "version"],
      ["source-url", "sourceUrl"],
    ] as const) {
      const v = p.str(k);
      if (v) project[prop] = v;
    }
    const md = p.anyTable("metadata");
    if (md) project.metadata = md;
    const include = io?.strs("include") ?? [];
    const exclude = io?.strs("exclude") ?? [];
    if (include.length && exclude.length)
      throw tomlError(origin, "io.buildpacks.include and io.buildpacks.exclude may not both be set");
    let buildEnv = env(io?.sub("build")?.list("env") ?? []);
    if (buildEnv.length === 0) buildEnv = env(io?.sub("env")?.list("build") ?? []);
    const out: ProjectDescriptor = {
      file,
      schemaVersion: "0.2",
      project,
      include,
      exclude,
      group: buildpacks(io?.list("group") ?? []),
      pre: buildpacks(io?.sub("pre")?.list("group") ?? []),
      post: buildpacks(io?.sub("post")?.list("group") ?? []),
      buildEnv,
      warnings,
    };
    const builder = io?.str("builder");
    if (builder) out.builder = builder;
    return out;
  }
  if (schema !== undefined && schema !== "0.1") {
    throw tomlError(
      origin,
      `_.schema-version ${JSON.stringify(schema)} is not supported (berth reads 0.1 and 0.2)`,
    );
  }
  if (schema === undefined) {
    warnings.push(`${file} has no _.schema-version: reading it as schema 0.1 (deprecated; use schema 0.2)`);
  }
  const projectF = doc.sub("project");
  const build = doc.sub("build");
  const project: ProjectDescriptor["project"] = {};
  for (const [k, prop] of [
    ["id", "id"],
    ["name", "name"],
    ["version", "version"],
    ["source-url", "sourceUrl"],
  ] as const) {
    const v = projectF?.str(k);
    if (v) project[prop] = v;
  }
  const md = doc.anyTable("metadata");
  if (md) project.metadata = md;
  const include = build?.strs("include") ?? [];
  const exclude = build?.strs("exclude") ?? [];
  if (include.length && exclude.length)
    throw tomlError(origin, "build.include and build.exclude may not both be set");
  const out: ProjectDescriptor = {
    file,
    schemaVersion: "0.1",
    project,
    include,
    exclude,
    group: buildpacks(build?.list("buildpacks") ?? []),
    pre: [],
    post: [],
    buildEnv: env(build?.list("env") ?? []),
    warnings,
  };
  const builder = build?.str("builder");
  if (builder) out.builder = builder;
  return out;
}

/** Read a project descriptor; undefined when `optional` and it does not exist. */
export async function readProjectToml(
  path: string,
  optional = false,
): Promise<ProjectDescriptor | undefined> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && optional) return undefined;
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `project descriptor ${file} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parseProjectToml(text, file);
}

export function projectDir(p: ProjectDescriptor): string {
  return dirname(p.file);
}

/**
 * An inline buildpack of project.toml (`script = { api, inline, shell }`) as a buildpack folder: a
 * buildpack.toml, a `bin/detect` that always passes and a `bin/build` running the script with the shell,
 * as pack makes it.
 */
export async function writeInlineBuildpack(bp: ProjectBuildpack, dir: string): Promise<string> {
  if (!bp.script || !bp.id)
    throw new BerthError("CNB_CONFIG_INVALID", "writeInlineBuildpack needs an id and a script");
  const { mkdir, writeFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const version = bp.version ?? "0.0.0";
  const root = join(dir, bp.id.replaceAll("/", "_"), version);
  await mkdir(join(root, "bin"), { recursive: true });
  await writeFile(
    join(root, "buildpack.toml"),
    `api = ${JSON.stringify(bp.script.api)}\n\n[buildpack]\nid = ${JSON.stringify(bp.id)}\nversion = ${JSON.stringify(version)}\n\n[[stacks]]\nid = "*"\n`,
  );
  await writeFile(join(root, "bin", "detect"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  await writeFile(join(root, "bin", "build"), `#!${bp.script.shell}\n${bp.script.inline}\n`, { mode: 0o755 });
  return root;
}
