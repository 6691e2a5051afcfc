/**
 * A streaming tar reader: USTAR, PAX (`x` and `g`, with a size cap), GNU long names (`L`, `K`), base-256
 * numbers. Yields one entry at a time; its body must be read (or is skipped) before the next is produced.
 */
import { BerthError } from "../errors.ts";
import {
  ExtendedHeaders,
  isMeta,
  type MetaType,
  paxNumber as sharedPaxNumber,
  typeOf,
} from "../tar/extended.ts";
import { BLOCK, type DecodedHeader, decodeHeader, headerPath, isZeroBlock } from "../tar/header.ts";
import type { PaxRecords } from "../tar/pax.ts";
import type { EntryHeader, EntryType } from "./entry.ts";

export interface TarEntry {
  /** `path` is the name as stored (trailing `/` removed); callers normalise it with their own rules. */
  header: EntryHeader;
  /** The content of a file entry; empty for others. Read it before asking for the next entry, or it is skipped. */
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /** Largest PAX or GNU long-name header accepted, in bytes; default 1 MiB. */
  maxMetaSize?: number;
}

/** What each meta header is called in messages. */
const META: Record<MetaType, string> = {
  pax: "PAX header",
  paxGlobal: "global PAX header",
  longName: "GNU long name",
  longLink: "GNU long link name",
};

class ByteReader {
  readonly #it: AsyncIterator<Buffer | Uint8Array | string>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Make at least n bytes available; false at end of input. */
  async fill(n: number): Promise<boolean> {
    while (this.#buf.length < n && !this.#done) {
      const r = await this.#it.next();
      if (r.done) {
        this.#done = true;
        break;
      }
      const chunk =
        typeof r.value === "string"
          ? Buffer.from(r.value)
          : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    }
    return this.#buf.length >= n;
  }

  /** The next n bytes (fewer at end of input), left in place. */
  async peek(n: number): Promise<Buffer> {
    await this.fill(n);
    return this.#buf.subarray(0, n);
  }

  take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** Up to n bytes that are already buffered or arrive next; empty at end of input. */
  async some(n: number): Promise<Buffer> {
    if (this.#buf.length === 0 && !(await this.fill(1))) return this.#buf;
    return this.take(Math.min(n, this.#buf.length));
  }

  async drain(): Promise<void> {
    this.#buf = Buffer.alloc(0);
    while (!this.#done) {
      const r = await this.#it.next();
      if (r.done) this.#done = true;
    }
  }

  async close(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      await this.#it.return?.();
    }
  }
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** A numeric PAX record of the entry at `path`, or undefined when it has none. */
function paxNumber(records: PaxRecords, key: string, path: string): number | undefined {
  const n = sharedPaxNumber(records, key);
  return n === undefined ? undefined : valid(n, path);
}

/** A number, or the reason the entry at `path` is refused. */
function valid(n: number | string, path: string): number {
  if (typeof n === "string")
    throw new BerthError("LAYER_INVALID", `layer entry ${JSON.stringify(path)}: ${n}`);
  return n;
}

export async function* readTar(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxMeta = options.maxMetaSize ?? 1024 * 1024;
  const r = new ByteReader(source);
  const extended = new ExtendedHeaders();
  let previous = "(start of the archive)";
  try {
    for (;;) {
      if (!(await r.fill(BLOCK))) {
        if (extended.pending()) {
          throw new BerthError(
            "LAYER_INVALID",
            `layer ends after the extended header of an entry following ${JSON.stringify(previous)}`,
          );
        }
        return; // end of input without an end-of-archive marker: accepted, as GNU tar does
      }
      const block = r.take(BLOCK);
      if (isZeroBlock(block)) {
        await r.drain();
        return;
      }
      const raw = checked(decodeHeader(block));
      const rawName = headerPath(raw);
      const shownName = extended.pendingName() ?? rawName;
      const tarType = typeOf(raw.typeflag);
      if (tarType && isMeta(tarType)) {
        if (!extended.add(tarType, await readMeta(r, raw, META[tarType], maxMeta))) {
          throw new BerthError(
            "LAYER_INVALID",
            `PAX header of layer entry ${JSON.stringify(rawName)} is malformed`,
          );
        }
        continue;
      }
      const { path: stored, linkname, pax, dataSize: paxSize } = extended.resolve(raw);
      if (raw.typeflag === "V") {
        await skip(r, padded(raw.size), rawName);
        continue;
      }
      if (!tarType || [...pax.keys()].some((k) => k.startsWith("GNU.sparse."))) {
        throw new BerthError(
          "LAYER_INVALID",
          `layer entry ${JSON.stringify(shownName)} has tar type ${JSON.stringify(raw.typeflag)}, which berth does not accept${raw.typeflag === "S" ? " (sparse files)" : ""}`,
          { details: { entry: shownName } },
        );
      }
      let type: EntryType = tarType;
      if (type === "file" && stored.endsWith("/") && raw.typeflag !== "7") type = "dir";
      const stripped = stored.replace(/\/+$/, "");
      const path = stripped === "" && stored !== "" ? "/" : stripped;
      const dataSize = valid(paxSize, path);
      const header = entryHeader(raw, type, path, linkname, pax, dataSize);
      previous = path;
      let remaining = dataSize;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          while (remaining > 0) {
            const chunk = await r.some(remaining);
            if (chunk.length === 0) {
              throw new BerthError("LAYER_INVALID", `layer entry ${JSON.stringify(path)} is truncated`);
            }
            remaining -= chunk.length;
            yield chunk;
          }
        },
      };
      yield { header, body };
      // Skip what the consumer did not read, and the padding.
      const rest = remaining + (padded(dataSize) - dataSize);
      remaining = 0;
      await skip(r, rest, path);
    }
  } finally {
    await r.close();
  }
}

/** The data of a meta header (PAX, GNU long name), refused over `maxMeta` bytes naming the entry it is for. */
async function readMeta(r: ByteReader, raw: DecodedHeader, what: string, maxMeta: number): Promise<Buffer> {
  const rawName = headerPath(raw);
  if (raw.size > maxMeta) {
    // Skip it without holding it, looking for the entry's name on the way (a `path` record) or after it.
    const fromPax = await scanPaxPath(r, raw.size);
    await skip(r, padded(raw.size) - fromPax.consumed, rawName);
    let entry = fromPax.path ?? rawName;
    if (fromPax.path === undefined && (await r.fill(BLOCK))) {
      const next = decodeHeader(r.take(BLOCK));
      if (next.problems.length === 0) entry = headerPath(next);
    }
    throw new BerthError(
      "LAYER_UNSAFE",
      `layer entry ${JSON.stringify(entry)} has a ${what} of ${raw.size} bytes, over the ${maxMeta}-byte limit`,
      { details: { entry, size: raw.size, limit: maxMeta } },
    );
  }
  if (!(await r.fill(padded(raw.size)))) {
    throw new BerthError("LAYER_INVALID", `layer entry ${JSON.stringify(rawName)} is truncated`);
  }
  return Buffer.from(r.take(padded(raw.size)).subarray(0, raw.size));
}

/** The entry's header: the block's fields, overridden by its PAX records. */
function entryHeader(
  raw: DecodedHeader,
  type: EntryType,
  path: string,
  linkname: string,
  pax: PaxRecords,
  dataSize: number,
): EntryHeader {
  const header: EntryHeader = {
    path,
    type,
    mode: raw.mode & 0o7777,
    uid: paxNumber(pax, "uid", path) ?? raw.uid,
    gid: paxNumber(pax, "gid", path) ?? raw.gid,
    size: type === "file" ? dataSize : 0,
    mtime: paxNumber(pax, "mtime", path) ?? raw.mtime,
  };
  if (type === "symlink" || type === "hardlink") header.linkname = linkname;
  if (type === "char" || type === "block") {
    header.devmajor = paxNumber(pax, "SCHILY.devmajor", path) ?? raw.devmajor;
    header.devminor = paxNumber(pax, "SCHILY.devminor", path) ?? raw.devminor;
  }
  const uname = pax.get("uname")?.toString("utf8") ?? raw.uname;
  const gname = pax.get("gname")?.toString("utf8") ?? raw.gname;
  if (uname) header.uname = uname;
  if (gname) header.gname = gname;
  for (const [k, v] of pax) {
    if (k.startsWith("SCHILY.xattr.")) {
      header.xattrs ??= {};
      header.xattrs[k.slice("SCHILY.xattr.".length)] = v;
    }
  }
  return header;
}

/** A layer refuses any header with a bad checksum or a field that is not a number. */
function checked(h: DecodedHeader): DecodedHeader {
  if (h.problems.length > 0) throw new BerthError("LAYER_INVALID", h.problems[0]!.message);
  return h;
}

async function skip(r: ByteReader, n: number, what: string): Promise<void> {
  while (n > 0) {
    const chunk = await r.some(Math.min(n, 1024 * 1024));
    if (chunk.length === 0)
      throw new BerthError("LAYER_INVALID", `layer entry ${JSON.stringify(what)} is truncated`);
    n -= chunk.length;
  }
}

/** Read PAX records one at a time (never holding a large one) until a `path` record; stops at anything odd. */
async function scanPaxPath(r: ByteReader, size: number): Promise<{ path?: string; consumed: number }> {
  let consumed = 0;
  while (consumed < size) {
    const head = await r.peek(Math.min(24, size - consumed));
    const space = head.indexOf(0x20);
    const len = space > 0 ? Number.parseInt(head.toString("latin1", 0, space), 10) : Number.NaN;
    if (!Number.isInteger(len) || len <= space || consumed + len > size) break;
    const key = head.toString("latin1", space + 1);
    if (key.startsWith("path=") && len <= 65536) {
      const rec = r.take(len);
      return { path: rec.toString("utf8", space + 6, len - 1), consumed: consumed + len };
    }
    await skip(r, len, "PAX header");
    consumed += len;
  }
  return { consumed };
}
