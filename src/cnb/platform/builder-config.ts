/**
 * pack's `builder.toml` (pack builder/config_reader.go): unknown keys are an error, the legacy `[stack]`
 * is merged with `[build]` and `[[run.images]]` as pack does (RFC-0096), `[[build.env]]` becomes
 * `/cnb/build-config/env/` files.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BerthError } from "../../errors.ts";
import { type Order, parseTargets, type Target } from "../buildpack/descriptor.ts";
import { parseOrderList } from "../files/order.ts";
import type { RunImage } from "../files/run.ts";
import { Fields, type Origin, parseToml, tomlError } from "../toml.ts";
import { parseSystemTable, type SystemBuildpacks } from "./system.ts";

export interface ModuleConfig {
  id?: string;
  version?: string;
  uri?: string;
  image?: string;
}

export interface BuildConfigEnv {
  name: string;
  value: string;
  suffix?: "default" | "override" | "append" | "prepend";
  delim?: string;
  execEnv?: string[];
}

export interface StackConfig {
  id?: string;
  buildImage?: string;
  runImage?: string;
  runImageMirrors?: string[];
}

export interface BuilderConfig {
  /** The config file (paths in it are relative to its folder). */
  file: string;
  description: string;
  buildpacks: ModuleConfig[];
  extensions: ModuleConfig[];
  order: Order;
  orderExtensions: Order;
  buildImage: string;
  runImages: RunImage[];
  buildEnv: BuildConfigEnv[];
  targets: Target[];
  stack: StackConfig;
  lifecycle?: { uri?: string; version?: string };
  system: SystemBuildpacks;
  warnings: string[];
}

const SUFFIXES = ["default", "override", "append", "prepend"] as const;

const TOP_KEYS = [
  "description",
  "buildpacks",
  "extensions",
  "order",
  "order-extensions",
  "stack",
  "lifecycle",
  "run",
  "build",
  "targets",
  "system",
];

const MODULE_KEYS = [
  "id",
  "version",
  "uri",
  "image",
  "name",
  "homepage",
  "description",
  "keywords",
  "licenses",
  "clear-env",
  "exec-env",
];

export function parseBuilderConfig(text: string, file: string): BuilderConfig {
  const origin: Origin = { file, subject: "builder config", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  doc.only(TOP_KEYS);
  const buildpacks = parseModules(doc, "buildpacks");
  const extensions = parseModules(doc, "extensions");
  for (const key of ["order", "order-extensions"]) for (const o of doc.list(key)) o.only(["group"]);
  const order = parseOrderList(doc, "order");
  const orderExtensions = parseOrderList(doc, "order-extensions");
  const stack = parseStackTable(doc);
  const lifecycleF = doc.sub("lifecycle");
  lifecycleF?.only(["uri", "version"]);
  const runF = doc.sub("run");
  runF?.only(["images"]);
  const configuredRunImages =
    runF?.list("images").map((i) => {
      i.only(["image", "mirrors"]);
      return { image: i.requiredStr("image"), mirrors: i.strs("mirrors") ?? [] };
    }) ?? [];
  const buildF = doc.sub("build");
  buildF?.only(["image", "env"]);
  const buildEnv = (buildF?.list("env") ?? []).map(parseBuildEnv);
  for (const t of doc.list("targets")) t.only(["os", "arch", "variant", "distros"]);
  const targets = parseTargets(doc);
  const systemF = doc.sub("system");
  systemF?.only(["pre", "post"]);
  for (const k of ["pre", "post"]) systemF?.sub(k)?.only(["buildpacks"]);

  const { buildImage, runImages } = mergeStack(
    origin,
    buildF?.str("image") ?? "",
    stack,
    configuredRunImages,
  );
  const lifecycle = parseLifecycleTable(origin, lifecycleF);
  checkBuildEnv(origin, buildEnv);
  return {
    file,
    description: doc.str("description") ?? "",
    buildpacks,
    extensions,
    order,
    orderExtensions,
    buildImage,
    runImages,
    buildEnv,
    targets,
    stack,
    ...(lifecycle ? { lifecycle } : {}),
    system: parseSystemTable(systemF, true),
    warnings: order.length === 0 ? ["empty 'order' definition"] : [],
  };
}

/** `[[buildpacks]]` or `[[extensions]]`: a uri or an image, with the id and version they must hold. */
function parseModules(doc: Fields, key: string): ModuleConfig[] {
  return doc.list(key).map((m) => {
    m.only(MODULE_KEYS);
    const c: ModuleConfig = {};
    for (const k of ["id", "version", "uri", "image"] as const) {
      const v = m.str(k);
      if (v) c[k] = v;
    }
    if (!c.uri && !c.image) throw m.fail("uri", "or image is required");
    if (c.uri && c.image) throw m.fail("uri", "and image may not both be given");
    return c;
  });
}

/** The legacy `[stack]`. */
function parseStackTable(doc: Fields): StackConfig {
  const f = doc.sub("stack");
  f?.only(["id", "build-image", "run-image", "run-image-mirrors"]);
  const stack: StackConfig = {};
  if (!f) return stack;
  const id = f.str("id");
  const b = f.str("build-image");
  const r = f.str("run-image");
  const m = f.strs("run-image-mirrors");
  if (id) stack.id = id;
  if (b) stack.buildImage = b;
  if (r) stack.runImage = r;
  if (m) stack.runImageMirrors = m;
  return stack;
}

/** One `[[build.env]]`. */
function parseBuildEnv(e: Fields): BuildConfigEnv {
  e.only(["name", "value", "suffix", "delim", "exec-env"]);
  const env: BuildConfigEnv = { name: e.requiredStr("name"), value: e.str("value") ?? "" };
  const suffix = e.str("suffix");
  if (suffix) {
    if (!SUFFIXES.includes(suffix as (typeof SUFFIXES)[number])) {
      throw e.fail("suffix", `${JSON.stringify(suffix)} is not one of ${SUFFIXES.join(", ")}`);
    }
    env.suffix = suffix as NonNullable<BuildConfigEnv["suffix"]>;
  }
  const delim = e.str("delim");
  if (delim) env.delim = delim;
  const execEnv = e.strs("exec-env");
  if (execEnv) env.execEnv = execEnv;
  return env;
}

/** `[stack] run-image` and its mirrors as a run image (undefined without one). */
function stackRunImage(stack: StackConfig): RunImage | undefined {
  return stack.runImage ? { image: stack.runImage, mirrors: stack.runImageMirrors ?? [] } : undefined;
}

/** RFC-0096: `[build] image` and `[[run.images]]` replace `[stack]`; keep both in step. */
function mergeStack(
  origin: Origin,
  configuredBuildImage: string,
  stack: StackConfig,
  configuredRunImages: RunImage[],
): { buildImage: string; runImages: RunImage[] } {
  if (configuredBuildImage && stack.buildImage && configuredBuildImage !== stack.buildImage) {
    throw tomlError(origin, "build.image and stack.build-image do not match");
  }
  const buildImage = configuredBuildImage || stack.buildImage;
  if (!buildImage) throw tomlError(origin, "build.image is required");
  const fromStack = stackRunImage(stack);
  let runImages = configuredRunImages;
  if (runImages.length === 0 && fromStack) runImages = [fromStack];
  else if (fromStack && runImages[0]?.image !== fromStack.image) {
    throw tomlError(origin, "run.images and stack.run-image do not match");
  }
  if (runImages.length === 0) throw tomlError(origin, "run.images are required");
  return { buildImage, runImages };
}

/** `[lifecycle]`: a uri or a version, not both (undefined when it names neither). */
function parseLifecycleTable(
  origin: Origin,
  f: Fields | undefined,
): { uri?: string; version?: string } | undefined {
  const lifecycle: { uri?: string; version?: string } = {};
  const uri = f?.str("uri");
  const version = f?.str("version");
  if (uri) lifecycle.uri = uri;
  if (version) lifecycle.version = version;
  if (uri && version) throw tomlError(origin, "lifecycle can only declare version or uri, not both");
  return uri || version ? lifecycle : undefined;
}

/** Append or prepend without a delimiter is an error in pack. */
function checkBuildEnv(origin: Origin, env: readonly BuildConfigEnv[]): void {
  for (const e of env) {
    if ((e.suffix === "append" || e.suffix === "prepend") && !e.delim) {
      throw tomlError(
        origin,
        `build.env ${JSON.stringify(e.name)} with suffix ${e.suffix} must have a delim`,
      );
    }
  }
}

/** The run image `/cnb/stack.toml` and the metadata label's `stack` name: `[stack] run-image`'s, else the first of `[[run.images]]`. */
export function runImageOf(config: BuilderConfig): RunImage | undefined {
  return stackRunImage(config.stack) ?? config.runImages[0];
}

export async function readBuilderConfig(path: string): Promise<BuilderConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new BerthError(
      "CNB_CONFIG_INVALID",
      `builder config ${file} cannot be read: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return parseBuilderConfig(text, file);
}

export function configDir(c: BuilderConfig): string {
  return dirname(c.file);
}

/** `[[build.env]]` as files of `/cnb/build-config/env/` (name → content), as pack writes them. */
export function buildConfigEnvFiles(env: readonly BuildConfigEnv[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of env) {
    files.set(e.suffix ? `${e.name}.${e.suffix}` : e.name, e.value);
    if (e.delim) files.set(`${e.name}.delim`, e.delim);
  }
  return files;
}
