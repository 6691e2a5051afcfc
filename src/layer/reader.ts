/**
 * A streaming tar reader: USTAR, PAX (`x` and `g`, with a size cap), GNU long names (`L`, `K`), base-256
 * numbers. Yields one entry at a time; its body must be read (or is skipped) before the next is produced.
 */
import { BerthError } from "../errors.ts";
import { decodeLongName } from "../tar/gnu.ts";
import { BLOCK, type DecodedHeader, decodeHeader, headerPath, isZeroBlock } from "../tar/header.ts";
import { decodePax, type PaxRecords } from "../tar/pax.ts";
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

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "dir",
  "6": "fifo",
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

function paxNumber(records: PaxRecords, key: string, what: string): number | undefined {
  const v = records.get(key);
  if (v === undefined) return undefined;
  const s = v.toString("latin1");
  const n = Number(s);
  if (s === "" || !Number.isFinite(n) || n < 0) {
    throw new BerthError(
      "LAYER_INVALID",
      `layer entry ${JSON.stringify(what)} has an invalid PAX ${key} ${JSON.stringify(s)}`,
    );
  }
  return n;
}

export async function* readTar(
  source: AsyncIterable<Buffer | Uint8Array | string>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxMeta = options.maxMetaSize ?? 1024 * 1024;
  const r = new ByteReader(source);
  let global: PaxRecords = new Map();
  let local: PaxRecords | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let previous = "(start of the archive)";
  try {
    for (;;) {
      if (!(await r.fill(BLOCK))) {
        if (local || longName !== undefined || longLink !== undefined) {
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
      const shownName = longName ?? local?.get("path")?.toString("utf8") ?? rawName;
      const readMeta = async (what: string): Promise<Buffer> => {
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
      };
      switch (raw.typeflag) {
        case "x":
          local = strictPax(await readMeta("PAX header"), rawName);
          continue;
        case "g":
          global = new Map([...global, ...strictPax(await readMeta("global PAX header"), rawName)]);
          continue;
        case "L":
          longName = decodeLongName(await readMeta("GNU long name"));
          continue;
        case "K":
          longLink = decodeLongName(await readMeta("GNU long link name"));
          continue;
        default:
          break;
      }
      const pax: PaxRecords = local ? new Map([...global, ...local]) : global;
      local = undefined;
      let type = TYPES[raw.typeflag];
      if (raw.typeflag === "V") {
        await skip(r, padded(raw.size), rawName);
        continue;
      }
      if (!type || raw.typeflag === "S" || [...pax.keys()].some((k) => k.startsWith("GNU.sparse."))) {
        throw new BerthError(
          "LAYER_INVALID",
          `layer entry ${JSON.stringify(shownName)} has tar type ${JSON.stringify(raw.typeflag)}, which berth does not accept${raw.typeflag === "S" ? " (sparse files)" : ""}`,
          { details: { entry: shownName } },
        );
      }
      let path = pax.get("path")?.toString("utf8") ?? longName ?? rawName;
      longName = undefined;
      if (type === "file" && path.endsWith("/") && raw.typeflag !== "7") type = "dir";
      const stripped = path.replace(/\/+$/, "");
      path = stripped === "" && path !== "" ? "/" : stripped;
      const linkname = pax.get("linkpath")?.toString("utf8") ?? longLink ?? raw.linkname;
      longLink = undefined;
      const size = type === "file" ? (paxNumber(pax, "size", path) ?? raw.size) : 0;
      const dataSize = paxNumber(pax, "size", path) ?? raw.size;
      const header: EntryHeader = {
        path,
        type,
        mode: raw.mode & 0o7777,
        uid: paxNumber(pax, "uid", path) ?? raw.uid,
        gid: paxNumber(pax, "gid", path) ?? raw.gid,
        size,
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

/** A layer refuses any header with a bad checksum or a field that is not a number. */
function checked(h: DecodedHeader): DecodedHeader {
  if (h.problems.length > 0) throw new BerthError("LAYER_INVALID", h.problems[0]!.message);
  return h;
}

function strictPax(data: Buffer, what: string): PaxRecords {
  const { records, malformed } = decodePax(data);
  if (malformed) {
    throw new BerthError("LAYER_INVALID", `PAX header of layer entry ${JSON.stringify(what)} is malformed`);
  }
  return records;
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
