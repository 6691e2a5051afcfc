import { BerthError } from "../errors.ts";
import { type Digest, parseDigest } from "./digest.ts";

/**
 * A Docker-compatible image reference: `[registry[:port]/]path[:tag][@digest]`, normalised as docker does
 * (`app` → `docker.io/library/app:latest`).
 */
export interface Reference {
  /** Registry host with optional port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path within the registry: `library/app`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

export const DEFAULT_REGISTRY = "docker.io";
const LEGACY_REGISTRIES = new Set(["index.docker.io", "registry-1.docker.io"]);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;

function fail(text: string, why: string): BerthError {
  return new BerthError("REFERENCE_INVALID", `image reference ${JSON.stringify(text)} is invalid: ${why}`);
}

function validDomain(domain: string): boolean {
  let host = domain;
  let port: string | undefined;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end < 0) return false;
    const ip6 = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(ip6)) return false;
    const rest = host.slice(end + 1);
    if (rest !== "" && !/^:[0-9]+$/.test(rest)) return false;
    return true;
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
    if (!/^[0-9]+$/.test(port)) return false;
  }
  return host.split(".").every((p) => DOMAIN_COMPONENT.test(p));
}

export function parseReference(text: string): Reference {
  if (text === "") throw fail(text, "it is empty");
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest, "its digest");
    } catch (err) {
      throw fail(text, (err as Error).message);
    }
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag))
      throw fail(text, `tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") ||
      first.includes(":") ||
      first === "localhost" ||
      first.startsWith("[") ||
      first !== first.toLowerCase()
    ) {
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!validDomain(registry))
    throw fail(text, `registry ${JSON.stringify(registry)} is not a valid host[:port]`);
  if (LEGACY_REGISTRIES.has(registry)) registry = DEFAULT_REGISTRY;
  if (path === "") throw fail(text, "the repository name is empty");
  if (path !== path.toLowerCase()) throw fail(text, "repository names must be lowercase");
  for (const component of path.split("/")) {
    if (!COMPONENT.test(component)) {
      throw fail(
        text,
        `path component ${JSON.stringify(component)} must be lowercase letters and digits separated by ., _, __ or -`,
      );
    }
  }
  if (registry === DEFAULT_REGISTRY && !path.includes("/")) path = `library/${path}`;
  if (registry.length + 1 + path.length > 255) throw fail(text, "the name is longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = "latest";
  const ref: Reference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** `registry/repository` */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full normalised form, `docker.io/library/app:latest` (tag and digest both when both were given). */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short form docker prints: `app:latest`, `user/app:1`, `localhost:5000/app:1`. */
export function familiarReference(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.registry === DEFAULT_REGISTRY) {
    name = ref.repository.startsWith("library/") ? ref.repository.slice("library/".length) : ref.repository;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** Normalise a reference string: `app` → `docker.io/library/app:latest`. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}
