import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isBerthError } from "../../errors.ts";
import type { Descriptor } from "../descriptor.ts";
import { walk } from "../walk.ts";
import { type OciLayout, REF_NAME } from "./layout.ts";

export interface FsckProblem {
  /** The index.json entry (tag or digest) through which the problem was found. */
  entry: string;
  digest?: string | undefined;
  code: string;
  message: string;
}

export interface FsckResult {
  images: number;
  blobs: number;
  bytes: number;
  problems: FsckProblem[];
}

const sink = () =>
  new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });

/** Check that every blob reachable from index.json is present and has the size and digest it is named by. */
export async function fsck(layout: OciLayout): Promise<FsckResult> {
  const problems: FsckProblem[] = [];
  let index: Awaited<ReturnType<OciLayout["readIndex"]>>["index"];
  try {
    ({ index } = await layout.readIndex());
  } catch (err) {
    // index.json itself is at fault (a digest berth cannot verify, bad JSON): a problem to report, not a crash.
    if (!isBerthError(err)) throw err;
    const digest = err.details.digest as string | undefined;
    problems.push({
      entry: "index.json",
      code: err.code,
      message: err.message,
      digest: digest || undefined,
    });
    return { images: 0, blobs: 0, bytes: 0, problems };
  }
  const checked = new Set<string>();
  let bytes = 0;
  for (const root of index.manifests) {
    const entry = root.annotations?.[REF_NAME] ?? root.digest;
    let nodes: { descriptor: Descriptor }[];
    try {
      nodes = await walk(layout, root);
    } catch (err) {
      if (!isBerthError(err)) throw err;
      problems.push({
        entry,
        code: err.code,
        message: err.message,
        digest: err.details.digest as string | undefined,
      });
      continue;
    }
    for (const { descriptor } of nodes) {
      if (checked.has(descriptor.digest)) continue;
      checked.add(descriptor.digest);
      try {
        await pipeline(await layout.openBlob(descriptor), sink());
        bytes += descriptor.size;
      } catch (err) {
        if (!isBerthError(err)) throw err;
        problems.push({ entry, digest: descriptor.digest, code: err.code, message: err.message });
      }
    }
  }
  return { images: index.manifests.length, blobs: checked.size, bytes, problems };
}
