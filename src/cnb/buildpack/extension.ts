/**
 * Image extensions (Buildpack API 0.9+, spec "Image Extensions"): `extension.toml` read into the buildpack
 * descriptor's shape (`kind: "extension"`, no order, no stacks), so that the builder, the store and detect
 * treat both kinds alike; and extension folders loaded from where `[[extensions]] uri` points (a folder or a
 * `.tgz`/`.tar` archive). Targets are inferred as the lifecycle's `ExtDescriptor.inferTargets` does.
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import { applyLayer } from "../../layer/index.ts";
import { readFileWithin } from "../../util/confined.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { apiAtLeast, buildpackApiSupported, parseApi } from "../api.ts";
import { Fields, type Origin, parseToml } from "../toml.ts";
import {
  type BuildpackDescriptor,
  type BuildpackInfo,
  checkId,
  checkVersion,
  type License,
  parseTargets,
  type Target,
} from "./descriptor.ts";
import type { LoadedBuildpack } from "./load.ts";

/** Extensions came with Buildpack API 0.9 (berth runs 0.9–0.12 for them, as lifecycle v0.21). */
const MIN_EXTENSION_API = "0.9";

export function isExtension(d: BuildpackDescriptor): boolean {
  return d.kind === "extension";
}

/** `extension "id@version"` for messages. */
export function extSubject(d: BuildpackDescriptor): string {
  return `extension ${JSON.stringify(`${d.buildpack.id}@${d.buildpack.version}`)}`;
}

/** Parse the text of an `extension.toml`; `file` names it in errors. */
export function parseExtensionToml(text: string, file: string): BuildpackDescriptor {
  const origin: Origin = { file, code: "CNB_BUILDPACK_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  const api = doc.str("api");
  if (api === undefined) throw doc.fail("api", "is required");
  if (!parseApi(api)) throw doc.fail("api", `${JSON.stringify(api)} is not an API version (<major>.<minor>)`);
  if (!apiAtLeast(api, MIN_EXTENSION_API) || !buildpackApiSupported(api)) {
    throw doc.fail("api", `${api} is not a Buildpack API with image extensions that berth runs (0.9–0.12)`);
  }
  const ext = doc.sub("extension");
  if (!ext) throw doc.fail("extension", "table is required");
  const id = ext.requiredStr("id");
  origin.subject = `extension ${JSON.stringify(id)}`;
  const warnings = checkId(id, (msg) => ext.fail("id", msg.replace(/^id /, ""))).map((w) => `extension.${w}`);
  const version = ext.requiredStr("version");
  for (const w of checkVersion(version, (msg) => ext.fail("version", msg.replace(/^version /, "")))) {
    warnings.push(`extension.${w}`);
  }
  const info: BuildpackInfo = { id, version, clearEnv: ext.bool("clear-env") ?? false };
  for (const key of ["name", "homepage", "description"] as const) {
    const v = ext.str(key);
    if (v !== undefined) info[key] = v;
  }
  const keywords = ext.strs("keywords");
  if (keywords) info.keywords = keywords;
  const licenses = ext.list("licenses").map((l) => {
    const lic: License = {};
    const type = l.str("type");
    const uri = l.str("uri");
    if (type) lic.type = type;
    if (uri) lic.uri = uri;
    return lic;
  });
  if (licenses.length) info.licenses = licenses;
  if (doc.has("order"))
    throw doc.fail("order", "is not allowed in an extension (extensions are never composite)");
  const d: BuildpackDescriptor = {
    kind: "extension",
    api,
    buildpack: info,
    order: [],
    targets: parseTargets(doc),
    stacks: [],
  };
  const metadata = doc.anyTable("metadata");
  if (metadata) d.metadata = metadata;
  if (warnings.length) d.warnings = warnings.map((w) => `${file}: ${w}`);
  return d;
}

/** The targets the lifecycle checks for an extension: declared, else `linux` when bin/detect or bin/generate exists, else any. */
export async function extensionTargets(d: BuildpackDescriptor, dir: string): Promise<Target[]> {
  if (d.targets.length) return d.targets;
  const bin = await readdir(join(dir, "bin")).catch(() => [] as string[]);
  if (bin.includes("detect") || bin.includes("generate")) return [{ os: "linux" }];
  return [{}];
}

/** Read `<dir>/extension.toml`, confined to `dir`. */
export async function readExtensionDir(dir: string, source = dir): Promise<LoadedBuildpack> {
  const file = join(dir, "extension.toml");
  let bytes: Buffer | undefined;
  try {
    bytes = await readFileWithin(file, dir, { owner: `extension at ${source}`, name: "its directory" });
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw wrapError(`extension at ${source}: reading ${file}`, err);
  }
  if (bytes === undefined) {
    throw new BerthError("CNB_BUILDPACK_INVALID", `extension at ${source}: ${file} does not exist`);
  }
  return { descriptor: parseExtensionToml(bytes.toString("utf8"), file), dir, source };
}

/** Every extension in a `/cnb/extensions`-shaped folder (`<escaped id>/<version>/extension.toml`). */
export async function scanExtensionsDir(root: string, source: string): Promise<LoadedBuildpack[]> {
  const out: LoadedBuildpack[] = [];
  for (const id of (await readdir(root).catch(() => [] as string[])).sort()) {
    for (const v of (await readdir(join(root, id)).catch(() => [] as string[])).sort()) {
      const dir = join(root, id, v);
      if (!(await stat(join(dir, "extension.toml")).catch(() => undefined))) continue;
      out.push(await readExtensionDir(dir, `${source} (${id}/${v})`));
    }
  }
  return out;
}

/**
 * An extension as builder.toml's `[[extensions]] uri` names it: a folder or an archive (`.tgz`, `.tar`;
 * the extension at its top or in its one folder). Extension packages (images) are not read yet.
 */
export async function loadExtension(
  uri: string,
  o: { relativeTo: string; tmp: string },
): Promise<LoadedBuildpack> {
  const path = uri.startsWith("file://")
    ? decodeURIComponent(uri.slice("file://".length))
    : isAbsolute(uri)
      ? uri
      : resolve(o.relativeTo, uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri) && !uri.startsWith("file://")) {
    throw new BerthError(
      "CNB_BUILDPACK_NOT_FOUND",
      `extension ${uri}: only folders and archives are supported`,
      {
        hint: "give the extension's folder or a .tgz of it",
      },
    );
  }
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new BerthError("CNB_BUILDPACK_NOT_FOUND", `extension ${uri}: ${path} does not exist`);
  if (st.isDirectory()) return readExtensionDir(path, uri);
  const dest = await ownedTempDir(o.tmp, "ext-");
  try {
    await applyLayer(createReadStream(path), dest);
  } catch (err) {
    throw wrapError(`extracting extension archive ${path}`, err);
  }
  if (await stat(join(dest, "extension.toml")).catch(() => undefined)) return readExtensionDir(dest, uri);
  const entries = await readdir(dest);
  if (
    entries.length === 1 &&
    (await stat(join(dest, entries[0]!, "extension.toml")).catch(() => undefined))
  ) {
    return readExtensionDir(join(dest, entries[0]!), uri);
  }
  throw new BerthError(
    "CNB_BUILDPACK_INVALID",
    `extension archive ${path} holds no extension.toml at its top`,
  );
}
