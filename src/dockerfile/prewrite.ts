/**
 * The target image's layers written to its local destinations (the store, an OCI layout) while the build still
 * runs: each layer the target stage gets (its base's at FROM, each step's) is put as soon as it is known, so
 * that writing the image at the end puts only its config, manifest and reference. A destination elsewhere (a
 * registry, an archive) is written at the end only. A build that fails closes the sinks as failed: blobs they
 * put that nothing references are removed, as after a failed copy.
 */

import { putBlobOf } from "../oci/copy.ts";
import type { Digest } from "../oci/digest.ts";
import type { Image } from "../oci/image.ts";
import type { ImageSink } from "../oci/sink.ts";
import type { TransportContext } from "../transport/context.ts";
import { openSink } from "../transport/open.ts";
import type { ImageArgument } from "../transport/parse.ts";

interface Prewritten {
  sink: Promise<ImageSink>;
  puts: Promise<unknown>[];
  taken: boolean;
}

export class Prewriter {
  readonly #to = new Map<ImageArgument, Prewritten>();
  readonly #put = new Set<Digest>();

  constructor(destinations: readonly ImageArgument[], ctx: TransportContext) {
    for (const dest of destinations) {
      if (dest.transport !== "store" && dest.transport !== "oci") continue;
      const sink = openSink(dest, ctx);
      sink.catch(() => undefined);
      this.#to.set(dest, { sink, puts: [], taken: false });
    }
  }

  /** Put `image`'s layers not put yet (but those `skip` names: fetched lazily) into every destination. */
  add(image: Image, skip: (digest: Digest) => boolean = () => false): void {
    for (const desc of image.manifest.layers) {
      if (this.#put.has(desc.digest) || skip(desc.digest)) continue;
      this.#put.add(desc.digest);
      for (const w of this.#to.values()) {
        const put = w.sink.then((sink) => putBlobOf(image.source, desc, sink));
        // a failed put is the final write's to make again (and to report)
        w.puts.push(put.catch(() => undefined));
      }
    }
  }

  /** The sink of `dest` with every put done, given once (the copy that writes the image closes it). */
  async take(dest: ImageArgument): Promise<ImageSink | undefined> {
    const w = this.#to.get(dest);
    if (!w || w.taken) return undefined;
    w.taken = true;
    await Promise.all(w.puts);
    return w.sink;
  }

  /** Close the sinks not taken, as failed (the build did not get to write its image). */
  async close(): Promise<void> {
    for (const w of this.#to.values()) {
      if (w.taken) continue;
      w.taken = true;
      await Promise.all(w.puts);
      const sink = await w.sink.catch(() => undefined);
      await sink?.close(true).catch(() => undefined);
    }
  }
}
