/**
 * Named build contexts (`--build-context NAME=VALUE`, docker buildx's and buildah's): a name that `FROM NAME`,
 * `COPY --from=NAME` and `RUN --mount=from=NAME` read in place of the stage or image of that name. As
 * BuildKit's dockerfile frontend (dockerui's NamedContext), a name is matched by its familiar reference form
 * without `:latest` (`alpine`, `alpine:latest` and `docker.io/library/alpine` are one name), and a context named
 * as a stage replaces the stage. VALUE is a directory (read as the build context is: its `.dockerignore`
 * applied, links never followed out of it, files copied as root's), `docker-image://REF` (an image berth reads:
 * the store, else its registry), `oci-layout://DIR[:TAG|@DIGEST]` (an OCI layout's image), a git repository (ADD's
 * forms: cloned as ADD clones, its tree or `:subdir`) or an http(s) URL (one file, named as the URL's last part,
 * as BuildKit's llb.HTTP); the last two with no .dockerignore, as BuildKit's.
 */
import { type Stats, statSync } from "node:fs";
import { mkdir, rename } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BerthError } from "../errors.ts";
import { createMatcher, type Matcher, parseIgnoreFile } from "../layer/ignore.ts";
import { normalizePlatform, type Platform, parsePlatform } from "../oci/platform.ts";
import { familiarReference, parseReference } from "../oci/reference.ts";
import { readFileWithin } from "../util/confined.ts";
import { download, isGitSource } from "./instructions/copy.ts";
import { resolveInRoot } from "./rootfs.ts";
import { selectSources, sourcesDigest } from "./sources.ts";
import type { SourceRoot } from "./step.ts";

/** A file's content digest (sha256 hex) given its lstat. */
type ContentOf = (hostPath: string, st: Stats) => string | Promise<string>;

/**
 * `platform`: given as `NAME::PLATFORM` (BuildKit's `context:NAME::PLATFORM`), the context is read only by a
 * build for that platform (normalized as `platformKey`), before a context of the bare name.
 */
export type NamedContext = { name: string; text: string; platform?: string } & (
  | { kind: "dir"; dir: string }
  /** `image`: berth's image argument (a reference, or `oci:DIR[:REF]`). */
  | { kind: "image"; image: string }
  /** Fetched when a step first reads it: a git repository (ADD's forms) or a URL's one file. */
  | { kind: "git" | "url" }
);

/**
 * A platform as BuildKit names a platform's context (`platforms.FormatAll(platforms.Normalize(p))`): containerd's
 * normalisation, so `linux/arm64/v8` is `linux/arm64`, `linux/amd64/v1` is `linux/amd64` and `linux/arm` is
 * `linux/arm/v7`.
 */
export function platformKey(p: Platform): string {
  const n = normalizePlatform(p);
  let variant = n.variant;
  if (n.architecture === "amd64" && variant === "v1") variant = undefined;
  if (n.architecture === "arm" && (variant === undefined || /^[5-8]$/.test(variant)))
    variant = `v${variant ?? "7"}`;
  return [n.os, n.architecture, variant].filter(Boolean).join("/");
}

/** A name as BuildKit matches it: its familiar reference form without `:latest`; undefined when not one. */
export function contextName(ref: string): string | undefined {
  try {
    return familiarReference(parseReference(ref)).replace(/:latest$/, "");
  } catch {
    return undefined;
  }
}

/** One `--build-context NAME=VALUE`, a relative directory or layout taken from `cwd`. */
export function parseBuildContext(flag: string, cwd: string): NamedContext {
  const bad = (why: string, hint: string) =>
    new BerthError("USAGE", `--build-context ${JSON.stringify(flag)}: ${why}`, { hint });
  const eq = flag.indexOf("=");
  if (eq <= 0 || eq === flag.length - 1)
    throw bad(
      "needs NAME=VALUE",
      "as --build-context base=docker-image://alpine:3.20 or --build-context src=../src",
    );
  const text = flag.slice(eq + 1);
  const [given, platformText] = flag.slice(0, eq).split(/::(.*)/s, 2) as [string, string | undefined];
  const name = contextName(given);
  if (name === undefined || /[A-Z]/.test(given))
    throw bad(
      `the name ${JSON.stringify(given)} is not a stage or image name`,
      "a name is lowercase letters, digits and . _ - / separators (a tag allowed), as FROM and --from name it",
    );
  // BuildKit's frontend never looks these two up (toDispatchState's namedContext skips them): refused, not ignored
  if (name === "scratch" || name === "context")
    throw bad(
      `the name ${JSON.stringify(name)} is reserved (FROM scratch is the empty image, "context" the build context)`,
      "give the context another name and use it in FROM, COPY --from or RUN --mount=from",
    );
  const platform = platformText === undefined ? undefined : contextPlatform(platformText, bad);
  const c = parseValue(name, text, cwd, bad);
  return platform === undefined ? c : { ...c, platform };
}

/** NAME::PLATFORM's platform, as `platformKey` names it. */
function contextPlatform(text: string, bad: (why: string, hint: string) => BerthError): string {
  try {
    return platformKey(parsePlatform(text));
  } catch {
    throw bad(
      `${JSON.stringify(text)} after :: is not a platform`,
      "as --build-context base::linux/arm64=docker-image://REF (OS/ARCH[/VARIANT])",
    );
  }
}

/** A context's VALUE: a directory, docker-image://, oci-layout://, a git repository or an http(s) URL. */
function parseValue(
  name: string,
  text: string,
  cwd: string,
  bad: (why: string, hint: string) => BerthError,
): NamedContext {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === "docker-image") {
    const ref = text.slice("docker-image://".length);
    try {
      parseReference(ref);
    } catch (err) {
      throw bad(
        (err as Error).message,
        "as docker-image://alpine:3.20 or docker-image://127.0.0.1:5000/app@sha256:…",
      );
    }
    return { name, kind: "image", image: ref, text };
  }
  if (scheme === "oci-layout") return { name, kind: "image", image: layoutArgument(text, cwd, bad), text };
  if (isGitSource(text)) return { name, kind: "git", text };
  if (scheme === "http" || scheme === "https") return { name, kind: "url", text };
  if (scheme !== undefined) {
    throw bad(
      `the scheme ${scheme}:// is not one berth knows`,
      "give a directory, docker-image://REF, oci-layout://DIR[:TAG|@DIGEST], a git repository or an http(s) URL",
    );
  }
  const dir = resolve(cwd, text);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw bad(
      `${dir} is not a directory`,
      "give an existing directory, docker-image://REF or oci-layout://DIR",
    );
  return { name, kind: "dir", dir, text };
}

/** `oci-layout://DIR[:TAG|@DIGEST]` as berth's `oci:DIR[:REF]` (a digest is a layout's ref too). */
function layoutArgument(text: string, cwd: string, bad: (why: string, hint: string) => BerthError): string {
  let rest = text.slice("oci-layout://".length);
  let ref: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) [rest, ref] = [rest.slice(0, at), rest.slice(at + 1)];
  else {
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) [rest, ref] = [rest.slice(0, colon), rest.slice(colon + 1)];
  }
  const dir = resolve(cwd, rest);
  if (rest === "" || !statSync(join(dir, "index.json"), { throwIfNoEntry: false })?.isFile())
    throw bad(`${dir} is not an OCI layout (no index.json)`, "give the folder of an OCI image layout");
  if (ref !== undefined && !/^[\w][\w.:-]*$/.test(ref))
    throw bad(
      `${JSON.stringify(ref)} is no tag or digest`,
      "as oci-layout://DIR:TAG or oci-layout://DIR@sha256:…",
    );
  return `oci:${dir}${ref ? `:${ref}` : ""}`;
}

/**
 * The named context `ref` (FROM's base, a --from) means for a build for `platform`, if any: a context given for
 * that platform (`NAME::PLATFORM`) first, then one of the bare name, as BuildKit's dockerui NamedContext.
 */
export function findContext(
  contexts: readonly NamedContext[] | undefined,
  ref: string,
  platform: Platform,
): NamedContext | undefined {
  if (!contexts?.length) return undefined;
  // a stage's name is any case in the Dockerfile (`--from=Build`), where an image reference is lowercase
  const name = contextName(ref) ?? contextName(ref.toLowerCase());
  if (name === undefined) return undefined;
  const key = platformKey(platform);
  return (
    contexts.find((c) => c.name === name && c.platform === key) ??
    contexts.find((c) => c.name === name && c.platform === undefined)
  );
}

/** A directory context's `.dockerignore`, read confined to it. */
async function loadIgnore(c: NamedContext & { kind: "dir" }): Promise<Matcher | undefined> {
  const what = `the build context ${JSON.stringify(c.name)}`;
  const bytes = await readFileWithin(join(c.dir, ".dockerignore"), c.dir, { owner: what, name: what });
  return bytes === undefined ? undefined : createMatcher(parseIgnoreFile(bytes.toString("utf8")));
}

/**
 * A directory context as a step's source: its files (`.dockerignore` applied) selected as the build context's
 * are, keyed by the digest of everything it holds (names, modes, contents; not owners, which COPY does not
 * keep), so a step reading it runs again when anything in it changes. `contentOf` gives a file's content digest
 * (the directory's context-index.ts index: a file unchanged since the last build is not read again).
 */
export async function dirSource(
  c: NamedContext & { kind: "dir" },
  o: { ignore: boolean; contentOf?: ContentOf | undefined },
): Promise<SourceRoot> {
  const matcher = o.ignore ? await loadIgnore(c) : undefined;
  const what = `the build context ${JSON.stringify(c.name)}`;
  const all = await selectSources(c.dir, ["."], { matcher, what, parents: false, excludes: [] });
  const digest = await sourcesDigest(all, o.contentOf);
  return {
    root: async () => c.dir,
    sources: (patterns, o) => selectSources(c.dir, patterns, { ...o, matcher }),
    id: `context:sha256:${digest}`,
    what,
    local: true,
  };
}

/**
 * A git or URL context fetched into `dir` (a folder of the build's own) as ADD fetches them, then read as a
 * directory context is (without a .dockerignore); errors name the flag and value.
 */
export async function fetchedSource(
  c: NamedContext & { kind: "git" | "url" },
  dir: string,
  env: Record<string, string | undefined>,
  signal: AbortSignal | undefined,
): Promise<SourceRoot> {
  const who = `--build-context ${c.name}=`;
  const root = join(dir, "root");
  if (c.kind === "git") await fetchGitTree(c.text, dir, root, { env, signal, who });
  else {
    const got = await download(c.text, join(dir, "download"), signal, who.slice(0, -1));
    await mkdir(root);
    await rename(got.path, join(root, got.name));
  }
  return dirSource({ name: c.name, kind: "dir", dir: root, text: c.text }, { ignore: false });
}

/**
 * Clone a git source (`REMOTE#REF:SUBDIR`, BuildKit's forms) into `dir`/clone as ADD clones it, and move its
 * subdir (resolved inside the clone) to `root`; errors start with `who`.
 */
export async function fetchGitTree(
  text: string,
  dir: string,
  root: string,
  o: {
    env: Record<string, string | undefined>;
    signal: AbortSignal | undefined;
    who: string;
    /** BUILDKIT_CONTEXT_KEEP_GIT_DIR: keep `.git` whatever the reference says. */
    keepGitDir?: boolean | undefined;
  },
): Promise<void> {
  const { fetchGit, parseGitRef } = await import("./instructions/git.ts");
  const ref = parseGitRef(text);
  const keepGitDir = Boolean(o.keepGitDir) || (ref.keepGitDir ?? false);
  await fetchGit(ref, join(dir, "clone"), { checksum: undefined, ...o, keepGitDir });
  const sub = await resolveInRoot(join(dir, "clone"), ref.subdir ?? "/", true);
  await rename(join(dir, "clone", sub), root);
}
