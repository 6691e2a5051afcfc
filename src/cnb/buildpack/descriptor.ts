/**
 * `buildpack.toml` (Buildpack API 0.7–0.12): component and composite buildpacks, targets, the deprecated
 * stacks, licenses, exec-env, sbom-formats, metadata. Every error names the buildpack and the file.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { isExecutable } from "../../util/which.ts";
import { apiAtLeast, buildpackApiSupported, parseApi, SUPPORTED_BUILDPACK_APIS } from "../api.ts";
import { Fields, type Origin, parseToml, type Table, tomlError } from "../toml.ts";

export interface License {
  type?: string;
  uri?: string;
}

export interface Distro {
  name?: string;
  version?: string;
}

export interface Target {
  os?: string;
  arch?: string;
  variant?: string;
  distros?: Distro[];
}

export interface Stack {
  id: string;
  mixins?: string[];
}

/** A reference to a buildpack inside an order group. */
export interface ModuleRef {
  id: string;
  /** May be empty in a builder's `[[order]]` when the builder holds one version. */
  version?: string;
  optional?: boolean;
  execEnv?: string[];
  /** An image extension (from `[[order-extensions]]`), looked up among the extensions. */
  extension?: boolean;
}

export interface OrderGroup {
  group: ModuleRef[];
}

export type Order = OrderGroup[];

export interface BuildpackInfo {
  id: string;
  version: string;
  name?: string;
  homepage?: string;
  description?: string;
  keywords?: string[];
  clearEnv: boolean;
  sbomFormats?: string[];
  licenses?: License[];
  /** `[[buildpack.exec-env]] name` (0.12). */
  execEnv?: string[];
}

export interface BuildpackDescriptor {
  /** "extension": an image extension's `extension.toml` (buildpack/extension.ts), in the same shape. */
  kind?: "extension";
  api: string;
  buildpack: BuildpackInfo;
  /** Non-empty for a composite buildpack. */
  order: Order;
  /** As declared (empty when none were). */
  targets: Target[];
  /** Deprecated `[[stacks]]`. */
  stacks: Stack[];
  metadata?: Table;
  /**
   * Where the descriptor is looser than the spec but the lifecycle and pack run it (an id with `_`, a version
   * that is not `<X>.<Y>.<Z>`, a reserved id): one sentence each, for the caller to show as warnings.
   */
  warnings?: string[];
}

const RESERVED_IDS = ["app", "config", "generated", "sbom"];
const ID_RE = /^[A-Za-z0-9./-]+$/;
const VERSION_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const SBOM_MEDIA_TYPES = [
  "application/vnd.cyclonedx+json",
  "application/spdx+json",
  "application/vnd.syft+json",
];

export function isComposite(d: BuildpackDescriptor): boolean {
  return d.order.length > 0;
}

/** `a/b` → `a_b`: the directory name of a buildpack under `/cnb/buildpacks` and `<layers>`. */
export function escapeId(id: string): string {
  return id.replaceAll("/", "_");
}

export function bpKey(id: string, version?: string): string {
  return version ? `${id}@${version}` : id;
}

/**
 * Check a buildpack id as the lifecycle and pack do: they take any non-empty id, so only an id that cannot
 * name a folder under `<layers>` or `/cnb/buildpacks` is refused (it would point outside them); where the
 * spec is stricter (its character set, the reserved ids) a warning is returned instead.
 */
export function checkId(id: string, where: (msg: string) => Error): string[] {
  const escaped = escapeId(id);
  if (escaped === "" || escaped === "." || escaped === ".." || /[\\\0]/.test(id)) {
    throw where(
      `id ${JSON.stringify(id)} cannot name a folder (it is empty, "." or "..", or holds \\ or NUL)`,
    );
  }
  const warnings: string[] = [];
  if (!ID_RE.test(id)) {
    warnings.push(
      `id ${JSON.stringify(id)} has characters the Buildpack API does not allow (only letters, numbers and . / -); the lifecycle and pack accept it, so does berth`,
    );
  }
  if (RESERVED_IDS.includes(id.toLowerCase())) {
    warnings.push(`id ${JSON.stringify(id)} is reserved by the Buildpack API (${RESERVED_IDS.join(", ")})`);
  }
  return warnings;
}

/**
 * Check a buildpack version: the lifecycle and pack take any non-empty one (`1.0`, `0.0.1-alpha`, `latest`);
 * the spec's `<X>.<Y>.<Z>` only warns. A version that cannot name a folder is refused.
 */
export function checkVersion(version: string, where: (msg: string) => Error): string[] {
  if (version === "" || version === "." || version === ".." || /[/\\\0]/.test(version)) {
    throw where(
      `version ${JSON.stringify(version)} cannot name a folder (it is empty, "." or "..", or holds / \\ or NUL)`,
    );
  }
  if (VERSION_RE.test(version)) return [];
  return [
    `version ${JSON.stringify(version)} is not <X>.<Y>.<Z> as the Buildpack API asks; the lifecycle and pack accept it, so does berth`,
  ];
}

function parseOrder(f: Fields, key: string): Order {
  return f.list(key).map((o) => {
    const groups = o.list("group");
    if (groups.length === 0) throw o.fail("group", "must list at least one buildpack");
    return { group: groups.map(moduleRefOf) };
  });
}

/** One `[[order.group]]` entry (buildpack.toml, order.toml, builder.toml): id, version, optional, exec-env. */
export function moduleRefOf(g: Fields): ModuleRef {
  const ref: ModuleRef = { id: g.requiredStr("id") };
  const version = g.str("version");
  if (version) ref.version = version;
  if (g.bool("optional")) ref.optional = true;
  const execEnv = g.strs("exec-env");
  if (execEnv) ref.execEnv = execEnv;
  return ref;
}

export function parseTargets(f: Fields): Target[] {
  return f.list("targets").map((t) => {
    const target: Target = {};
    const os = t.str("os");
    const arch = t.str("arch");
    const variant = t.str("variant");
    if (os) target.os = os;
    if (arch) target.arch = arch;
    if (variant) target.variant = variant;
    const distros = t.list("distros").map((d) => {
      const distro: Distro = {};
      const name = d.str("name");
      const version = d.str("version");
      if (name) distro.name = name;
      if (version) distro.version = version;
      return distro;
    });
    if (distros.length) target.distros = distros;
    return target;
  });
}

/**
 * Parse and validate the text of a `buildpack.toml`. `file` names it in errors. Bin files are not checked
 * here (see `validateBuildpackDir`).
 */
export function parseBuildpackToml(text: string, file: string): BuildpackDescriptor {
  const origin: Origin = { file, code: "CNB_BUILDPACK_INVALID" };
  const doc = new Fields(parseToml(text, origin), origin);
  // Name the buildpack in every later error when we can.
  const bpTable = doc.table.buildpack;
  const rawId =
    bpTable && typeof bpTable === "object" && typeof (bpTable as Table).id === "string"
      ? ((bpTable as Table).id as string)
      : undefined;
  if (rawId) origin.subject = `buildpack ${JSON.stringify(rawId)}`;
  if (doc.has("extension")) {
    throw tomlError(
      origin,
      "is an extension.toml-style descriptor ([extension]); berth runs buildpacks only",
    );
  }
  const api = parseBuildpackApi(doc);
  const bp = doc.sub("buildpack");
  if (!bp) throw doc.fail("buildpack", "table is required");
  const warnings: string[] = [];
  const info = parseBuildpackInfo(bp, api, warnings);
  const order = parseCompositeOrder(doc, api, warnings);
  const targets = parseTargets(doc);
  if (order.length && targets.length) {
    throw doc.fail("targets", "may not be declared by a composite buildpack (one with [[order]])");
  }
  const stacks = doc.list("stacks").map((s) => {
    const st: Stack = { id: s.requiredStr("id") };
    const mixins = s.strs("mixins");
    if (mixins) st.mixins = mixins;
    return st;
  });
  const d: BuildpackDescriptor = { api, buildpack: info, order, targets, stacks };
  const metadata = doc.anyTable("metadata");
  if (metadata) d.metadata = metadata;
  if (warnings.length) d.warnings = warnings.map((w) => `${file}: ${w}`);
  return d;
}

/** `api`: required, an API version, one berth supports. */
function parseBuildpackApi(doc: Fields): string {
  const api = doc.str("api");
  if (api === undefined) throw doc.fail("api", "is required");
  if (!parseApi(api)) throw doc.fail("api", `${JSON.stringify(api)} is not an API version (<major>.<minor>)`);
  if (!buildpackApiSupported(api)) {
    throw doc.fail(
      "api",
      `${api} is not a supported Buildpack API (berth supports ${SUPPORTED_BUILDPACK_APIS.join(", ")})`,
    );
  }
  return api;
}

/**
 * The `[buildpack]` table: id and version checked (errors thrown, the lifecycle's leniencies warned), the rest
 * read as the lifecycle and pack read it, with the spec's rules as warnings (pushed to `warnings`).
 */
function parseBuildpackInfo(bp: Fields, api: string, warnings: string[]): BuildpackInfo {
  const id = bp.requiredStr("id");
  for (const w of checkId(id, (msg) => bp.fail("id", msg.replace(/^id /, ""))))
    warnings.push(`buildpack.${w}`);
  const version = bp.requiredStr("version");
  for (const w of checkVersion(version, (msg) => bp.fail("version", msg.replace(/^version /, "")))) {
    warnings.push(`buildpack.${w}`);
  }
  const info: BuildpackInfo = { id, version, clearEnv: bp.bool("clear-env") ?? false };
  for (const [key, prop] of [
    ["name", "name"],
    ["homepage", "homepage"],
    ["description", "description"],
  ] as const) {
    const v = bp.str(key);
    if (v !== undefined) info[prop] = v;
  }
  const keywords = bp.strs("keywords");
  if (keywords) info.keywords = keywords;
  const sbom = bp.strs("sbom-formats");
  // The lifecycle and pack do not check what follows when they read a descriptor: the spec's rules warn.
  if (sbom) {
    for (const [i, s] of sbom.entries()) {
      if (!SBOM_MEDIA_TYPES.includes(s)) {
        warnings.push(
          `buildpack.sbom-formats[${i}] ${JSON.stringify(s)} is not an SBOM media type the Buildpack API knows (${SBOM_MEDIA_TYPES.join(", ")})`,
        );
      }
    }
    info.sbomFormats = sbom;
  }
  const licenses = bp.list("licenses").map((l, i) => {
    const lic: License = {};
    const type = l.str("type");
    const uri = l.str("uri");
    if (!type && !uri) warnings.push(`buildpack.licenses[${i}] has neither type nor uri`);
    if (type) lic.type = type;
    if (uri) lic.uri = uri;
    return lic;
  });
  if (licenses.length) info.licenses = licenses;
  const execEnv = bp.list("exec-env").map((e) => e.requiredStr("name"));
  if (execEnv.length) {
    if (!apiAtLeast(api, "0.12")) {
      // The lifecycle reads exec-env only from Buildpack API 0.12 on.
      warnings.push(
        `buildpack.exec-env needs Buildpack API 0.12 or later (this buildpack declares ${api}); it is ignored`,
      );
    } else info.execEnv = execEnv;
  }
  return info;
}

/** A composite buildpack's `[[order]]`: every member with a version; exec-env only from Buildpack API 0.12. */
function parseCompositeOrder(doc: Fields, api: string, warnings: string[]): Order {
  const order = parseOrder(doc, "order");
  for (const [i, g] of order.entries()) {
    for (const [j, ref] of g.group.entries()) {
      const where = (msg: string) => tomlError(doc.origin, `order[${i}].group[${j}].${msg}`);
      warnings.push(...checkId(ref.id, where).map((w) => `order[${i}].group[${j}]: ${w}`));
      if (!ref.version) throw where("version is required in a composite buildpack's order");
      if (ref.execEnv && !apiAtLeast(api, "0.12")) {
        warnings.push(`order[${i}].group[${j}].exec-env needs Buildpack API 0.12 or later; it is ignored`);
        delete ref.execEnv;
      }
    }
  }
  return order;
}

/** The targets the lifecycle checks: declared ones, else from the deprecated stacks, else `linux` if `bin/build` exists. */
export async function effectiveTargets(d: BuildpackDescriptor, dir: string): Promise<Target[]> {
  if (d.targets.length) return d.targets;
  const out: Target[] = [];
  for (const s of d.stacks) {
    if (s.id === "io.buildpacks.stacks.bionic") {
      if (apiAtLeast(d.api, "0.10") || d.stacks.length === 1) {
        out.push({ os: "linux", arch: "amd64", distros: [{ name: "ubuntu", version: "18.04" }] });
      }
    } else if (s.id === "*") {
      out.push({});
    }
  }
  if (out.length) return out;
  const bin = await readdir(join(dir, "bin")).catch(() => [] as string[]);
  if (bin.includes("build")) out.push({ os: "linux" });
  else if (bin.includes("build.bat") || bin.includes("build.exe")) out.push({ os: "windows" });
  return out;
}

/** A component buildpack needs executable `bin/detect` and `bin/build`; a composite must not have them. */
export async function validateBuildpackDir(d: BuildpackDescriptor, dir: string): Promise<void> {
  const file = join(dir, "buildpack.toml");
  const subject = `buildpack ${JSON.stringify(bpKey(d.buildpack.id, d.buildpack.version))}`;
  if (isComposite(d)) return;
  for (const name of ["detect", "build"]) {
    const p = join(dir, "bin", name);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) {
      throw tomlError(
        { file, subject, code: "CNB_BUILDPACK_INVALID" },
        `declares no [[order]] but bin/${name} is missing (${p})`,
      );
    }
    if (!(await isExecutable(p, { regularFile: true }))) {
      throw tomlError(
        { file: p, subject, code: "CNB_BUILDPACK_INVALID" },
        `bin/${name} is not executable (mode ${(st.mode & 0o7777).toString(8)})`,
        undefined,
      );
    }
  }
}
