/**
 * The snapshots a build makes ahead of the RUN steps that need them: a base image's, in the background from the
 * key pass on (`Warmings`), and a layer's, made from the tar as a step writes it (`snapshotted`,
 * `earlySnapshotted`), so that a RUN does not begin by unpacking what came before it.
 */
import type { Writable } from "node:stream";
import type { Digest } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import type { StreamedSnapshot } from "../runtime/index.ts";
import { chainPresent } from "../runtime/snapshot-dir.ts";
import { streamedSnapshot, unpackingLine, type WarmOptions, warmSnapshots } from "./rootfs.ts";
import type { Stage } from "./stage.ts";
import type { HeldSnapshot } from "./step.ts";

/** What the warmings of a build share: `warmSnapshots`' options but `after`, and whether a cache was imported. */
export interface WarmingOptions extends Omit<WarmOptions, "after" | "onUnpack" | "signal"> {
  /** The build's signal (a warming also stops on its own: `stop`). */
  signal: AbortSignal;
  log: (line: string) => void;
  /** Whether the build imported a cache (which may leave the stage out: nothing is made before the key pass ends). */
  imported: () => boolean;
}

export class Warmings {
  readonly #o: WarmingOptions;
  /** Base images whose snapshots are made in the background, by digest; none of these rejects. */
  #warming = new Map<string, Promise<void>>();
  /** Per warming, by digest: the stages whose key pass asked for it, and what stops it (`stop`). */
  #for = new Map<string, { stages: Set<number>; from?: number; stop: AbortController }>();
  /** Settles when the key pass is over and the warmings it left without a stage are stopped (`WarmOptions.after`). */
  #planEnded: () => void = () => undefined;
  #planned = new Promise<void>((resolve) => {
    this.#planEnded = resolve;
  });

  constructor(o: WarmingOptions) {
    this.#o = o;
  }

  /** The warming of `image`'s snapshots, if one was started. */
  of(image: Image | undefined): Promise<void> | undefined {
    return image && this.#warming.get(image.digest);
  }

  /**
   * Start making `image`'s snapshots in the background (`warmSnapshots`), once a build: the key pass found a
   * step that will need them, and a stage's first RUN would otherwise begin by unpacking its base; or (`atFrom`)
   * it is at a stage's FROM, and no stage asks for them yet (`atFrom`).
   */
  warm(image: Image | undefined, stage: number, atFrom = false): void {
    if (!image) return;
    const asked = this.#for.get(image.digest);
    if (asked) {
      if (!atFrom) asked.stages.add(stage);
      return;
    }
    const stop = new AbortController();
    const stages = new Set(atFrom ? [] : [stage]);
    this.#for.set(image.digest, { stages, ...(atFrom ? { from: stage } : {}), stop });
    const { imported, log, signal, ...o } = this.#o;
    const warming = warmSnapshots(image, {
      ...o,
      signal: AbortSignal.any([signal, stop.signal]),
      onUnpack: (n) => log(unpackingLine(n)),
      // a cache import may leave the stage out (`stop`): nothing is made before the key pass says
      after: imported() ? this.#planned : undefined,
    });
    this.#warming.set(image.digest, warming);
  }

  /**
   * Start a base image's snapshots at the key pass's FROM of a stage that has a RUN, before the pass reaches that
   * RUN (in the bench project's cold build the pass gets there ~20 ms later, hashing the context for COPY deps/,
   * and the RUN then waited ~12 ms for the snapshot): when the image's snapshot chain is not on disk (a stat of
   * its top snapshot, `chainPresent`, no runtime loaded) and no cache is imported (an import can leave the stage
   * out: `warm` makes nothing before the pass ends then). A missing chain mostly means a fresh BERTH_HOME,
   * whose cache lacks the RUN too. Asked for by no stage, the warming is stopped at the pass's end
   * (`stop`) unless a RUN the caches lack asks for it meanwhile; so when the guess is wrong (the RUNs
   * cached, the snapshots pruned or made before a reboot) it costs at most the key pass's length of unpacking
   * in the background (the runtime and the layer engine loaded: ~10 ms of CPU), and leaves nothing half-made.
   */
  atFrom(stage: Stage, image: Image): void {
    if (this.#o.imported() || !stage.instructions.some((ins) => ins.keyword === "RUN")) return;
    if (chainPresent(this.#o.home, image.imageConfig().rootfs.diff_ids)) return;
    this.warm(image, stage.index, true);
  }

  /** The key pass stopped part way (every stage is built): the warmings stages' FROMs started are kept. */
  keepAtFrom(): void {
    for (const w of this.#for.values()) if (w.from !== undefined) w.stages.add(w.from);
  }

  /**
   * The key pass is over. Stop the warmings that only stages the build leaves out asked for: the key pass found
   * RUNs the caches lack in them, but a step further on was found in a cache (with a cache import, the target
   * stage's steps often are), and their snapshots would be made for nothing, on the main thread while the image
   * is fetched and written (a fresh machine with the bench project's inline cache: ~12 ms of CPU then). A step
   * that reads such a stage after all makes the snapshots itself.
   */
  planned(planned: readonly Stage[]): void {
    const kept = new Set(planned.map((s) => s.index));
    for (const { stages, stop } of this.#for.values()) {
      if (![...stages].some((n) => kept.has(n))) stop.abort();
    }
    this.#planEnded();
  }

  /** Every warming, settled (the build ends, the key pass too if it had not). */
  async settled(): Promise<void> {
    this.#planEnded();
    await Promise.all(this.#warming.values());
  }
}

/** `write` given a stream that makes the layer's snapshot over `image` from its tar (none where it cannot be). */
async function teedWrite<T>(
  home: string,
  image: Image,
  write: (tee: Writable | undefined) => Promise<T>,
): Promise<{ out: T; snapshot: StreamedSnapshot | undefined }> {
  const snapshot = await streamedSnapshot(home, image);
  const out = await write(snapshot?.input).catch(async (err: unknown) => {
    await snapshot?.abandon();
    throw err;
  });
  return { out, snapshot };
}

/**
 * `StepContext.snapshotting`: the layer over `image` written by `write`, its snapshot made from the tee and
 * finished in the background (`later`).
 */
export async function snapshotted<T extends { diffId: Digest }>(
  home: string,
  image: Image,
  write: (tee: Writable | undefined) => Promise<T>,
  later: (work: Promise<void>) => void,
): Promise<T> {
  const { out, snapshot } = await teedWrite(home, image, write);
  if (snapshot) later(snapshot.finish(out.diffId));
  return out;
}

/**
 * `StepContext.earlySnapshotting`: the layer written early over `image` (the key pass's: its base's layers),
 * its snapshot made from the tee and held; the step that takes it places it over the stage's layers.
 */
export async function earlySnapshotted<T extends { diffId: Digest }>(
  home: string,
  image: Image,
  write: (tee: Writable | undefined) => Promise<T>,
): Promise<T & { snapshot?: HeldSnapshot }> {
  const { out, snapshot } = await teedWrite(home, image, write);
  if (!snapshot) return out;
  const held: HeldSnapshot = {
    place: (parents) => snapshot.finish(out.diffId, parents),
    abandon: () => snapshot.abandon(),
  };
  return { ...out, snapshot: held };
}
