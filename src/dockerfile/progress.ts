/**
 * A Dockerfile build's progress as BuildKit's solve status has it (the CLI's `--progress rawjson` writes it): each
 * step a vertex that starts, gets its RUN output as logs, and ends cached, done or with an error; each image
 * destination a vertex whose blobs are statuses; reading the Dockerfile, cache imports and exports and `-o`
 * exports vertexes of the build's own work. README: "berth build".
 */
import type { BlobEvent } from "../oci/sink.ts";
import { cacheKey } from "./cache.ts";

/** Milliseconds since the epoch, to the microsecond. */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * One change of a build's progress; `at`: milliseconds since the epoch, to the microsecond (BuildKit's display
 * orders vertexes by their start: a cached build's steps start within the same millisecond).
 */
export type StepEvent =
  | { type: "start"; vertex: string; name: string; inputs: readonly string[]; at: number }
  | { type: "done"; vertex: string; cached: boolean; at: number }
  /** `error` undefined: the step was stopped because another failed (BuildKit's "context canceled"). */
  | { type: "error"; vertex: string; error: string | undefined; at: number }
  | { type: "log"; vertex: string; stream: "stdout" | "stderr"; data: Buffer; at: number }
  /**
   * A warning: a build check's, in BuildKit's short form `Rule: message (line N)` with its rule's description
   * (`detail`), URL and the Dockerfile's lines it is about; or a cache's that cannot be used.
   */
  | {
      type: "warning";
      vertex: string;
      short: string;
      detail?: string[];
      url?: string;
      lines?: { start: number; end: number };
      at: number;
    }
  | {
      type: "status";
      vertex: string;
      /** The status's id, unique in its vertex (`pushing sha256:…`). */
      id: string;
      total: number;
      current: number;
      started: number;
      completed: number | undefined;
      at: number;
    };

/**
 * A step's vertex digest (BuildKit's is its LLB operation's digest: the operation and its inputs' digests): a
 * digest of the stage's definition key before the step (the chain of its steps' definitions, as `--from`
 * readers key on it; empty at FROM), the platform, the stage's index in the Dockerfile, the step's position in
 * the stage and its text. The same for the same Dockerfile, build args and base images, on any machine.
 */
export function vertexDigest(
  platform: string,
  stage: number,
  position: number,
  text: string,
  defKey: string,
): string {
  return cacheKey("vertex", platform, stage, position, text, defKey);
}

/** The steps open in one build, by stage index: what their events name. Silent without an `emit`. */
export class StepProgress {
  readonly #emit: ((e: StepEvent) => void) | undefined;
  readonly #platform: string;
  readonly #open = new Map<number, string>();
  readonly #last = new Map<number, string>();
  readonly #count = new Map<number, number>();

  constructor(emit: ((e: StepEvent) => void) | undefined, platform: string) {
    this.#emit = emit;
    this.#platform = platform;
  }

  /** A step of stage `stage` starts, named as the plain display prints it; its input is the stage's last step. */
  start(stage: number, text: string, name: string, defKey: string): void {
    if (!this.#emit) return;
    const position = (this.#count.get(stage) ?? 0) + 1;
    this.#count.set(stage, position);
    const vertex = vertexDigest(this.#platform, stage, position, text, defKey);
    const last = this.#last.get(stage);
    this.#open.set(stage, vertex);
    this.#last.set(stage, vertex);
    this.#emit({ type: "start", vertex, name, inputs: last ? [last] : [], at: now() });
  }

  /** Stage `stage`'s open step is through. */
  done(stage: number, cached: boolean): void {
    const vertex = this.#open.get(stage);
    if (!this.#emit || vertex === undefined) return;
    this.#open.delete(stage);
    this.#emit({ type: "done", vertex, cached, at: now() });
  }

  /** Stage `stage` failed (`error`), or was stopped (undefined): its open step ends so. */
  fail(stage: number, error: string | undefined): void {
    const vertex = this.#open.get(stage);
    if (!this.#emit || vertex === undefined) return;
    this.#open.delete(stage);
    this.#emit({ type: "error", vertex, error, at: now() });
  }

  /**
   * A warning about stage `stage`'s open step, else its last one (the build definition's, once read); `more`:
   * a build check's description, URL and lines.
   */
  warn(
    stage: number,
    short: string,
    more: { detail?: string[]; url?: string; lines?: { start: number; end: number } } = {},
  ): void {
    const vertex = this.#open.get(stage) ?? this.#last.get(stage);
    if (!this.#emit || vertex === undefined) return;
    this.#emit({ type: "warning", vertex, short, ...more, at: now() });
  }

  /** Output of stage `stage`'s open step (RUN). */
  log(stage: number, data: Buffer, stream: "stdout" | "stderr"): void {
    const vertex = this.#open.get(stage);
    if (!this.#emit || vertex === undefined) return;
    this.#emit({ type: "log", vertex, stream, data, at: now() });
  }
}

/** A vertex of the build's own work (a cache import or export, an image write): started when made. */
export interface WorkProgress {
  readonly vertex: string;
  /** A warning about it (a cache that cannot be used, ignore-error=true). */
  warn(short: string): void;
  /** It is through, or failed with `err`. */
  end(err?: unknown): void;
}

/** Start a vertex named `name` (its digest: of the name and `key`); without an `emit`, nothing is said. */
export function workProgress(
  emit: ((e: StepEvent) => void) | undefined,
  name: string,
  key: string,
): WorkProgress {
  const vertex = cacheKey("vertex", name, key);
  emit?.({ type: "start", vertex, name, inputs: [], at: now() });
  return {
    vertex,
    warn: (short) => emit?.({ type: "warning", vertex, short, at: now() }),
    end: (err) => {
      const at = now();
      if (err === undefined) emit?.({ type: "done", vertex, cached: false, at });
      else emit?.({ type: "error", vertex, error: err instanceof Error ? err.message : String(err), at });
    },
  };
}

/** Run `fn` as a vertex named `name` (`workProgress`), ended with its error if it throws. */
export async function asWork<T>(
  emit: ((e: StepEvent) => void) | undefined,
  name: string,
  fn: () => Promise<T>,
): Promise<T> {
  const work = workProgress(emit, name, "");
  try {
    const r = await fn();
    work.end();
    return r;
  } catch (err) {
    work.end(err);
    throw err;
  }
}

/** The vertex name of writing the target's files to `-o` exports. */
export function filesystemExportName(exports: readonly { text: string }[]): string {
  return `exporting the filesystem to ${exports.map((e) => `-o ${e.text}`).join(", ")}`;
}

/**
 * The vertex of writing an image to a destination (BuildKit's "exporting to image"), its blobs statuses: `onBlob`
 * for the copy's hooks, then `end` with the copy's error, if any.
 */
export function destinationProgress(
  emit: (e: StepEvent) => void,
  destination: string,
  digest: string,
  push: boolean,
): { onBlob: (e: BlobEvent) => void; end: (err?: unknown) => void } {
  const { vertex, end } = workProgress(emit, `exporting to ${destination}`, digest);
  const started = new Map<string, number>();
  const verb = push ? "pushing" : "writing";
  const onBlob = (e: BlobEvent): void => {
    const { digest: d, size } = e.descriptor;
    const at = now();
    if (e.type === "start") started.set(d, at);
    const since = started.get(d) ?? at;
    const current = e.type === "progress" ? e.bytes : e.type === "done" ? size : 0;
    const completed = e.type === "done" ? at : undefined;
    emit({ type: "status", vertex, id: `${verb} ${d}`, total: size, current, started: since, completed, at });
  };
  return { onBlob, end };
}
