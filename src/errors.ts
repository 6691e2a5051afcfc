/**
 * Typed errors. Every failure berth reports is a BerthError with a stable `code` that callers match on;
 * the CLI maps codes to exit codes and prints `message` (one sentence naming what is at fault) plus `hint`.
 */

export type ErrorCode =
  // image model
  | "DIGEST_INVALID"
  | "DIGEST_MISMATCH"
  | "SIZE_MISMATCH"
  | "MANIFEST_INVALID"
  | "CONFIG_INVALID"
  | "MEDIA_TYPE_UNSUPPORTED"
  | "REFERENCE_INVALID"
  | "PLATFORM_INVALID"
  | "PLATFORM_NOT_FOUND"
  // places images live
  | "IMAGE_NOT_FOUND"
  | "BLOB_NOT_FOUND"
  | "LAYOUT_INVALID"
  | "ARCHIVE_INVALID"
  | "TRANSPORT_INVALID"
  | "TRANSPORT_UNSUPPORTED"
  | "STORE_LOCKED"
  | "STORE_CORRUPT"
  // layers
  | "LAYER_INVALID"
  | "LAYER_UNSAFE"
  // trees berth reads but does not own (buildpack output, app dirs, build contexts)
  | "UNSAFE_PATH"
  // registry
  | "REGISTRY_UNAUTHORIZED"
  | "REGISTRY_DENIED"
  | "REGISTRY_MANIFEST_UNKNOWN"
  | "REGISTRY_BLOB_UNKNOWN"
  | "REGISTRY_NAME_UNKNOWN"
  | "REGISTRY_TOO_MANY_REQUESTS"
  | "REGISTRY_ERROR"
  | "REGISTRY_UNREACHABLE"
  | "REGISTRY_CREDENTIALS"
  // runtime
  | "RUNTIME_NOT_FOUND"
  | "RUNTIME_FAILED"
  /** A foreign architecture's binaries cannot run here (qemu-user-static or its binfmt_misc entry missing). */
  | "EMULATION_UNAVAILABLE"
  | "CONTAINER_NOT_FOUND"
  | "CONTAINER_CONFLICT"
  | "USER_NOT_FOUND"
  // cloud native buildpacks
  | "CNB_BUILDPACK_INVALID"
  | "CNB_BUILDPACK_NOT_FOUND"
  | "CNB_CONFIG_INVALID"
  | "CNB_DETECT_FAILED"
  | "CNB_DETECT_ERROR"
  | "CNB_BUILD_FAILED"
  | "CNB_BUILD_INVALID"
  | "CNB_ANALYZE_FAILED"
  | "CNB_EXPORT_FAILED"
  | "CNB_REBASE_FAILED"
  /** An image extension's output (Dockerfiles, extend-config.toml) breaks the Buildpack API's rules. */
  | "CNB_EXTENSION_INVALID"
  /** An image extension's bin/generate failed. */
  | "CNB_GENERATE_FAILED"
  | "CNB_LAUNCHER_UNAVAILABLE"
  // Dockerfile builds
  | "DOCKERFILE_NOT_FOUND"
  | "DOCKERFILE_SYNTAX"
  | "DOCKERFILE_CHECK"
  | "DOCKERFILE_UNKNOWN_INSTRUCTION"
  | "DOCKERFILE_STAGE_NOT_FOUND"
  | "DOCKERFILE_SOURCE_NOT_FOUND"
  | "DOCKERFILE_RUN_FAILED"
  | "DOCKERFILE_UNSUPPORTED"
  // generic
  | "ID_UNMAPPED"
  | "USAGE"
  | "IO"
  | "INTERNAL";

export interface BerthErrorOptions {
  cause?: unknown;
  /** What the user can do about it. */
  hint?: string | undefined;
  /** Extra fields a caller may need (expected/actual digest, entry name, URL without credentials…). */
  details?: Record<string, unknown> | undefined;
}

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BerthError";
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }
}

export function isBerthError(err: unknown, code?: ErrorCode): err is BerthError {
  return err instanceof BerthError && (code === undefined || err.code === code);
}

/** Prefix a step to an error's message ("copying to oci:out: …"), keeping its code. */
export function wrapError(step: string, err: unknown): BerthError {
  if (err instanceof BerthError) {
    const wrapped = new BerthError(err.code, `${step}: ${err.message}`, {
      cause: err,
      hint: err.hint,
      details: err.details,
    });
    return wrapped;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.syscall === "string") {
    return new BerthError("IO", `${step}: ${e.message}`, { cause: err });
  }
  return new BerthError("INTERNAL", `${step}: ${e instanceof Error ? e.message : String(e)}`, { cause: err });
}
