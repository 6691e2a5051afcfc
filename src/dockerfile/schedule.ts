/**
 * Which stages can build at the same time (issue 20, "Speed"): a stage depends on the stage it is built FROM
 * and on the stages its instructions read (`COPY/ADD --from=`, `RUN --mount=from=`); stages whose dependencies
 * are built run concurrently, at most `jobs` at once, as BuildKit's solver runs independent vertices. Each
 * stage's result depends only on its own instructions and its dependencies' results, so the digests are the
 * same whatever the order (test/dockerfile/parallel.test.ts builds with 1 job and with several).
 */
import { availableParallelism } from "node:os";
import { StringDecoder } from "node:string_decoder";
import type { Vars } from "./expand.ts";
import { expandWord } from "./expand.ts";
import { findStage, type Stage, stageRefs } from "./stage.ts";

/** The default number of stages built at once: the machine's CPUs, at least 2 (steps wait on runc and disks). */
export function defaultStageJobs(): number {
  return Math.max(2, availableParallelism());
}

/** For each stage (by index), the indexes of the earlier stages it needs before it starts. */
export function stageDependencies(all: readonly Stage[], stages: readonly Stage[], globals: Vars) {
  const deps = new Map<number, number[]>();
  for (const s of stages) {
    const out = new Set<number>();
    const base = findStage(all, expandWord(s.baseText, globals).value, s.index);
    if (base) out.add(base.index);
    for (const ins of s.instructions) {
      for (const ref of stageRefs(ins, globals)) {
        const dep = findStage(all, ref, s.index);
        if (dep) out.add(dep.index);
      }
    }
    deps.set(s.index, [...out]);
  }
  return deps;
}

/** A counting semaphore: at most `size` holders; `acquire` waits for a free slot (first come, first served). */
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
