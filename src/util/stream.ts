import type { Readable, Transform } from "node:stream";

/** Pipe `src` into `t`, forwarding an error of `src` to `t`, so the result is one stream to listen to. */
export function chain<T extends Transform>(src: Readable, t: T): T {
  src.on("error", (err) => t.destroy(err));
  t.once("close", () => {
    if (!src.destroyed && !src.readableEnded) src.destroy();
  });
  return src.pipe(t);
}
