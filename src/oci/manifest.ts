import { parseJson as parseJsonText } from "../util/json.ts";
import { type Descriptor, invalid, isObject, validateDescriptor, validateStringMap } from "./descriptor.ts";
import { MediaType } from "./mediatype.ts";

/** An image manifest (OCI or Docker schema 2). Unknown fields are kept. */
export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

/** An image index (OCI) or manifest list (Docker). Unknown fields are kept. */
export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

/** A manifest, index or config document (through util/json.ts: not JSON or nested too deep is an error). */
export function parseJson(
  bytes: Uint8Array,
  what: string,
  code: "MANIFEST_INVALID" | "CONFIG_INVALID" = "MANIFEST_INVALID",
): unknown {
  return parseJsonText(bytes, what, code);
}

/**
 * The media type of a manifest or index from its bytes: the `mediaType` field when present, else guessed
 * from its shape (OCI allows omitting it).
 */
export function sniffManifestMediaType(doc: unknown): string | undefined {
  if (!isObject(doc)) return undefined;
  if (typeof doc.mediaType === "string") return doc.mediaType;
  if (Array.isArray(doc.manifests)) return MediaType.OciIndex;
  if (isObject(doc.config) && Array.isArray(doc.layers)) return MediaType.OciManifest;
  if (doc.schemaVersion === 1) return MediaType.DockerManifestV1Signed;
  return undefined;
}

function checkCommon(
  doc: Record<string, unknown>,
  what: string,
  expectedMediaType: string | undefined,
): void {
  if (doc.schemaVersion !== 2) throw invalid("MANIFEST_INVALID", `${what}.schemaVersion`, "must be 2");
  if (doc.mediaType !== undefined && typeof doc.mediaType !== "string") {
    throw invalid("MANIFEST_INVALID", `${what}.mediaType`, "must be a string");
  }
  if (expectedMediaType !== undefined && doc.mediaType !== undefined && doc.mediaType !== expectedMediaType) {
    throw invalid(
      "MANIFEST_INVALID",
      `${what}.mediaType`,
      `is ${JSON.stringify(doc.mediaType)} but its descriptor says ${JSON.stringify(expectedMediaType)}`,
    );
  }
  if (doc.artifactType !== undefined && typeof doc.artifactType !== "string") {
    throw invalid("MANIFEST_INVALID", `${what}.artifactType`, "must be a string");
  }
  if (doc.subject !== undefined) validateDescriptor(doc.subject, `${what}.subject`);
  validateStringMap(doc.annotations, `${what}.annotations`);
}

/** Parse and validate an image manifest. `expectedMediaType` is what the descriptor pointing at it said. */
export function parseManifest(bytes: Uint8Array, what = "manifest", expectedMediaType?: string): Manifest {
  const doc = parseJson(bytes, what);
  if (!isObject(doc)) throw invalid("MANIFEST_INVALID", what, "must be a JSON object");
  if (Array.isArray(doc.manifests)) {
    throw invalid("MANIFEST_INVALID", what, "is an index, not an image manifest (it has a manifests field)");
  }
  checkCommon(doc, what, expectedMediaType);
  validateDescriptor(doc.config, `${what}.config`);
  if (!Array.isArray(doc.layers)) throw invalid("MANIFEST_INVALID", `${what}.layers`, "must be an array");
  doc.layers.forEach((l, i) => {
    validateDescriptor(l, `${what}.layers[${i}]`);
  });
  return doc as unknown as Manifest;
}

/** Parse and validate an image index or manifest list. */
export function parseIndex(bytes: Uint8Array, what = "index", expectedMediaType?: string): Index {
  const doc = parseJson(bytes, what);
  if (!isObject(doc)) throw invalid("MANIFEST_INVALID", what, "must be a JSON object");
  if (doc.config !== undefined || doc.layers !== undefined) {
    throw invalid("MANIFEST_INVALID", what, "is an image manifest, not an index (it has config or layers)");
  }
  checkCommon(doc, what, expectedMediaType);
  if (!Array.isArray(doc.manifests))
    throw invalid("MANIFEST_INVALID", `${what}.manifests`, "must be an array");
  doc.manifests.forEach((m, i) => {
    validateDescriptor(m, `${what}.manifests[${i}]`);
  });
  return doc as unknown as Index;
}

/** Canonical JSON for documents berth creates (never used on bytes read from elsewhere). */
export function serialize(doc: unknown): Buffer {
  return Buffer.from(JSON.stringify(doc), "utf8");
}
