/**
 * OCI annotations of a build's image, as buildx v0.30.1 and BuildKit v0.26.2 take them: `--annotation
 * [TYPE[PLATFORM][,TYPE…]:]KEY=VALUE` (buildx's ParseAnnotations) and the image exporters' attributes
 * `annotation[-TYPE][PLATFORM].KEY=VALUE` (BuildKit's ParseAnnotationKey). TYPE is `manifest` (the default),
 * `manifest-descriptor`, `index` or `index-descriptor`; PLATFORM (`[linux/arm64]`) limits a manifest annotation to
 * that platform's image. `annotationsFor` groups them as the exporter's `AnnotationsGroup.Platform` does.
 */
import { BerthError } from "../errors.ts";
import { formatPlatform, normalizePlatform, type Platform, parsePlatform } from "../oci/platform.ts";

export type AnnotationType = "manifest" | "manifest-descriptor" | "index" | "index-descriptor";

const TYPES: readonly AnnotationType[] = ["manifest", "manifest-descriptor", "index", "index-descriptor"];

export interface Annotation {
  type: AnnotationType;
  /** Only this platform's manifest (or its descriptor in the index); undefined: every one. */
  platform: Platform | undefined;
  key: string;
  value: string;
  /** As given, for messages: `--annotation index:k=v`, `-o …,annotation-index.k=v`. */
  text: string;
}

/** An annotation's values by where BuildKit's exporter puts them. */
export interface AnnotationSet {
  /** The image manifest's `annotations`. */
  manifest: Record<string, string>;
  /** The manifest's descriptor: its entry in the index, or the layout's `index.json` without an index. */
  manifestDescriptor: Record<string, string>;
  /** The image index's `annotations`. */
  index: Record<string, string>;
  /** The index's descriptor: its entry in the layout's `index.json`. */
  indexDescriptor: Record<string, string>;
}

const usage = (text: string, why: string, hint?: string) =>
  new BerthError("USAGE", `${text}: ${why}`, hint ? { hint } : {});

/** A platform in square brackets, normalised as containerd's platforms.Parse gives it (`linux/arm64/v8`: arm64). */
function platformOf(text: string, where: string): Platform {
  try {
    return normalizePlatform(parsePlatform(text));
  } catch {
    throw usage(
      where,
      `invalid platform ${JSON.stringify(text)}`,
      "give os/arch[/variant], e.g. [linux/arm64]",
    );
  }
}

/**
 * One `--annotation` as buildx reads it: `KEY=VALUE` is the manifest's; `TYPE[PLATFORM],…:KEY=VALUE` one
 * annotation for each type (an index type's platform is dropped, as buildx's AnnotationKey.String drops it).
 */
export function parseAnnotationFlag(value: string): Annotation[] {
  const text = `--annotation ${JSON.stringify(value)}`;
  const eq = value.indexOf("=");
  if (eq < 0) throw usage(text, "expected key=value", "--annotation org.opencontainers.image.title=app");
  const k = value.slice(0, eq);
  const v = value.slice(eq + 1);
  const colon = k.indexOf(":");
  if (colon < 0) return [{ type: "manifest", platform: undefined, key: k, value: v, text }];
  const key = k.slice(colon + 1);
  return k
    .slice(0, colon)
    .split(",")
    .map((part) => {
      const m = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/.exec(part);
      if (!m)
        throw usage(
          text,
          `invalid annotation type ${JSON.stringify(part)}, expected type and optional platform in square brackets`,
        );
      const type = m[1] as AnnotationType;
      if (!TYPES.includes(type))
        throw usage(text, `unknown annotation type ${JSON.stringify(type)}`, `give ${TYPES.join(", ")}`);
      const scoped = m[2] !== undefined && (type === "manifest" || type === "manifest-descriptor");
      return { type, platform: scoped ? platformOf(m[2]!, text) : undefined, key, value: v, text };
    });
}

/**
 * An exporter attribute `annotation[-TYPE][PLATFORM].KEY` (`-o type=image,annotation-index.k=v`), or undefined
 * for any other attribute. `text` names the `-o` value in messages.
 */
export function annotationAttribute(attr: string, value: string, text: string): Annotation | undefined {
  const m = /^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(\S+)$/.exec(attr);
  if (!m) return undefined;
  const type = (m[1] ?? "manifest") as AnnotationType;
  if (!TYPES.includes(type))
    throw usage(text, `unrecognized annotation type ${type}`, `give annotation-(${TYPES.join("|")}).KEY`);
  const platform = m[2] === undefined ? undefined : platformOf(m[2], text);
  return { type, platform, key: m[3]!, value, text };
}

/**
 * The annotations of `platform`'s image, as the exporter's `Platform(p)`: the index's from every annotation;
 * the manifest's from those of no platform, then those of that platform (a later one of a key wins). Undefined:
 * BuildKit's image written alone (no index: `Platform(nil)`), where an annotation of a platform applies to none.
 */
export function annotationsFor(list: readonly Annotation[], platform?: Platform): AnnotationSet {
  const set: AnnotationSet = { manifest: {}, manifestDescriptor: {}, index: {}, indexDescriptor: {} };
  const name = platform && formatPlatform(normalizePlatform(platform));
  for (const pass of [false, true]) {
    for (const a of list) {
      if ((a.platform !== undefined) !== pass) continue;
      const indexType = a.type === "index" || a.type === "index-descriptor";
      if (a.platform && !indexType && formatPlatform(a.platform) !== name) continue;
      set[field(a.type)][a.key] = a.value;
    }
  }
  return set;
}

const field = (type: AnnotationType): keyof AnnotationSet =>
  type === "manifest"
    ? "manifest"
    : type === "manifest-descriptor"
      ? "manifestDescriptor"
      : type === "index"
        ? "index"
        : "indexDescriptor";

/**
 * The checks BuildKit's image writer makes before it writes: with several platforms, an annotation of a
 * platform the build does not make (`invalid annotation: no platform … found in source`; with one, its
 * FindRef finds the one image whatever the platform); one for the index where none is written (`index
 * annotations not supported for single platform export`). `indexWritten`: several platforms, or a provenance
 * attestation in an index with the image.
 */
export function checkAnnotations(
  list: readonly Annotation[],
  platforms: readonly Platform[],
  indexWritten: boolean,
): void {
  const built = new Set(platforms.map((p) => formatPlatform(normalizePlatform(p))));
  for (const a of list) {
    if (a.platform && built.size > 1 && !built.has(formatPlatform(a.platform))) {
      throw usage(
        a.text,
        `no platform ${formatPlatform(a.platform)} in this build (${[...built].join(", ")})`,
        "name a platform the build makes, or leave the [platform] out",
      );
    }
    if (!indexWritten && (a.type === "index" || a.type === "index-descriptor")) {
      throw usage(
        a.text,
        "index annotations are not supported for a single-platform export (no index is written), as BuildKit's",
        "build several platforms (--platform a,b) or with --provenance, or give manifest: or manifest-descriptor:",
      );
    }
  }
}
