/**
 * A step made early: a COPY from the build context whose layer is made while its stage waits for another stage
 * (`COPY --from`), against the stage's filesystem as the key pass sees it (its base's layers), every question it
 * asks of that filesystem recorded. When the step's turn comes, the same questions are asked of the stage's
 * filesystem as it is then: the same answers make the same layer (the layer is a function of its sources and
 * of those answers), so it is taken; any other answer and it is dropped, the step made again.
 */
import { rm } from "node:fs/promises";
import type { FsView } from "./rootfs.ts";
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
  if (got.output.layer) await rm(got.output.layer.path, { force: true });
  return undefined;
}

async function sameAnswers(asked: readonly Asked[], view: FsView): Promise<boolean> {
  for (const q of asked) {
    const answer = q.op === "lstat" ? await view.lstat(q.rel) : await view.readFile(q.rel);
    if (json(answer) !== q.answer) return false;
  }
  return true;
}
