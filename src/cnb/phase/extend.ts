/**
 * The extend phase (Platform API 0.12+, lc phase/extender.go): the `build.Dockerfile`s the generate phase
 * collected are applied, in group order, to the build image (the builder) and the build phase then runs in
 * the result; the `run.Dockerfile`s that do more than switch the run image are applied to the run image, and
 * the layers they add go into the app image with the extended image's config, as the lifecycle's exporter
 * takes them from `<extended>/run`. Each Dockerfile gets the build args `build_id`, `user_id`, `group_id`
 * (from the image's `User`), `base_image`, then those of the extension's `extend-config.toml`.
 *
 * The lifecycle applies them with kaniko, as root, in its own container. berth applies them with its own
 * Dockerfile engine (src/dockerfile), rootless where berth's builds are. `src/cnb` does not import that engine
 * (ARCHITECTURE.md's folder rules): it asks for a `DockerfileEngine`, which the CLI (or a library user) wires
 * to it.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { BerthError } from "../../errors.ts";
import { assemble, contentLayers } from "../../oci/assemble.ts";
import type { ImageConfig } from "../../oci/config.ts";
import type { Image } from "../../oci/image.ts";
import { isDocker } from "../../oci/mediatype.ts";
import type { PhaseLogger } from "../log.ts";

/** A Dockerfile as the engine parsed it: what the extension rules look at. */
export interface ParsedDockerfile {
  /** ARGs before the first FROM: name and line. */
  globalArgs: { name: string; line: number }[];
  stages: { base: string; line: number; instructions: { keyword: string; line: number }[] }[];
}

export interface ApplyRequest {
  /** The Dockerfile's text and the name errors give it (`<extension>/build.Dockerfile`). */
  text: string;
  name: string;
  /** The build context (the extension's `context[.build|.run]` folder, else the app). */
  contextDir: string;
  buildArgs: Record<string, string>;
  /** Where the image goes (an `oci:` layout argument). */
  destination: string;
  log: (line: string) => void;
  onOutput?: ((chunk: Buffer, stream: "stdout" | "stderr") => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** What the extend phase needs of a Dockerfile engine (berth's: src/dockerfile, wired by the CLI). */
export interface DockerfileEngine {
  /** Parse a Dockerfile; throws (naming `name` and the line) on a syntax error. */
  parse(text: string, name: string): ParsedDockerfile;
  /** Apply a Dockerfile whose FROM is `${base_image}` and write the image to `destination`. */
  apply(req: ApplyRequest): Promise<void>;
  /** Open an image argument written by `apply` (or any other). */
  open(text: string): Promise<{ image: Image; close(): Promise<void> }>;
}

/** A Dockerfile an extension generated (lc `buildpack.DockerfileInfo` + `extend.Dockerfile`). */
export interface GeneratedDockerfile {
  extensionId: string;
  kind: "build" | "run";
  /** Host path, under `<layers>/generated/<id>/`. */
  path: string;
  text: string;
  /** The image a run.Dockerfile switches to (its FROM is not `${base_image}`). */
  withBase?: string;
  /** It has instructions besides FROM. */
  extend: boolean;
  /** A later run.Dockerfile switches the run image: this one has no effect (`run.Dockerfile.ignore`). */
  ignore: boolean;
  /** `extend-config.toml`'s `[[build.args]]` / `[[run.args]]`. */
  args: { name: string; value: string }[];
  /** Host folder of its build context. */
  contextDir: string;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile text an extension must write, not a template
const BASE_REF = "${base_image}";

const RECOMMENDED = ["FROM", "ADD", "ARG", "COPY", "ENV", "LABEL", "RUN", "SHELL", "USER", "WORKDIR"];

/**
 * Check a generated Dockerfile as lc `ValidateBuildDockerfile`/`ValidateRunDockerfile` do: one stage only; a
 * build.Dockerfile starts `ARG base_image` / `FROM ${base_image}`; other instructions than the spec's list are
 * warned about with their line. Errors are one sentence naming the extension, the file and the line.
 */
export function checkDockerfile(
  parsed: ParsedDockerfile,
  kind: "build" | "run",
  extensionId: string,
  api: string,
  warn: (line: string) => void,
): { withBase?: string; extend: boolean } {
  const file = `${kind}.Dockerfile`;
  const fail = (line: number | undefined, msg: string) =>
    new BerthError(
      "CNB_EXTENSION_INVALID",
      `extension ${JSON.stringify(extensionId)}: ${file}${line ? ` line ${line}` : ""}: ${msg}`,
      { hint: "see the Buildpack API's image extension rules for Dockerfiles" },
    );
  if (parsed.stages.length === 0) throw fail(undefined, "has no FROM instruction (it needs one stage)");
  if (parsed.stages.length > 1) {
    throw fail(
      parsed.stages[1]!.line,
      "a second FROM is not allowed (an extension's Dockerfile has one stage)",
    );
  }
  const stage = parsed.stages[0]!;
  for (const c of stage.instructions) {
    if (!RECOMMENDED.includes(c.keyword.toUpperCase())) {
      warn(`${file} command ${c.keyword.toUpperCase()} on line ${c.line} is not recommended`);
    }
  }
  if (kind === "build") {
    if (parsed.globalArgs.length !== 1 || parsed.globalArgs[0]!.name !== "base_image") {
      throw fail(
        parsed.globalArgs[0]?.line ?? stage.line,
        "must start with `ARG base_image` (and no other ARG before FROM)",
      );
    }
    if (stage.base !== BASE_REF) throw fail(stage.line, `must use \`FROM ${BASE_REF}\``);
    return { extend: true };
  }
  const extend = stage.instructions.length > 0;
  // Buildpack API 0.9: a run.Dockerfile may only switch the run image.
  if (extend && api === "0.9") {
    throw fail(stage.instructions[0]!.line, "may only hold FROM for Buildpack API 0.9 extensions");
  }
  return { ...(stage.base !== BASE_REF ? { withBase: stage.base } : {}), extend };
}

/** lc `userFrom`: `User` split at `:` (no group when there is no colon). */
function userOf(image: Image): { user: string; group: string } {
  const u = image.config?.config?.User ?? "";
  const i = u.indexOf(":");
  return i < 0 ? { user: u, group: "" } : { user: u.slice(0, i), group: u.slice(i + 1) };
}

const isRoot = (u: string) => u === "0" || u === "root";

export interface ExtendInputs {
  engine: DockerfileEngine;
  kind: "build" | "run";
  /** The image to extend, as an argument the engine opens (the builder, or the run image pinned). */
  base: string;
  dockerfiles: readonly GeneratedDockerfile[];
  /** Folder for the intermediate and final images (an OCI layout). */
  workDir: string;
  logger: PhaseLogger;
  signal?: AbortSignal | undefined;
}

export interface Extended {
  /** The extended image: for `run`, with the lifecycle's config (history, rebasable label). */
  image: Image;
  /** Its argument (for `build`: what the build phase runs in). */
  argument: string;
  close(): Promise<void>;
}

/** Apply `dockerfiles` of one kind, in order, to `base` (lc `Extender.extend`). */
export async function extendImage(i: ExtendInputs): Promise<Extended> {
  const log = i.logger;
  const layout = join(i.workDir, `extend-${i.kind}`);
  const first = await i.engine.open(i.base);
  const closers = [first.close];
  try {
    const origin = first.image;
    let { user, group } = userOf(origin);
    const origUser = user;
    let base = i.base;
    let current = origin;
    // The run image's own history as it is (the lifecycle's exporter starts from the run image with its history),
    // then one entry per layer an extension added.
    const history: { created_by?: string; created?: string; empty_layer?: boolean }[] = [
      ...(origin.config?.history ?? []),
    ];
    let layerCount = normalizedHistory(origin.config).length;
    let rebasable = true;
    for (const [n, df] of i.dockerfiles.entries()) {
      const args: Record<string, string> = {
        build_id: randomUUID(),
        user_id: user,
        group_id: group,
      };
      for (const a of df.args) args[a.name] = a.value;
      args.base_image = base;
      const destination = `oci:${layout}:${n}`;
      log.info(`Applying ${df.kind}.Dockerfile of extension ${df.extensionId}`);
      await i.engine.apply({
        text: df.text,
        name: `${df.extensionId}/${df.kind}.Dockerfile`,
        contextDir: df.contextDir,
        buildArgs: args,
        destination,
        log: (l) => log.debug(l),
        onOutput: log.output,
        signal: i.signal,
      });
      const opened = await i.engine.open(destination);
      closers.push(opened.close);
      current = opened.image;
      base = destination;
      if (current.config?.config?.Labels?.["io.buildpacks.rebasable"] !== "true") rebasable = false;
      const now = normalizedHistory(current.config);
      for (let k = layerCount; k < now.length; k++) {
        history.push({
          created_by: `Layer: '${now[k]!.created_by ?? ""}', Created by extension: ${df.extensionId}`,
        });
      }
      layerCount = now.length;
      const prev = user;
      ({ user, group } = userOf(current));
      if (isRoot(user)) {
        log.warn(
          `Extension from ${df.path} changed the user ID from ${prev} to ${user}; this must not be the final user ID (a following extension must reset the user).`,
        );
      }
    }
    if (isRoot(user) && i.kind === "run") {
      throw new BerthError(
        "CNB_EXTENSION_INVALID",
        "extending the run image: the final user ID is 0 (root); please add another extension that resets the user to non-root",
      );
    }
    if (user !== origUser) {
      log.warn(
        `The original user ID was ${origUser} but the final extension left the user ID set to ${user}.`,
      );
    }
    if (i.kind === "build") return { image: current, argument: base, close: () => closeAll(closers) };
    // The run image's config as the lifecycle's extender leaves it: rebasable only when every extension said so,
    // one history entry per layer, naming the extension that added it.
    const cfg: ImageConfig = structuredClone(current.imageConfig());
    cfg.config = { ...(cfg.config ?? {}) };
    cfg.config.Labels = { ...(cfg.config.Labels ?? {}), "io.buildpacks.rebasable": String(rebasable) };
    cfg.history = history;
    const diffIds = current.config?.rootfs.diff_ids ?? [];
    const image = assemble(
      cfg,
      contentLayers(
        current
          .layers()
          .map((l, k) => ({ descriptor: l.descriptor, diffId: diffIds[k]!, from: current.source })),
      ),
      { docker: isDocker(current.mediaType) },
    );
    return { image, argument: base, close: () => closeAll(closers) };
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
}

async function closeAll(closers: (() => Promise<void>)[]): Promise<void> {
  for (const c of closers.reverse()) await c().catch(() => undefined);
}

/** imgutil `NormalizedHistory`: one entry per layer (empty-layer entries dropped, missing ones added). */
function normalizedHistory(config: ImageConfig | undefined): { created_by?: string; created?: string }[] {
  const layers = config?.rootfs.diff_ids.length ?? 0;
  const h = (config?.history ?? []).filter((e) => !e.empty_layer);
  const out = h.slice(0, layers).map((e) => ({
    ...(e.created ? { created: e.created } : {}),
    ...(e.created_by ? { created_by: e.created_by } : {}),
  }));
  while (out.length < layers) out.push({});
  return out;
}
