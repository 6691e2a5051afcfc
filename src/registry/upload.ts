/**
 * Blob uploads (distribution-spec "push"): monolithic (POST, then one streamed PUT ?digest=) and chunked
 * (PATCH with Content-Range, resumed after a 416 or a dropped connection by asking GET <location> how much
 * arrived). A failed session is abandoned and the upload starts again from a new POST, a few times.
 */
import { Readable, Transform } from "node:stream";
import { BerthError } from "../errors.ts";
import type { Opener } from "../oci/blob.ts";
import { verified } from "../oci/blob.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { transferred } from "../util/memory.ts";
import { responseError } from "./errors.ts";
import type { RegistryHost } from "./host.ts";
import { discard, type HttpResponse, header, isTransientNetworkError, redactUrl } from "./http.ts";

export interface UploadOptions {
  onProgress?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Upload in chunks of this many bytes (otherwise one PUT). */
  chunkSize?: number | undefined;
  /** Whole-upload attempts, each from a new session (default 3). */
  attempts?: number | undefined;
}

interface Target {
  host: RegistryHost;
  repository: string;
  scopes: string[];
}

function nextLocation(res: HttpResponse, current: URL): URL {
  const loc = header(res, "location");
  if (!loc) return current;
  return new URL(loc, current);
}

function withDigest(location: URL, digest: string): URL {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u;
}

/** `POST /v2/<name>/blobs/uploads/`: a new upload session's location. */
export async function startUpload(t: Target, signal?: AbortSignal): Promise<URL> {
  const url = await t.host.url(`/v2/${t.repository}/blobs/uploads/`);
  const step = `starting an upload to ${t.host.registry}/${t.repository}`;
  const res = await t.host.request(step, {
    method: "POST",
    url,
    headers: { "content-length": "0" },
    scopes: t.scopes,
    signal,
  });
  if (res.status !== 202) throw await responseError(step, res);
  await discard(res);
  const loc = header(res, "location");
  if (!loc) throw new BerthError("REGISTRY_ERROR", `${step}: the registry gave no upload location`);
  return new URL(loc, url);
}

/** A source stream, verified against the descriptor, counting progress and the bytes moved (util/memory). */
async function openCounted(
  open: Opener,
  desc: Descriptor,
  onProgress?: (n: number) => void,
): Promise<Readable> {
  const stream = verified(await open(), desc, `blob ${desc.digest}`);
  let n = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      transferred(chunk.length);
      onProgress?.(n);
      cb(null, chunk);
    },
  });
  stream.on("error", (err) => counter.destroy(err));
  return stream.pipe(counter);
}

async function monolithic(
  t: Target,
  location: URL,
  desc: Descriptor,
  open: Opener,
  o: UploadOptions,
): Promise<void> {
  const step = `uploading blob ${desc.digest} to ${t.host.registry}/${t.repository}`;
  const res = await t.host.request(step, {
    method: "PUT",
    url: withDigest(location, desc.digest),
    headers: { "content-type": "application/octet-stream", "content-length": String(desc.size) },
    body: () => openCounted(open, desc, o.onProgress),
    scopes: t.scopes,
    retry: false,
    signal: o.signal,
  });
  if (res.status !== 201) throw await responseError(step, res);
  await discard(res);
}

/** How many bytes an upload session holds, from `GET <location>` (204 with `Range: 0-<last>`). */
export async function uploadedBytes(
  t: Target,
  location: URL,
  signal?: AbortSignal,
): Promise<{ size: number; location: URL }> {
  const step = `checking upload ${redactUrl(location)}`;
  const res = await t.host.request(step, { method: "GET", url: location, scopes: t.scopes, signal });
  if (res.status !== 204 && res.status !== 200) throw await responseError(step, res);
  await discard(res);
  const range = header(res, "range");
  const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim()) : null;
  const last = m ? Number(m[1]) : -1;
  return { size: last <= 0 ? 0 : last + 1, location: nextLocation(res, location) };
}

/**
 * Reads a verified source in consecutive pieces of at most `n` bytes, without buffering a whole chunk: each
 * chunk's body streams from the source as the request sends it. `restartAt` reopens the source and skips to
 * an offset (a resumed session that holds part of a chunk already sent).
 */
class ChunkReader {
  readonly #open: () => Promise<Readable>;
  #it: AsyncIterator<Buffer> | undefined;
  #rest: Buffer | undefined;
  #done = false;

  constructor(open: () => Promise<Readable>) {
    this.#open = open;
  }

  get done(): boolean {
    return this.#done && this.#rest === undefined;
  }

  async #next(): Promise<Buffer | undefined> {
    if (this.#rest) {
      const r = this.#rest;
      this.#rest = undefined;
      return r;
    }
    if (this.#done) return undefined;
    this.#it ??= (await this.#open())[Symbol.asyncIterator]();
    const { value, done } = await this.#it.next();
    if (done) {
      this.#done = true;
      return undefined;
    }
    return value as Buffer;
  }

  /** Whether more bytes follow (reads ahead one piece). */
  async more(): Promise<boolean> {
    const piece = await this.#next();
    if (piece === undefined) return false;
    this.#rest = piece;
    return true;
  }

  /** The next chunk's pieces, as an async iterable sending at most `n` bytes; `sent()` says how many it sent. */
  chunk(n: number): { body: AsyncIterable<Buffer>; sent: () => number } {
    let sent = 0;
    const self = this;
    async function* body(): AsyncGenerator<Buffer> {
      while (sent < n) {
        const piece = await self.#next();
        if (piece === undefined) return;
        const take = Math.min(piece.length, n - sent);
        if (take < piece.length) self.#rest = piece.subarray(take);
        sent += take;
        yield take < piece.length ? piece.subarray(0, take) : piece;
      }
    }
    return { body: body(), sent: () => sent };
  }

  /** Reopen the source and skip `offset` bytes. */
  async restartAt(offset: number): Promise<void> {
    await this.#it?.return?.();
    this.#it = undefined;
    this.#rest = undefined;
    this.#done = false;
    let skip = offset;
    while (skip > 0) {
      const piece = await this.#next();
      if (piece === undefined)
        throw new BerthError("REGISTRY_ERROR", `the source ended before byte ${offset}`);
      if (piece.length > skip) this.#rest = piece.subarray(skip);
      skip -= Math.min(skip, piece.length);
    }
  }

  async close(): Promise<void> {
    await this.#it?.return?.();
  }
}

async function chunked(
  t: Target,
  location: URL,
  desc: Descriptor,
  open: Opener,
  o: UploadOptions,
): Promise<void> {
  const size = o.chunkSize ?? 16 * 1024 * 1024;
  const step = `uploading blob ${desc.digest} to ${t.host.registry}/${t.repository}`;
  const reader = new ChunkReader(() => openCounted(open, desc));
  let offset = 0;

  const sendChunk = async () => {
    let want = Math.min(size, desc.size - offset);
    for (let tries = 0; ; tries++) {
      const start = offset;
      const piece = reader.chunk(want);
      let res: HttpResponse | undefined;
      let failure: unknown;
      try {
        res = await t.host.request(step, {
          method: "PATCH",
          url: location,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(want),
            "content-range": `${start}-${start + want - 1}`,
          },
          body: () => Readable.from(piece.body, { objectMode: false }),
          scopes: t.scopes,
          retry: false,
          signal: o.signal,
        });
      } catch (err) {
        if (!isTransientNetworkError((err as { cause?: unknown }).cause ?? err)) throw err;
        failure = err;
      }
      if (res && res.status === 202) {
        location = nextLocation(res, location);
        await discard(res);
        offset = start + want;
        o.onProgress?.(offset);
        return;
      }
      if (res && res.status !== 416 && res.status < 500) throw await responseError(step, res);
      if (res) await discard(res);
      if (tries >= 4) {
        throw (
          failure ??
          new BerthError(
            "REGISTRY_ERROR",
            `${step}: chunk at ${start} kept failing (last status ${res?.status})`,
          )
        );
      }
      // Resume: ask the session how much arrived, reopen the source there and send the rest of this chunk.
      const have = await uploadedBytes(t, location, o.signal);
      location = have.location;
      const chunkEnd = start + want;
      if (have.size < start || have.size > chunkEnd) {
        throw new BerthError(
          "REGISTRY_ERROR",
          `${step}: the session holds ${have.size} bytes, cannot resume at ${start}`,
        );
      }
      await reader.restartAt(have.size);
      offset = have.size;
      want = chunkEnd - have.size;
      if (want === 0) return;
    }
  };

  try {
    while (offset < desc.size) await sendChunk();
    // The source must end here: a longer one fails its verification when read to the end.
    if (await reader.more()) {
      throw new BerthError(
        "SIZE_MISMATCH",
        `blob ${desc.digest} is longer than the ${desc.size} bytes expected`,
      );
    }
  } finally {
    await reader.close();
  }
  const res = await t.host.request(step, {
    method: "PUT",
    url: withDigest(location, desc.digest),
    headers: { "content-length": "0" },
    scopes: t.scopes,
    signal: o.signal,
  });
  if (res.status !== 201) throw await responseError(step, res);
  await discard(res);
}

function retryable(err: unknown): boolean {
  if (isTransientNetworkError(err)) return true;
  if (err instanceof BerthError) {
    if (err.code === "REGISTRY_UNREACHABLE") return true;
    const status = err.details.status;
    if (typeof status === "number" && (status >= 500 || status === 429 || status === 404 || status === 416))
      return true;
    const errors = err.details.errors as { code: string }[] | undefined;
    if (errors?.some((e) => e.code === "BLOB_UPLOAD_INVALID" || e.code === "BLOB_UPLOAD_UNKNOWN"))
      return true;
  }
  return false;
}

/** Upload a blob into a session (from `startUpload` or a mount that answered 202), retrying from scratch. */
export async function uploadBlob(
  t: Target,
  desc: Descriptor,
  open: Opener,
  options: UploadOptions = {},
  location?: URL,
): Promise<void> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1; ; attempt++) {
    try {
      const loc = location ?? (await startUpload(t, options.signal));
      location = undefined;
      if (options.chunkSize !== undefined && desc.size > options.chunkSize)
        await chunked(t, loc, desc, open, options);
      else await monolithic(t, loc, desc, open, options);
      return;
    } catch (err) {
      location = undefined;
      // A source that is not what the descriptor says is not worth another attempt.
      if (attempt >= attempts || !retryable(err)) throw err;
    }
  }
}
