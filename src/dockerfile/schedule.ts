/**
 * Which stages can build at the same time (issue 20, "Speed"): a stage starts once the stage it is built FROM
 * is built, and a step that reads another stage (`COPY/ADD --from=`, `RUN --mount=from=`) waits there for that
 * stage, giving its slot to others meanwhile; so stages run concurrently, at most `jobs` at once, as BuildKit's
 * solver runs independent vertices, and a stage's steps before its first `--from` overlap the stages it reads.
 * Each stage's result depends only on its own instructions and the results of the stages it reads, so the
 * digests are the same whatever the order (test/dockerfile/parallel.test.ts builds with 1 job and with several).
 */
import { availableParallelism } from "node:os";
import { StringDecoder } from "node:string_decoder";
import type { Vars } from "./expand.ts";
import { expandWord } from "./expand.ts";
import { findBaseStage, type Stage } from "./stage.ts";

/** The default number of stages built at once: the machine's CPUs, at least 2 (steps wait on runc and disks). */
export function defaultStageJobs(): number {
  return Math.max(2, availableParallelism());
}

/** For each stage (by index), the earlier stage it is built FROM, if any: what it needs before it starts. */
export function baseStages(all: readonly Stage[], stages: readonly Stage[], globals: Vars) {
  const deps = new Map<number, number>();
  for (const s of stages) {
    const base = findBaseStage(all, expandWord(s.baseText, globals).value, s.index);
    if (base) deps.set(s.index, base.index);
  }
  return deps;
}

/**
 * The stages whose layers no image takes: all but the target and the stages it is built FROM (directly or
 * not). Their layers need no compression (only the build's own steps and the step cache read them).
 */
export function unexportedStages(
  all: readonly Stage[],
  stages: readonly Stage[],
  target: Stage,
  globals: Vars,
): Set<number> {
  const bases = baseStages(all, stages, globals);
  const out = new Set(stages.map((s) => s.index));
  for (let i: number | undefined = target.index; i !== undefined && out.has(i); i = bases.get(i))
    out.delete(i);
  return out;
}

/**
 * A counting semaphore: at most `size` holders; `acquire` waits for a free slot (first come, first served, so
 * that with one slot the stages build in Dockerfile order).
 */
export class Slots {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = Math.max(1, size);
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * The order in which the steps waiting for a stage's files take them (issue 20): a step that leads to a RUN goes
 * before one of the target stage that only feeds the exported image (no RUN after it in its stage). A leading
 * read holds the stage (`lead`) until its stage starts its next RUN's process (or finds that RUN in the cache)
 * or is through; a read that only feeds the export waits for the holds pending then (`yieldTo`), so that the
 * hand-off to the next RUN has the build's thread to itself. Nothing waits for the target stage, so the wait
 * cannot go round in a circle.
 */
export class ReadOrder {
  #holds = new Map<number, Set<Promise<void>>>();

  /** A step leading to a RUN reads stage `index`: held until the returned function is called (once or more). */
  lead(index: number): () => void {
    const set = this.#holds.get(index) ?? new Set<Promise<void>>();
    this.#holds.set(index, set);
    let release: () => void = () => undefined;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    set.add(hold);
    void hold.then(() => set.delete(hold));
    return release;
  }

  /** What a read of stage `index` that only feeds the export waits for: the holds pending now (none: undefined). */
  yieldTo(index: number): Promise<void> | undefined {
    const holds = this.#holds.get(index);
    return holds?.size ? Promise.all(holds).then(() => undefined) : undefined;
  }
}

/**
 * Turns RUN output of concurrently built stages into whole lines prefixed with the stage (`[stage 2/4] `), so
 * that each step's output stays readable; `flush` writes a last line without its newline.
 */
export class LinePrefixer {
  readonly #prefix: string;
  readonly #write: (chunk: Buffer, stream: "stdout" | "stderr") => void;
  #partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  // a character split across chunks is decoded whole
  #decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };

  constructor(prefix: string, write: (chunk: Buffer, stream: "stdout" | "stderr") => void) {
    this.#prefix = prefix;
    this.#write = write;
  }

  push(chunk: Buffer, stream: "stdout" | "stderr"): void {
    const text = this.#partial[stream] + this.#decoders[stream].write(chunk);
    const end = text.lastIndexOf("\n");
    if (end < 0) {
      this.#partial[stream] = text;
      return;
    }
    this.#partial[stream] = text.slice(end + 1);
    const lines = text.slice(0, end).split("\n");
    this.#write(Buffer.from(lines.map((l) => `${this.#prefix}${l}\n`).join("")), stream);
  }

  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partial[stream] === "") continue;
      this.#write(Buffer.from(`${this.#prefix}${this.#partial[stream]}\n`), stream);
      this.#partial[stream] = "";
    }
  }
}

/**
 * The stages the key pass keeps built: the target, the stage a kept stage is built FROM, and the stages a kept
 * stage's steps the caches lack read (`needs`); in the order of `stages`.
 */
export function keptStages(
  all: readonly Stage[],
  stages: readonly Stage[],
  target: Stage,
  globals: Vars,
  needs: (index: number) => Iterable<number>,
): Stage[] {
  const bases = baseStages(all, stages, globals);
  const kept = new Set<number>();
  const keep = (index: number) => {
    if (kept.has(index)) return;
    kept.add(index);
    const base = bases.get(index);
    if (base !== undefined) keep(base);
    for (const n of needs(index)) keep(n);
  };
  keep(target.index);
  return stages.filter((s) => kept.has(s.index));
}

/**
 * The stages of a build as they run: each started once (`start`), its work done in a slot (`inSlot`: at most
 * `jobs` at once); the first failure aborts the others (`abort`: their RUN steps are stopped, no new step starts)
 * and is what `settled` throws, once every stage has stopped.
 */
export class StageRuns<T> {
  readonly #runs = new Map<number, Promise<T>>();
  readonly #finished = new Set<number>();
  readonly #slots: Slots;
  readonly #abort: AbortController;
  #failure: { err: unknown } | undefined;

  constructor(jobs: number, abort: AbortController) {
    this.#slots = new Slots(jobs);
    this.#abort = abort;
  }

  /** How many stages were started. */
  get size(): number {
    return this.#runs.size;
  }

  /** Stage `index`'s run, if it was started. */
  get(index: number): Promise<T> | undefined {
    return this.#runs.get(index);
  }

  /** Whether stage `index`'s run is over (built or failed). */
  finished(index: number): boolean {
    return this.#finished.has(index);
  }

  /**
   * Start stage `index` (`run`); its failure is the build's, unless another came first. `failed`: told of its
   * failure, and whether it is the first.
   */
  start(index: number, run: () => Promise<T>, failed?: (err: unknown, first: boolean) => void): Promise<T> {
    const p = run();
    const done = () => this.#finished.add(index);
    p.then(done, done);
    p.catch((err: unknown) => {
      failed?.(err, !this.#failure);
      if (this.#failure) return;
      this.#failure = { err };
      this.#abort.abort(err);
    });
    this.#runs.set(index, p);
    return p;
  }

  /** `work` in a slot (waited for), unless the build was aborted by then. */
  async inSlot(work: () => Promise<void>): Promise<void> {
    await this.#slots.acquire();
    try {
      this.#abort.signal.throwIfAborted();
      await work();
    } finally {
      this.#slots.release();
    }
  }

  /** Wait for `p` from inside `inSlot`, the slot given to others meanwhile. */
  async withoutSlot<U>(p: Promise<U>): Promise<U> {
    this.#slots.release();
    try {
      return await p;
    } finally {
      await this.#slots.acquire();
    }
  }

  /** Every stage started (also those started meanwhile), stopped; the first failure thrown. */
  async settled(): Promise<void> {
    // a stage started later is awaited by the stage that reads it
    await Promise.allSettled(this.#runs.values());
    if (this.#failure) throw this.#failure.err;
  }
}
