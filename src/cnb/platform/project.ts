/**
 * `project.toml`, the project descriptor, read as pack reads it (pack:pkg/project): the schema from
 * `_.schema-version` ("0.2" and "0.3": `[_]` and `[io.buildpacks]`; none: 0.1, `[project]` and `[build]`, with
 * pack's warning); builder, include/exclude (gitignore patterns, never both), build env, the buildpack group
 * (ids, URIs or inline scripts) and the pre/post groups; what it says about the source, for the
 * `io.buildpacks.project.metadata` label; and the inline buildpacks written out as pack writes them.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import ignore from "ignore";
import { BerthError } from "../../errors.ts";
import { readFileWithin } from "../../util/confined.ts";
import { Fields, isTable, type Origin, parseToml, type Table, tomlError } from "../toml.ts";

/** Which app paths a build sees: "skip" one (a directory with all below it), "keep" it, or "descend" into a directory kept only for what is kept below it. */
export interface SourceFilter {
  decide(path: string, isDir: boolean): "skip" | "keep" | "descend";
}

export interface ProjectBuildpack {
  id?: string;
  version?: string;
  uri?: string;
  /** An inline buildpack (`script = { api, inline, shell }`). */
  script?: { api: string; inline: string; shell: string };
}

export interface ProjectDescriptor {
  file: string;
  schemaVersion: "0.1" | "0.2" | "0.3";
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
    if (!bp.id && !bp.uri)
      throw b.fail("id", "or uri is required (project.toml: buildpacks must have an id or url defined)");
    if (bp.uri && bp.version)
      throw b.fail(
        "version",
        "cannot be set with uri (pack: buildpacks cannot have both uri and version defined)",
      );
    const script = b.sub("script");
    const inline = script?.str("inline");
    // pack: an id with an inline script and no uri is an inline buildpack; a uri wins over a script.
    if (script && inline && bp.id && !bp.uri) {
      const api = script.str("api");
      if (!api) throw script.fail("api", "is required: missing API version for inline buildpack");
      bp.script = { api, inline, shell: script.str("shell") || "/bin/sh" };
    }
    return bp;
  });
}

function env(list: Fields[]): { name: string; value: string }[] {
  return list.map((e) => ({ name: e.requiredStr("name"), value: e.str("value") ?? "" }));
}

function licenses(list: Fields[]): void {
  for (const l of list) {
    if (!l.str("type") && !l.str("uri")) throw l.fail("type", "or uri must be set for each license");
  }
}

/** The `[_]` (0.2+) or `[project]` (0.1) table: id, name, version, source-url, and licenses checked. */
function projectTable(t: Fields | undefined): ProjectDescriptor["project"] {
  const project: ProjectDescriptor["project"] = {};
  for (const [k, prop] of [
    ["id", "id"],
    ["name", "name"],
    ["version", "version"],
    ["source-url", "sourceUrl"],
  ] as const) {
    const v = t?.str(k);
    if (v) project[prop] = v;
  }
  licenses(t?.list("licenses") ?? []);
  return project;
}

function parseDescriptor(text: string, file: string): ProjectDescriptor {
  const origin: Origin = { file, subject: "project descriptor", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const warnings: string[] = [];
  const schema = doc.sub("_")?.str("schema-version");
  if (schema === "0.2" || schema === "0.3") {
    const p = doc.sub("_")!;
    const io = doc.sub("io")?.sub("buildpacks");
    const project = projectTable(p);
    const md = p.anyTable("metadata");
    if (md) project.metadata = md;
    if (io?.has("include") && io.has("exclude"))
      throw tomlError(origin, "io.buildpacks.include and io.buildpacks.exclude cannot both be defined");
    // `[[io.buildpacks.env.build]]` is the older key pack still reads (0.2 only).
    let buildEnv = env(io?.sub("build")?.list("env") ?? []);
    if (buildEnv.length === 0 && schema === "0.2") buildEnv = env(io?.sub("env")?.list("build") ?? []);
    const out: ProjectDescriptor = {
      file,
      schemaVersion: schema,
      project,
      include: io?.strs("include") ?? [],
      exclude: io?.strs("exclude") ?? [],
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
  if (schema !== undefined && schema !== "" && schema !== "0.1") {
    throw tomlError(
      origin,
      `unknown project descriptor schema version ${schema} (berth reads 0.1, 0.2 and 0.3)`,
    );
  }
  if (!schema) {
    warnings.push("No schema version declared in project.toml, defaulting to schema version 0.1");
  }
  const projectF = doc.sub("project");
  const build = doc.sub("build");
  const project = projectTable(projectF);
  const md = doc.anyTable("metadata");
  if (md) project.metadata = md;
  if (build?.has("include") && build.has("exclude"))
    throw tomlError(origin, "build.include and build.exclude cannot both be defined");
  const out: ProjectDescriptor = {
    file,
    schemaVersion: "0.1",
    project,
    include: build?.strs("include") ?? [],
    exclude: build?.strs("exclude") ?? [],
    group: buildpacks(build?.list("buildpacks") ?? []),
    pre: buildpacks(build?.sub("pre")?.list("group") ?? []),
    post: buildpacks(build?.sub("post")?.list("group") ?? []),
    buildEnv: env(build?.list("env") ?? []),
    warnings,
  };
  const builder = build?.str("builder");
  if (builder) out.builder = builder;
  return out;
}

export function parseProjectToml(text: string, file: string): ProjectDescriptor {
  const p = parseDescriptor(text, file);
  const origin: Origin = { file, subject: "project descriptor", code: "CNB_CONFIG_INVALID" };
  const keys = undecodedKeys(parseToml(text, origin), SCHEMAS[p.schemaVersion]).filter((k) =>
    unsupportedKey(k, p.schemaVersion),
  );
  if (keys.length) {
    p.warnings.push(
      `The following keys declared in project.toml are not supported in schema version ${p.schemaVersion}:`,
      ...keys.map((k) => `- ${k}`),
      "The above keys will be ignored. If this is not intentional, try updating your schema version.",
    );
  }
  return p;
}

/** The keys each schema reads (`true`: a value, taken whole), as pack's decoders have them. */
type KeySchema = { [k: string]: true | KeySchema };
const LICENSE: KeySchema = { type: true, uri: true };
const SCRIPT: KeySchema = { api: true, inline: true, shell: true };
const BP01: KeySchema = { id: true, version: true, uri: true, script: SCRIPT, "exec-env": true };
const BP02: KeySchema = { id: true, version: true, uri: true, script: SCRIPT };
const ENV01: KeySchema = { name: true, value: true, "exec-env": true };
const ENV02: KeySchema = { name: true, value: true };
const UNDERSCORE: KeySchema = {
  "schema-version": true,
  id: true,
  name: true,
  version: true,
  authors: true,
  licenses: LICENSE,
  "documentation-url": true,
  "source-url": true,
  metadata: true,
};
const SCHEMAS: Record<ProjectDescriptor["schemaVersion"], KeySchema> = {
  "0.1": {
    project: {
      id: true,
      name: true,
      version: true,
      authors: true,
      "documentation-url": true,
      "source-url": true,
      licenses: LICENSE,
    },
    build: {
      include: true,
      exclude: true,
      buildpacks: BP01,
      env: ENV01,
      builder: true,
      pre: { group: BP01 },
      post: { group: BP01 },
    },
    metadata: true,
  },
  "0.2": {
    _: UNDERSCORE,
    io: {
      buildpacks: {
        include: true,
        exclude: true,
        group: BP02,
        env: { build: ENV02 },
        build: { env: ENV02 },
        builder: true,
        pre: { group: BP02 },
        post: { group: BP02 },
      },
    },
  },
  "0.3": {
    _: UNDERSCORE,
    io: {
      buildpacks: {
        include: true,
        exclude: true,
        group: BP01,
        build: { include: true, exclude: true, buildpacks: BP01, env: ENV01, builder: true },
        builder: true,
        pre: { group: BP01 },
        post: { group: BP01 },
      },
    },
  },
};

/** Keys of the document no schema field reads, in document order (as BurntSushi/toml's `Undecoded`). */
function undecodedKeys(doc: Table, schema: KeySchema | undefined, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const known = schema?.[k];
    if (known === true) continue;
    if (known === undefined) out.push(path);
    const tables = Array.isArray(v) ? v.filter(isTable) : isTable(v) ? [v] : [];
    for (const t of tables) out.push(...undecodedKeys(t, known, path));
  }
  return [...new Set(out)];
}

/** pack's `unsupportedKey`: which undecoded keys it warns about. */
function unsupportedKey(key: string, schema: ProjectDescriptor["schemaVersion"]): boolean {
  if (schema === "0.1")
    return key.startsWith("project.") || key.startsWith("build.") || key.includes("io.buildpacks");
  if (schema === "0.2")
    return key.includes("io.buildpacks") || (key.startsWith("_.") && !key.startsWith("_.metadata"));
  return true;
}

/**
 * Read a project descriptor; undefined when `optional` and it does not exist. Inside `appDir` (the app's own
 * project.toml) it is read confined to the app directory (util/confined.ts): a symlink out of it is an
 * UNSAFE_PATH error, never a read of a host file.
 */
export async function readProjectToml(
  path: string,
  optional = false,
  appDir?: string,
): Promise<ProjectDescriptor | undefined> {
  const file = resolve(path);
  let text: string;
  try {
    const bytes = appDir
      ? await readFileWithin(file, appDir, { owner: "the app", name: "the app directory" })
      : await readFile(file);
    if (bytes === undefined) throw Object.assign(new Error(`${file} does not exist`), { code: "ENOENT" });
    text = bytes.toString("utf8");
  } catch (err) {
    if (err instanceof BerthError) throw err;
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

/**
 * What a build starts from, as pack reads it: the app's project.toml (or `--descriptor`), its warnings logged,
 * and the builder (`--builder`, else project.toml's; one of them is required).
 */
export async function projectAndBuilder(o: {
  appDir: string;
  descriptor?: string | undefined;
  builder?: string | undefined;
  logger: { warn(line: string): void };
}): Promise<{ appDir: string; project: ProjectDescriptor | undefined; builderName: string }> {
  const appDir = resolve(o.appDir);
  const project = await readProjectToml(
    o.descriptor ?? join(appDir, "project.toml"),
    o.descriptor === undefined,
    appDir,
  );
  for (const w of project?.warnings ?? []) o.logger.warn(w);
  const builderName = o.builder ?? project?.builder;
  if (!builderName) {
    throw new BerthError(
      "USAGE",
      "no builder: give one with --builder (or [io.buildpacks] builder in project.toml)",
    );
  }
  return { appDir, project, builderName };
}

export function projectDir(p: ProjectDescriptor): string {
  return dirname(p.file);
}

/**
 * Which app files the build sees: `exclude` leaves out what its gitignore patterns match (a matched
 * directory with everything below it; `*.log` matches at any depth), `include` keeps only what its patterns
 * match (a directory that matches nothing is kept only for what is kept below it), as pack's file filter
 * (go-gitignore) does. Undefined when the project sets neither.
 */
export function projectSourceFilter(p: ProjectDescriptor | undefined): SourceFilter | undefined {
  if (!p) return undefined;
  if (p.exclude.length) {
    const ig = ignore().add(p.exclude);
    return { decide: (path, isDir) => (ig.ignores(isDir ? `${path}/` : path) ? "skip" : "keep") };
  }
  if (p.include.length) {
    const ig = ignore().add(p.include);
    return {
      decide: (path, isDir) => (ig.ignores(isDir ? `${path}/` : path) ? "keep" : isDir ? "descend" : "skip"),
    };
  }
  return undefined;
}

/**
 * The `io.buildpacks.project.metadata` label from what the project declares (`version`, `source-url` of
 * `[project]` or `[_]`), in the shape pack gives the lifecycle (pkg/client/build.go): `{}` when neither is set.
 */
export function projectMetadata(p: ProjectDescriptor | undefined): Record<string, unknown> {
  const md = p?.project;
  if (!md || (!md.version && !md.sourceUrl)) return {};
  return {
    source: {
      type: "project",
      version: { declared: md.version ?? "" },
      metadata: { url: md.sourceUrl ?? "" },
    },
  };
}

/**
 * An inline buildpack of project.toml (`script = { api, inline, shell }`) as pack writes it
 * (pkg/client/build.go createInlineBuildpack): `buildpack.toml` as BurntSushi/toml encodes pack's descriptor
 * (api, id, version (default 0.0.0), the builder's stack); `bin/build` is `#!<shell>`, a blank line and the script; `bin/detect` always
 * passes; `bin/build.bat` and `bin/detect.bat` hold the script. Returns the buildpack's folder.
 */
export async function writeInlineBuildpack(
  bp: ProjectBuildpack,
  dir: string,
  stackId?: string,
): Promise<string> {
  if (!bp.script || !bp.id)
    throw new BerthError("CNB_CONFIG_INVALID", "writeInlineBuildpack needs an id and a script");
  const version = bp.version ?? "0.0.0";
  const root = join(dir, bp.id.replaceAll("/", "_"), version);
  await mkdir(join(root, "bin"), { recursive: true, mode: 0o755 });
  const q = (s: string) => JSON.stringify(s);
  await writeFile(
    join(root, "buildpack.toml"),
    // pack encodes its BuildpackDescriptor struct with BurntSushi/toml, untagged bool fields included; a
    // builder without a stack id gets no [[stacks]] here (pack writes `id = ""`, which berth's reader refuses).
    `api = ${q(bp.script.api)}\nWithWindowsBuild = false\nWithLinuxBuild = false\n\n[buildpack]\n  id = ${q(bp.id)}\n  version = ${q(version)}\n${stackId ? `\n[[stacks]]\n  id = ${q(stackId)}\n` : ""}`,
  );
  const shell = bp.script.shell;
  const bin = join(root, "bin");
  await writeFile(join(bin, "build"), `#!${shell}\n\n${bp.script.inline}\n`, { mode: 0o755 });
  await writeFile(join(bin, "build.bat"), bp.script.inline, { mode: 0o755 });
  await writeFile(join(bin, "detect"), `#!${shell}\n\nexit 0\n`, { mode: 0o755 });
  await writeFile(join(bin, "detect.bat"), bp.script.inline, { mode: 0o755 });
  return root;
}
