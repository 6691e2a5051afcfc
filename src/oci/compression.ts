import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { chain } from "../util/stream.ts";
import { type Compression, sniffCompression } from "./mediatype.ts";
import { ZstdFrames } from "./zstd.ts";

/**
 * Peek at a stream's first bytes without consuming them; read on from the stream returned. That is `stream`
 * itself, except when `stream` ended within the peek (a stream shorter than `n`): bytes cannot be put back
 * into an ended stream, so a new one carries them.
 */
export async function peek(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let have = 0;
  for (;;) {
    if (have >= n) break;
    const chunk: Buffer | null = stream.read();
    if (chunk === null) {
      if (stream.readableEnded) break;
      // destroyed (its writer gave up): no event is coming
      if (stream.destroyed) throw stream.errored ?? new Error("the stream was closed before it ended");
      const ended = await new Promise<boolean>((resolve, reject) => {
        const onReadable = () => done(false);
        const onEnd = () => done(true);
        const onError = (err: Error) => {
          cleanup();
          reject(err);
        };
        const onClose = () => onError(stream.errored ?? new Error("the stream was closed before it ended"));
        const cleanup = () => {
          stream.off("readable", onReadable);
          stream.off("end", onEnd);
          stream.off("error", onError);
          stream.off("close", onClose);
        };
        const done = (v: boolean) => {
          cleanup();
          resolve(v);
        };
        stream.on("readable", onReadable);
        stream.on("end", onEnd);
        stream.on("error", onError);
        stream.on("close", onClose);
      });
      if (ended) break;
      continue;
    }
    chunks.push(chunk);
    have += chunk.length;
  }
  const head = Buffer.concat(chunks);
  if (stream.readableEnded) return { head, stream: Readable.from(head.length > 0 ? [head] : []) };
  if (head.length > 0) stream.unshift(head);
  return { head: head.subarray(0, n), stream };
}

/** Decompress a layer stream, detecting gzip or zstd from its magic bytes. */
export async function decompress(stream: Readable): Promise<Readable> {
  const peeked = await peek(stream, 4);
  return decompressAs(peeked.stream, sniffCompression(peeked.head));
}

/** Output chunk of the decompressors: zlib's 16 KiB default makes ten times the stream traffic downstream. */
const CHUNK = 256 * 1024;

export function decompressAs(stream: Readable, compression: Compression): Readable {
  if (compression === "none") return stream;
  const options = { chunkSize: CHUNK };
  // zstd through ZstdFrames: Node's decoder alone stops after the first frame of a multi-frame layer.
  return chain(stream, compression === "gzip" ? createGunzip(options) : new ZstdFrames(options));
}

/** The compression of a stream, from its first bytes (a stream shorter than 4 bytes is read out: it is "none"). */
export async function detectCompression(stream: Readable): Promise<Compression> {
  const { head } = await peek(stream, 4);
  return sniffCompression(head);
}
