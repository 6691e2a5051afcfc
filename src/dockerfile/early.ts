/**
 * A step made early: a COPY from the build context whose layer is made while its stage waits for another stage
 * (`COPY --from`), against the stage's filesystem as the key pass sees it (its base's layers), every question it
 * asks of that filesystem recorded. When the step's turn comes, the same questions are asked of the stage's
 * filesystem as it is then: the same answers make the same layer (the layer is a function of its sources and
 * of those answers), so it is taken; any other answer and it is dropped, the step made again.
 */
import { rm } from "node:fs/promises";
import { BerthError } from "../errors.ts";
import type { Instruction } from "./parse.ts";
import type { FsView } from "./rootfs.ts";
import type { Stage } from "./stage.ts";
import type { StepOutput } from "./step.ts";

/** A question asked of a filesystem and its answer (as JSON: the view's answers are plain data). */
interface Asked {
  op: "lstat" | "readFile";
  rel: string;
  answer: string | undefined;
}

/**
 * What a step made early gives its turn: its output, the questions it asked, and `basis`: the step's own inputs
 * that are not questions (its working directory, mtime, compression), as text the turn compares.
 */
export interface EarlyOutput {
  output: StepOutput;
  asked: readonly Asked[];
  basis: string;
}

const json = (v: unknown) => (v === undefined ? undefined : JSON.stringify(v));

/** `view`, with every question asked of it recorded in `asked`. */
function recordingView(view: FsView): { view: FsView; asked: Asked[] } {
  const asked: Asked[] = [];
  return {
    asked,
    view: {
      async lstat(rel) {
        const answer = await view.lstat(rel);
        asked.push({ op: "lstat", rel, answer: json(answer) });
        return answer;
      },
      async readFile(rel) {
        const answer = await view.readFile(rel);
        asked.push({ op: "readFile", rel, answer: json(answer) });
        return answer;
      },
    },
  };
}

/** Make a step's output early against `view`, recording what it asks. */
export async function makeEarly(
  view: FsView,
  basis: string,
  produce: (view: FsView) => Promise<StepOutput>,
): Promise<EarlyOutput> {
  const rec = recordingView(view);
  const output = await produce(rec.view);
  return { output, asked: rec.asked, basis };
}

/**
 * The early output when its `basis` is `basis` and `view` answers every question it asked the same; else
 * undefined, its layer file removed. A step made early that failed is made again (its error, if it is one,
 * comes from that).
 */
export async function adoptEarly(
  early: Promise<EarlyOutput> | undefined,
  view: FsView,
  basis: string,
): Promise<StepOutput | undefined> {
  const got = await early?.catch(() => undefined);
  if (!got) return undefined;
  if (got.basis === basis && (await sameAnswers(got.asked, view))) return got.output;
  await dropEarly(got.output);
  return undefined;
}

/** An early output no step takes: its layer file and held snapshot removed. */
async function dropEarly(output: StepOutput): Promise<void> {
  if (!output.layer) return;
  await output.layer.snapshot?.abandon();
  await rm(output.layer.path, { force: true });
}

async function sameAnswers(asked: readonly Asked[], view: FsView): Promise<boolean> {
  for (const q of asked) {
    const answer = q.op === "lstat" ? await view.lstat(q.rel) : await view.readFile(q.rel);
    if (json(answer) !== q.answer) return false;
  }
  return true;
}

/** A step that can be made early (`EarlySteps`). */
interface Early {
  make: (pace: () => Promise<void>) => Promise<EarlyOutput>;
  wanted?: boolean;
  made?: Promise<EarlyOutput>;
  /** Its turn came: its work goes on whatever else runs. */
  taken?: boolean;
}

/** Whether a step may wait for another stage (`--from`, `RUN --mount=from=`). */
function mayWait(ins: Instruction): boolean {
  return ins.flags.from !== undefined || (ins.flags.mount ?? []).some((m) => /(?:^|,)from=/.test(m));
}

/**
 * A build's steps that can be made early: offered by the key pass (the step missing), wanted when their stage
 * waits for another stage (`want`), started when a RUN's process starts (`processStarted`), taken by the step
 * at its turn (`take`).
 */
export class EarlySteps {
  #steps = new Map<Instruction, Early>();
  /** RUN processes running now: while there are none, work made early holds (`#pace`). */
  #processes = 0;
  /** Work made early held by `#pace`, woken when a process starts or a step takes its work. */
  #held: (() => void)[] = [];
  /** The build is over: work made early and not taken stops (`#pace` throws). */
  #closing = false;
  /** The steps whose output was made early and taken (`StepReport.early`). */
  #taken = new Set<Instruction>();

  /** The key pass found `ins` missing, and `make` makes its output early. */
  offer(ins: Instruction, make: Early["make"]): void {
    this.#steps.set(ins, { make });
  }

  /**
   * `ins` of `stage` waits for another stage: the steps after it that can be made early, up to the next step
   * that may wait for one (whose wait marks those after it), are wanted. They are started by the next RUN
   * whose process starts (`processStarted`): then the build's thread has nothing else to do, and the early work
   * does not delay the stages this one waits for (measured: started at once, it made their steps slower); at
   * once when a RUN's process runs now (the step waits while another stage's RUN runs: the bench project's final
   * stage, whose COPY --from=build yields to test's, waits for test while test's RUN runs).
   */
  want(stage: Stage, ins: Instruction): void {
    const list = stage.instructions;
    const from = list.indexOf(ins) + 1;
    if (from === 0) return;
    let end = from;
    while (end < list.length && !mayWait(list[end]!)) end++;
    for (const next of list.slice(from, end)) {
      const e = this.#steps.get(next);
      if (e) e.wanted = true;
    }
    if (this.#processes > 0) this.#start();
  }

  /** A RUN's process started (it ends when `ended` settles): start the steps wanted early. */
  processStarted(ended: Promise<unknown>): void {
    this.#processes++;
    this.#wake();
    ended.then(() => this.#processes--);
    this.#start();
  }

  /** Start the steps wanted early that are not started yet. */
  #start(): void {
    for (const e of this.#steps.values()) {
      if (!e.wanted || e.made) continue;
      e.made = e.make(() => this.#pace(e));
      e.made.catch(() => undefined);
    }
  }

  /** The early output of `ins`, if it was started; given once, its work going on unheld. */
  take(ins: Instruction): Promise<EarlyOutput> | undefined {
    const e = this.#steps.get(ins);
    this.#steps.delete(ins);
    if (!e?.made) return undefined;
    e.taken = true;
    this.#wake();
    return e.made;
  }

  /** `ins`'s output was made early and taken. */
  made(ins: Instruction): void {
    this.#taken.add(ins);
  }

  madeEarly(ins: Instruction): boolean {
    return this.#taken.has(ins);
  }

  /** The build is over: work made early and never taken stops (it writes into the build's temp folder). */
  async close(): Promise<void> {
    this.#closing = true;
    this.#wake();
    // never taken: the snapshots held for them are dropped (their layers go with the build's temp folder)
    await Promise.allSettled([...this.#steps.values()].map((e) => e.made?.then((m) => dropEarly(m.output))));
  }

  /**
   * Before each entry of a layer made early: go on while a RUN's process runs (the build's thread is idle) or
   * once the step's turn came; else hold, so that the steps of the stages it waits for are not slowed (measured:
   * writing on after the process ended made their steps slower by more than the early work saved).
   */
  async #pace(e: Early): Promise<void> {
    while (!e.taken && this.#processes === 0) {
      if (this.#closing) throw new BerthError("INTERNAL", "the build ended before this step's turn");
      await new Promise<void>((resolve) => this.#held.push(resolve));
    }
  }

  #wake(): void {
    for (const resolve of this.#held.splice(0)) resolve();
  }
}
