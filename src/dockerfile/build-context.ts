import { wrapError } from "../errors.ts";
import type { Image } from "../oci/image.ts";
import { EPOCH, mutate } from "../oci/mutate.ts";
import { formatPlatform, type Platform } from "../oci/platform.ts";
import { cacheKey } from "./cache.ts";
import { ContextIndex } from "./context-index.ts";
import { copyInstruction } from "./instructions/copy.ts";
import { dirSource, fetchedSource, findContext, type NamedContext } from "./named-context.ts";
import { type Instruction, parseDockerfile } from "./parse.ts";
import type { Stage } from "./stage.ts";
import type { SourceRoot, StepContext } from "./step.ts";

/** The PATH a scratch image gets (BuildKit's, Docker's default). */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A stage a named context replaces: nameless, `FROM NAME` alone (read only when it is the target). */
export function replacedStage(s: Stage): Stage {
  const name = s.name!;
  const platform = s.from.flags.platform;
  const flags = platform ? { platform } : {};
  const from = { ...s.from, flags, args: name, json: undefined, text: `FROM ${name}` };
  return { ...s, name: undefined, baseText: name, from, instructions: [] };
}

/**
 * The image a stage FROM scratch or FROM a files context starts from, and its key. BuildKit's empty image
 * (emptyImage in dockerfile2llb) has the default PATH and WorkingDir /; a directory, git or URL context gives it
 * too (contextByName returns no image config), its files on it, but a stage such a context replaces (`replaced`)
 * has no config at all (dockerfile2llb leaves the stage's image unset).
 */
export function emptyBase(
  platform: Platform,
  context: "none" | "files" | "replaced",
): { image: Image; key: string } {
  const bare = context === "replaced";
  const image = mutate(undefined, {
    platform,
    created: EPOCH,
    ...(bare ? {} : { config: (c) => ({ ...c, Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: "/" }) }),
  });
  // a context's layer is keyed apart from `FROM scratch` + `COPY --from=NAME / /` (its history differs)
  const kind = { none: "scratch", files: "context-files", replaced: "context-stage" }[context];
  return { image, key: cacheKey(kind, formatPlatform(platform)) };
}

/** A build's named contexts. */
export class BuildContexts {
  readonly #contexts: readonly NamedContext[] | undefined;
  readonly #cacheRoot: string;
  readonly #env: Record<string, string | undefined>;
  /** Stages a named context replaces (`replacedStage`), by index. */
  #replaced = new Set<number>();
  /** Directory, git and URL contexts read by a step, by name (and platform): opened (and digested) once. */
  #sources = new Map<string, Promise<SourceRoot>>();
  /** The content indexes of directory contexts, saved when the build ends as the context's is. */
  #indexes: ContextIndex[] = [];

  /** `cacheRoot`: where the directories' indexes are kept (the step cache's); `env`: a git fetch's. */
  constructor(
    contexts: readonly NamedContext[] | undefined,
    cacheRoot: string,
    env: Record<string, string | undefined>,
  ) {
    this.#contexts = contexts;
    this.#cacheRoot = cacheRoot;
    this.#env = env;
  }

  /** The context `ref` names for a build for `platform` (`findContext`). */
  find(ref: string, platform: Platform): NamedContext | undefined {
    return findContext(this.#contexts, ref, platform);
  }

  /**
   * The stages with those a context names replaced (BuildKit's): such a stage is no longer found by its name, and
   * as the target it is the context alone (`FROM NAME`: an image context's image, a directory's files).
   */
  replace(stages: readonly Stage[], platformOf: (from: Instruction) => Platform): Stage[] {
    return stages.map((s) => {
      if (!s.name || !this.find(s.name, platformOf(s.from))) return s;
      this.#replaced.add(s.index);
      return replacedStage(s);
    });
  }

  /** Whether a context replaced stage `index`. */
  replaced(index: number): boolean {
    return this.#replaced.has(index);
  }

  /**
   * A directory, git or URL context as a step's source, once a build: a git or URL context fetched into `dir`
   * (`dir` names a folder of the build's own, given a number: the how-manieth context this is).
   */
  source(
    c: NamedContext & { kind: "dir" | "git" | "url" },
    dir: (n: number) => string,
    signal: AbortSignal,
  ): Promise<SourceRoot> {
    const id = `${c.name}::${c.platform ?? ""}`;
    let p = this.#sources.get(id);
    if (!p) {
      p =
        c.kind === "dir" ? this.#indexedDir(c) : fetchedSource(c, dir(this.#sources.size), this.#env, signal);
      this.#sources.set(id, p);
    }
    return p;
  }

  /** A directory context, its files' digests kept between builds in an index of its own (context-index.ts). */
  async #indexedDir(c: NamedContext & { kind: "dir" }): Promise<SourceRoot> {
    const index = await ContextIndex.open(this.#cacheRoot, c.dir);
    this.#indexes.push(index);
    return dirSource(c, { ignore: true, contentOf: (path, st) => index.digest(path, st) });
  }

  /** Save what the directories' indexes learnt (whether or not the build got through). */
  async save(): Promise<void> {
    for (const x of this.#indexes) await x.save().catch(() => undefined);
  }
}

/**
 * FROM a directory, git or URL context: its files laid on the empty image as `COPY --from=NAME / /` lays them
 * (the .dockerignore of a directory applied, owners root's, modes and mtimes kept), one layer, run with the
 * context `step` gives the instruction (`baseText`: FROM's as the Dockerfile gives it, for errors). In BuildKit's
 * image the layer has no history entry of its own; its exporter appends one for the top layer
 * (normalizeLayersAndHistory). berth writes "local source for NAME" (the local source's description, the
 * exporter's comment) where the layer is, and the build moves it to the image's end (history.ts
 * `exporterHistory`), described as the top layer then is.
 */
export async function fromContextFiles(
  from: Instruction,
  baseText: string,
  name: string,
  dockerfileName: string,
  step: (ins: Instruction, where: string) => StepContext,
  dry: boolean,
): Promise<void> {
  const [ins] = parseDockerfile(`COPY --from=${name} / /\n`, dockerfileName).instructions;
  const line = from.line;
  const where = `${dockerfileName}:${line}`;
  const copy = { ...ins!, line, endLine: line };
  try {
    await copyInstruction({
      ...step(copy, where),
      history: { createdBy: `local source for ${name}`, comment: "buildkit.exporter.image.v0" },
    });
  } catch (err) {
    if (dry) throw err;
    throw wrapError(`${where}: FROM ${baseText} (--build-context ${name})`, err);
  }
}
