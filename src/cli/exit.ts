import type { ErrorCode } from "../errors.ts";

/** Exit codes by error family; documented in the README. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  invalidContent: 4,
  auth: 5,
  registry: 6,
  runtime: 7,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "USAGE":
    case "REFERENCE_INVALID":
    case "PLATFORM_INVALID":
    case "TRANSPORT_INVALID":
    case "TRANSPORT_UNSUPPORTED":
      return EXIT.usage;
    case "IMAGE_NOT_FOUND":
    case "BLOB_NOT_FOUND":
    case "PLATFORM_NOT_FOUND":
    case "REGISTRY_MANIFEST_UNKNOWN":
    case "REGISTRY_BLOB_UNKNOWN":
    case "REGISTRY_NAME_UNKNOWN":
    case "USER_NOT_FOUND":
      return EXIT.notFound;
    case "DIGEST_INVALID":
    case "DIGEST_MISMATCH":
    case "SIZE_MISMATCH":
    case "MANIFEST_INVALID":
    case "CONFIG_INVALID":
    case "MEDIA_TYPE_UNSUPPORTED":
    case "LAYOUT_INVALID":
    case "ARCHIVE_INVALID":
    case "STORE_CORRUPT":
    case "LAYER_INVALID":
    case "LAYER_UNSAFE":
    case "UNSAFE_PATH":
      return EXIT.invalidContent;
    case "REGISTRY_UNAUTHORIZED":
    case "REGISTRY_DENIED":
      return EXIT.auth;
    case "REGISTRY_TOO_MANY_REQUESTS":
    case "REGISTRY_ERROR":
    case "REGISTRY_UNREACHABLE":
      return EXIT.registry;
    case "RUNTIME_NOT_FOUND":
    case "RUNTIME_FAILED":
    case "EMULATION_UNAVAILABLE":
      return EXIT.runtime;
    default:
      return EXIT.failure;
  }
}
