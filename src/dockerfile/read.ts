/**
 * The files a build reads before its first step: the Dockerfile and its ignore file (`<Dockerfile>.dockerignore`
 * before the context's `.dockerignore`), each read confined to the build context when it lies inside it.
 */
import { lstatSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { BerthError, wrapError } from "../errors.ts";
import { createMatcher, type Matcher, parseIgnoreFile } from "../layer/ignore.ts";
import { readFileWithin } from "../util/confined.ts";
import type { BuildInputs } from "./inputs.ts";
import { type Dockerfile, parseDockerfile } from "./parse.ts";

/** How the build context names itself in confinement errors. */
const CONTEXT = { owner: "the build context", name: "the build context" };

type Source = Pick<BuildInputs, "contextDir" | "dockerfile" | "noIgnoreFile">;

/** The Dockerfile, read confined to the context when it is inside it, and parsed. */
export async function readDockerfile(i: Source): Promise<Dockerfile> {
  if (!("path" in i.dockerfile)) return parseDockerfile(i.dockerfile.text, i.dockerfile.name ?? "Dockerfile");
  let text: string;
  try {
    const bytes = await readFileWithin(i.dockerfile.path, i.contextDir, {
      ...CONTEXT,
      ...(i.dockerfile.inContext ? { mustBeInside: true } : {}),
    });
    if (bytes === undefined) throw new Error(`${i.dockerfile.path} does not exist`);
    text = bytes.toString("utf8");
  } catch (err) {
    if (err instanceof BerthError) throw err;
    throw new BerthError("DOCKERFILE_NOT_FOUND", `cannot read the Dockerfile ${i.dockerfile.path}`, {
      cause: err,
      hint: "give its path with --dockerfile, or put a Dockerfile in the build context",
    });
  }
  return parseDockerfile(text, posix.basename(i.dockerfile.path));
}

/** The build's ignore rules: `<Dockerfile>.dockerignore`, else the context's `.dockerignore`; none with `noIgnoreFile`. */
export async function loadIgnore(i: Source): Promise<Matcher | undefined> {
  if (i.noIgnoreFile) return undefined;
  const candidates: string[] = [];
  if ("path" in i.dockerfile) candidates.push(`${i.dockerfile.path}.dockerignore`);
  candidates.push(join(i.contextDir, ".dockerignore"));
  for (const c of candidates) {
    // one lstat finds a file of the context's own folder missing (most have no .dockerignore), where the
    // confined reader opens the folder and asks for the name through libuv's pool (~1.5 ms); a file deeper
    // in the context is looked for only through it (a folder above it may be a link resolved inside)
    if (resolve(dirname(c)) === resolve(i.contextDir) && !lstatSync(c, { throwIfNoEntry: false })) continue;
    let bytes: Buffer | undefined;
    try {
      bytes = await readFileWithin(c, i.contextDir, CONTEXT);
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw wrapError(`reading ${c}`, err);
    }
    if (bytes !== undefined)
      return createMatcher(
        parseIgnoreFile(bytes.toString("utf8")),
        "dockerignore",
        relative(i.contextDir, c),
      );
  }
  return undefined;
}
