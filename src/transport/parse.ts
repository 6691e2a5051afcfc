import { BerthError } from "../errors.ts";
import { parseReference } from "../oci/reference.ts";

/** Where an image argument points, with skopeo's transport names. */
export type ImageArgument =
  | { transport: "store"; ref: string; text: string }
  | {
      transport: "oci" | "oci-archive" | "docker-archive";
      path: string;
      ref: string | undefined;
      text: string;
    }
  | { transport: "docker"; ref: string; text: string }
  | { transport: "scratch"; text: string };

const PATH_TRANSPORTS = ["oci", "oci-archive", "docker-archive"] as const;

export interface ParseOptions {
  /** `scratch` names the empty image (FROM scratch, --run-image scratch). */
  allowScratch?: boolean;
  /**
   * What a bare reference means: the local store (default) or a registry (`docker`), for arguments that name
   * a registry by nature (pull, push targets, --publish).
   */
  default?: "store" | "docker";
}

/**
 * Parse an image argument: `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:REF]` (the path
 * ends at the first colon, as in skopeo), `docker://REF`, `scratch` where allowed, or a bare reference
 * meaning the local store (or the registry, with `default: "docker"`).
 */
export function parseImageArgument(text: string, options: ParseOptions = {}): ImageArgument {
  if (options.allowScratch && text === "scratch") return { transport: "scratch", text };
  if (text.startsWith("docker://")) {
    const ref = text.slice("docker://".length);
    parseReference(ref);
    return { transport: "docker", ref, text };
  }
  for (const t of PATH_TRANSPORTS) {
    if (text.startsWith(`${t}:`)) {
      const rest = text.slice(t.length + 1);
      const colon = rest.indexOf(":");
      const path = colon < 0 ? rest : rest.slice(0, colon);
      const ref = colon < 0 ? undefined : rest.slice(colon + 1);
      if (path === "")
        throw new BerthError("TRANSPORT_INVALID", `image ${JSON.stringify(text)} names no path after ${t}:`);
      return { transport: t, path, ref: ref === "" ? undefined : ref, text };
    }
  }
  // `dir:/x` or `tarball:a.tar` is skopeo's transport, never a reference (a tag holds no '/' and a port is digits).
  const m = /^([a-z][a-z0-9-]*):(?!\d)/.exec(text);
  if (m && ["dir", "containers-storage", "docker-daemon", "ostree", "sif", "tarball"].includes(m[1]!)) {
    throw new BerthError(
      "TRANSPORT_UNSUPPORTED",
      `transport ${m[1]}: of ${JSON.stringify(text)} is not supported`,
      {
        hint: "use oci:, oci-archive:, docker-archive:, docker:// or a bare name for the local store",
      },
    );
  }
  parseReference(text);
  if (options.default === "docker") return { transport: "docker", ref: text, text: `docker://${text}` };
  return { transport: "store", ref: text, text };
}

/**
 * A reference that names a registry whatever its text looks like (`docker://` optional): a cache ref, a pull or
 * push target, the registry behind a store name. Unlike `default: "docker"`, a transport prefix is not read.
 */
export function registryArgument(ref: string): ImageArgument & { transport: "docker" } {
  const bare = ref.startsWith("docker://") ? ref.slice("docker://".length) : ref;
  parseReference(bare);
  return { transport: "docker", ref: bare, text: `docker://${bare}` };
}
