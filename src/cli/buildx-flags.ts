/**
 * docker buildx's output flags of `build`, read as berth's: `--progress` (and `BUILDKIT_PROGRESS`), `--push` and
 * `--load`. README: "berth build".
 */
import { BerthError } from "../errors.ts";
import { parseImageArgument } from "../transport/parse.ts";
import type { Output } from "./output.ts";

/** buildx's progress modes; `rawjson`: BuildKit's SolveStatus stream, one JSON object a line (rawjson.ts). */
export type ProgressMode = "auto" | "plain" | "tty" | "quiet" | "rawjson";

/**
 * The progress mode: `--progress` over `BUILDKIT_PROGRESS` (as buildx reads it), default auto. An unknown value
 * is refused naming where it came from.
 */
export function progressMode(
  flag: string | undefined,
  env: Record<string, string | undefined>,
): ProgressMode {
  const from = progressSource(flag);
  const v = flag ?? (env.BUILDKIT_PROGRESS || "auto");
  switch (v) {
    case "auto":
    case "plain":
    case "tty":
    case "quiet":
    case "rawjson":
      return v;
    default:
      throw new BerthError("USAGE", `${from} ${JSON.stringify(v)} is not a progress mode`, {
        hint: "give auto, plain, tty, quiet or rawjson",
      });
  }
}

/** Where the progress mode came from, for messages: `--progress` when given, else `BUILDKIT_PROGRESS`. */
export function progressSource(flag: string | undefined): string {
  return flag !== undefined ? "--progress" : "BUILDKIT_PROGRESS";
}

/**
 * Apply a mode to the output: plain never redraws in place (stderr is not a terminal to the progress displays),
 * tty always does; auto, quiet (which is -q) and rawjson (whose stream the build command writes) leave stderr
 * as it is.
 */
export function applyProgress(out: Output, mode: ProgressMode): void {
  if (mode !== "plain" && mode !== "tty") return;
  const isTTY = mode === "tty";
  const stderr = out.stderr;
  out.stderr = new Proxy(stderr, {
    get(target, key) {
      if (key === "isTTY") return isTTY;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/**
 * `--push` is `--publish` (buildx: the image to -t's registry); `--load` writes to the store, where berth's images
 * go (buildx: into the docker daemon), so it is refused with a -t of another transport, with --push, and without
 * a -t. Returns whether to publish.
 */
export function pushLoad(
  o: { push?: boolean; load?: boolean; publish?: boolean },
  tag: string | undefined,
): boolean {
  const publish = Boolean(o.publish || o.push);
  if (!o.load) return publish;
  if (publish) {
    throw new BerthError(
      "USAGE",
      `--load writes the image to the store, and ${o.push ? "--push" : "--publish"} to its registry`,
      {
        hint: "give one: --load (the store) or --push (the registry -t names)",
      },
    );
  }
  if (tag === undefined) {
    throw new BerthError("USAGE", "--load writes -t's image to the store, and this build has no -t", {
      hint: "add -t NAME[:TAG]",
    });
  }
  if (parseImageArgument(tag).transport !== "store") {
    throw new BerthError("USAGE", `--load writes to the store, and -t ${tag} names another place`, {
      hint: "give a store name (-t app:1) with --load, or leave --load out",
    });
  }
  return false;
}
