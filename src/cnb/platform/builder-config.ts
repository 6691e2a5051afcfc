/**
 * pack's `builder.toml` (pack builder/config_reader.go): unknown keys are an error, the legacy `[stack]`
 * is merged with `[build]` and `[[run.images]]` as pack does (RFC-0096), `[[build.env]]` becomes
 * `/cnb/build-config/env/` files.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { BerthError } from "../../errors.ts";
import { type ModuleRef, type Order, parseTargets, type Target } from "../buildpack/descriptor.ts";
import { parseOrderList } from "../files/order.ts";
import type { RunImage } from "../files/run.ts";
import { Fields, type Origin, parseToml, tomlError } from "../toml.ts";

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
  system: { pre: ModuleRef[]; post: ModuleRef[] };
  warnings: string[];
}

const SUFFIXES = ["default", "override", "append", "prepend"] as const;

export function parseBuilderConfig(text: string, file: string): BuilderConfig {
  const origin: Origin = { file, subject: "builder config", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  doc.only([
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
  ]);
  const modules = (key: string) =>
    doc.list(key).map((m) => {
      m.only([
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
      ]);
      const c: ModuleConfig = {};
      for (const k of ["id", "version", "uri", "image"] as const) {
        const v = m.str(k);
        if (v) c[k] = v;
      }
      if (!c.uri && !c.image) throw m.fail("uri", "or image is required");
      if (c.uri && c.image) throw m.fail("uri", "and image may not both be given");
      return c;
    });
  const buildpacks = modules("buildpacks");
  const extensions = modules("extensions");
  for (const key of ["order", "order-extensions"]) for (const o of doc.list(key)) o.only(["group"]);
  const order = parseOrderList(doc, "order");
  const orderExtensions = parseOrderList(doc, "order-extensions");

  const stackF = doc.sub("stack");
  stackF?.only(["id", "build-image", "run-image", "run-image-mirrors"]);
  const stack: StackConfig = {};
  if (stackF) {
    const id = stackF.str("id");
    const b = stackF.str("build-image");
    const r = stackF.str("run-image");
    const m = stackF.strs("run-image-mirrors");
    if (id) stack.id = id;
    if (b) stack.buildImage = b;
    if (r) stack.runImage = r;
    if (m) stack.runImageMirrors = m;
  }
  const lifecycleF = doc.sub("lifecycle");
  lifecycleF?.only(["uri", "version"]);
  const runF = doc.sub("run");
  runF?.only(["images"]);
  let runImages: RunImage[] =
    runF?.list("images").map((i) => {
      i.only(["image", "mirrors"]);
      return { image: i.requiredStr("image"), mirrors: i.strs("mirrors") ?? [] };
    }) ?? [];
  const buildF = doc.sub("build");
  buildF?.only(["image", "env"]);
  let buildImage = buildF?.str("image") ?? "";
  const buildEnv = (buildF?.list("env") ?? []).map((e) => {
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
  });
  for (const t of doc.list("targets")) {
    t.only(["os", "arch", "variant", "distros"]);
  }
  const targets = parseTargets(doc);
  const systemF = doc.sub("system");
  systemF?.only(["pre", "post"]);
  const sysList = (k: string) => {
    const s = systemF?.sub(k);
    s?.only(["buildpacks"]);
    return (s?.list("buildpacks") ?? []).map((b) => {
      const ref: ModuleRef = { id: b.requiredStr("id") };
      const v = b.str("version");
      if (v) ref.version = v;
      if (b.bool("optional")) ref.optional = true;
      return ref;
    });
  };

  // RFC-0096: [build] image and [[run.images]] replace [stack]; keep both in step.
  if (buildImage && stack.buildImage && buildImage !== stack.buildImage) {
    throw tomlError(origin, "build.image and stack.build-image do not match");
  }
  if (!buildImage && stack.buildImage) buildImage = stack.buildImage;
  if (!buildImage) throw tomlError(origin, "build.image is required");
  if (runImages.length === 0 && stack.runImage) {
    runImages = [{ image: stack.runImage, mirrors: stack.runImageMirrors ?? [] }];
  } else if (stack.runImage && runImages[0]?.image !== stack.runImage) {
    throw tomlError(origin, "run.images and stack.run-image do not match");
  }
  if (runImages.length === 0) throw tomlError(origin, "run.images are required");
  const warnings: string[] = [];
  if (order.length === 0) warnings.push("empty 'order' definition");
  const lifecycle: { uri?: string; version?: string } = {};
  if (lifecycleF?.str("uri")) lifecycle.uri = lifecycleF.str("uri")!;
  if (lifecycleF?.str("version")) lifecycle.version = lifecycleF.str("version")!;
  if (lifecycle.uri && lifecycle.version) {
    throw tomlError(origin, "lifecycle can only declare version or uri, not both");
  }
  // Append or prepend without a delimiter is an error in pack.
  for (const e of buildEnv) {
    if ((e.suffix === "append" || e.suffix === "prepend") && !e.delim) {
      throw tomlError(
        origin,
        `build.env ${JSON.stringify(e.name)} with suffix ${e.suffix} must have a delim`,
      );
    }
  }
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
    ...(lifecycle.uri || lifecycle.version ? { lifecycle } : {}),
    system: { pre: sysList("pre"), post: sysList("post") },
    warnings,
  };
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
