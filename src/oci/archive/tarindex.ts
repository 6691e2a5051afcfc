import { createReadStream, createWriteStream } from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../../errors.ts";
import { ExtendedHeaders, isMeta, type Resolved, type TarType, typeOf } from "../../tar/extended.ts";
import { BLOCK, type DecodedHeader, decodeHeader, isZeroBlock, padding } from "../../tar/header.ts";
import { ownedTempDir } from "../../util/fs.ts";
import { decompressAs } from "../compression.ts";
import { sniffCompression } from "../mediatype.ts";
import { normalizeEntryName, resolveLinkTarget } from "./entryname.ts";

/** One entry of a tar archive, with where its data lies in the (uncompressed) tar file. */
export interface TarEntry {
  /** Normalised path: no leading `./`, no trailing `/`. */
  name: string;
  type: "file" | "link" | "symlink" | "directory" | "other";
  /** Offset of the entry's data in the tar file. */
  offset: number;
  size: number;
  mode: number;
  /** Target of a symlink (relative to the link's folder) or hardlink (an archive path). */
  linkname?: string;
}

export interface TarIndexOptions {
  /** Where a compressed archive is decompressed to before it is indexed (default: the OS temp folder). */
  tmpDir?: string;
}

/** GNU long names and PAX records larger than this are refused rather than buffered. */
const MAX_META = 1024 * 1024;
const MAX_LINK_DEPTH = 32;

/**
 * A random-access index of a tar file: its headers are scanned once, and each entry is then opened as a
 * range of the file. A gzip or zstd archive is decompressed to a temp file first. Entry names that escape
 * the archive are refused when the index is built.
 */
export class TarIndex {
  /** The archive as given. */
  readonly path: string;
  /** The uncompressed tar that is read (the archive itself, or a temp file). */
  readonly file: string;
  readonly compression: "gzip" | "zstd" | "none";
  readonly #entries: Map<string, TarEntry>;
  readonly #tempDir: string | undefined;

  private constructor(
    path: string,
    file: string,
    compression: "gzip" | "zstd" | "none",
    entries: Map<string, TarEntry>,
    tempDir: string | undefined,
  ) {
    this.path = path;
    this.file = file;
    this.compression = compression;
    this.#entries = entries;
    this.#tempDir = tempDir;
  }

  static async open(path: string, options: TarIndexOptions = {}): Promise<TarIndex> {
    const head = await readHead(path);
    const compression = sniffCompression(head);
    if (compression === "none") {
      return new TarIndex(path, path, compression, await scan(path, path), undefined);
    }
    const base = options.tmpDir ?? tmpdir();
    const tempDir = await ownedTempDir(base, "berth-archive-");
    try {
      const file = join(tempDir, "archive.tar");
      try {
        await pipeline(
          decompressAs(createReadStream(path, { highWaterMark: 1024 * 1024 }), compression),
          createWriteStream(file),
        );
      } catch (err) {
        throw new BerthError(
          "ARCHIVE_INVALID",
          `archive ${path} is truncated or corrupt: its ${compression} data could not be decompressed (${(err as Error).message})`,
          { cause: err, details: { archive: path } },
        );
      }
      return new TarIndex(path, file, compression, await scan(file, path), tempDir);
    } catch (err) {
      await rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Every entry name, in archive order (later duplicates replace earlier ones). */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  /** The entry as recorded, without following links. */
  entry(name: string): TarEntry | undefined {
    return this.#entries.get(normalizeEntryName(name, this.path));
  }

  /** The regular file an entry name leads to, following symlinks and hardlinks inside the archive. */
  lookup(name: string): TarEntry | undefined {
    let current = normalizeEntryName(name, this.path);
    for (let depth = 0; depth < MAX_LINK_DEPTH; depth++) {
      const e = this.#entries.get(current);
      if (!e) return undefined;
      if (e.type === "file") return e;
      if (e.type === "symlink") current = resolveLinkTarget(e.name, e.linkname ?? "", this.path);
      else if (e.type === "link") current = normalizeEntryName(e.linkname ?? "", this.path);
      else return undefined;
    }
    throw new BerthError(
      "ARCHIVE_INVALID",
      `archive ${this.path}: entry ${JSON.stringify(name)} is a link loop`,
      {
        details: { archive: this.path, entry: name },
      },
    );
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** The regular file an entry leads to, or an error naming the entry. */
  require(name: string, what = "entry"): TarEntry {
    const e = this.lookup(name);
    if (!e) {
      const raw = this.entry(name);
      throw new BerthError(
        "ARCHIVE_INVALID",
        raw
          ? `archive ${this.path}: ${what} ${JSON.stringify(name)} is a ${raw.type}${raw.linkname ? ` to ${JSON.stringify(raw.linkname)}` : ""}, not a file in the archive`
          : `archive ${this.path} has no ${what} ${JSON.stringify(name)}`,
        { details: { archive: this.path, entry: name } },
      );
    }
    return e;
  }

  /** The raw bytes of an entry, as a stream of its range of the tar file (not verified: callers verify). */
  openEntry(name: string): Readable {
    return this.openRange(this.require(name));
  }

  openRange(e: TarEntry, start = 0, length = e.size - start): Readable {
    if (length <= 0) return Readable.from([]);
    return createReadStream(this.file, {
      start: e.offset + start,
      end: e.offset + start + length - 1,
      highWaterMark: length > 4 * 1024 * 1024 ? 1024 * 1024 : 64 * 1024,
    });
  }

  /** Read a small entry whole; refused above `max` bytes. */
  async readEntry(name: string, max: number, what = "entry"): Promise<Buffer> {
    const e = this.require(name, what);
    if (e.size > max) {
      throw new BerthError(
        "ARCHIVE_INVALID",
        `archive ${this.path}: ${what} ${JSON.stringify(name)} is ${e.size} bytes, more than the ${max} allowed`,
        { details: { archive: this.path, entry: name } },
      );
    }
    return buffer(this.openRange(e));
  }

  /** The first `n` bytes of an entry (fewer when it is shorter). */
  async head(e: TarEntry, n: number): Promise<Buffer> {
    const fh = await open(this.file, "r");
    try {
      const buf = Buffer.alloc(Math.min(n, e.size));
      if (buf.length > 0) await fh.read(buf, 0, buf.length, e.offset);
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** Remove the temp file of a compressed archive. */
  async close(): Promise<void> {
    if (this.#tempDir) await rm(this.#tempDir, { recursive: true, force: true });
  }
}

async function readHead(path: string): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new BerthError("ARCHIVE_INVALID", `archive ${path} does not exist`, {
        cause: err,
        details: { archive: path },
      });
    }
    if (code === "EISDIR") {
      throw new BerthError("ARCHIVE_INVALID", `archive ${path} is a folder, not a tar file`, {
        cause: err,
        details: { archive: path },
      });
    }
    throw err;
  }
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function truncated(archive: string, why: string): BerthError {
  return new BerthError("ARCHIVE_INVALID", `archive ${archive} is truncated: ${why}`, {
    details: { archive },
    hint: "the file was cut short; write or download it again",
  });
}

/** Bytes read at once while scanning: the headers of the small entries that follow come from the same read. */
const WINDOW = 64 * 1024;

/** Positional reads of a file through a window of `WINDOW` bytes. */
class Window {
  readonly #fh: FileHandle;
  readonly #buf = Buffer.alloc(WINDOW);
  #start = 0;
  #end = 0;

  constructor(fh: FileHandle) {
    this.#fh = fh;
  }

  /** The `n` bytes at `pos` (fewer at the end of the file); valid until the next call. */
  async at(pos: number, n: number): Promise<Buffer> {
    if (pos >= this.#start && pos + n <= this.#end)
      return this.#buf.subarray(pos - this.#start, pos - this.#start + n);
    if (n > WINDOW) {
      const data = Buffer.alloc(n);
      const { bytesRead } = await this.#fh.read(data, 0, n, pos);
      return data.subarray(0, bytesRead);
    }
    const { bytesRead } = await this.#fh.read(this.#buf, 0, WINDOW, pos);
    this.#start = pos;
    this.#end = pos + bytesRead;
    return this.#buf.subarray(0, Math.min(n, bytesRead));
  }
}

/** Scan a tar file's headers once, seeking over the data. `archive` names the archive in errors. */
async function scan(file: string, archive: string): Promise<Map<string, TarEntry>> {
  const fh = await open(file, "r");
  try {
    const { size: fileSize } = await fh.stat();
    const window = new Window(fh);
    const entries = new Map<string, TarEntry>();
    const extended = new ExtendedHeaders();
    for (let pos = 0; ; ) {
      if (pos + BLOCK > fileSize) {
        if (pos === 0) {
          throw new BerthError("ARCHIVE_INVALID", `archive ${archive} is empty or not a tar archive`, {
            details: { archive },
          });
        }
        throw truncated(archive, `it ends at byte ${fileSize} without the tar end-of-archive marker`);
      }
      const block = await window.at(pos, BLOCK);
      if (isZeroBlock(block)) break;
      const h = indexHeader(block, pos, archive);
      const dataStart = pos + BLOCK;
      const type = typeOf(h.typeflag);
      if (type && isMeta(type)) {
        // Malformed PAX records are not refused here: those before the fault apply, as they did.
        extended.add(type, await metaData(window, h, pos, fileSize, archive));
        pos = dataStart + h.size + padding(h.size);
        continue;
      }
      const r = extended.resolve(h);
      if (typeof r.dataSize === "string") {
        throw new BerthError(
          "ARCHIVE_INVALID",
          `archive ${archive}: bad PAX size at offset ${pos} (${r.dataSize})`,
          {
            details: { archive },
          },
        );
      }
      if (dataStart + r.dataSize > fileSize) {
        throw truncated(
          archive,
          `entry ${JSON.stringify(r.path)} needs ${r.dataSize} bytes of data but the file ends first`,
        );
      }
      addEntry(entries, h, type, { ...r, dataSize: r.dataSize }, dataStart, archive);
      pos = dataStart + r.dataSize + padding(r.dataSize);
    }
    return entries;
  } finally {
    await fh.close();
  }
}

/** A header block whose checksum and size are valid (other fields are not used, so they may hold anything). */
function indexHeader(block: Buffer, pos: number, archive: string): DecodedHeader {
  const h = decodeHeader(block);
  if (h.problems.some((p) => p.field === "checksum" || p.field === "size")) {
    throw new BerthError(
      "ARCHIVE_INVALID",
      pos === 0
        ? `archive ${archive} is not a tar archive (its first header is not valid)`
        : `archive ${archive} has a corrupt tar header at offset ${pos}`,
      { details: { archive, offset: pos } },
    );
  }
  return h;
}

/** The data of the PAX or GNU long-name header at `pos`, refused over `MAX_META` bytes. */
async function metaData(
  window: Window,
  h: DecodedHeader,
  pos: number,
  fileSize: number,
  archive: string,
): Promise<Buffer> {
  if (h.size > MAX_META) {
    throw new BerthError(
      "ARCHIVE_INVALID",
      `archive ${archive}: extended header at offset ${pos} is too large`,
      {
        details: { archive },
      },
    );
  }
  if (pos + BLOCK + h.size > fileSize)
    throw truncated(archive, `the extended header at offset ${pos} is cut short`);
  return window.at(pos + BLOCK, h.size);
}

const ENTRY_TYPES: Record<TarType, TarEntry["type"]> = {
  file: "file",
  hardlink: "link",
  symlink: "symlink",
  dir: "directory",
  char: "other",
  block: "other",
  fifo: "other",
};

/** Record an entry under its normalised name (a later one of the same name replaces it), checking its links. */
function addEntry(
  entries: Map<string, TarEntry>,
  h: DecodedHeader,
  type: TarType | undefined,
  r: Resolved & { dataSize: number },
  offset: number,
  archive: string,
): void {
  const name = normalizeEntryName(r.path, archive);
  if (type === "hardlink") checkHardlink(name, r.linkname, archive);
  if (type === "symlink") resolveLinkTarget(name, r.linkname, archive);
  if (name === "") return;
  const e: TarEntry = {
    name,
    type: type ? ENTRY_TYPES[type] : "other",
    offset,
    size: type === "file" ? r.dataSize : 0,
    // a mode that is not a number reads as 0o644
    mode: h.problems.some((p) => p.field === "mode") ? 0o644 : h.mode,
  };
  if (type === "hardlink" || type === "symlink") e.linkname = r.linkname;
  entries.delete(name);
  entries.set(name, e);
}

function checkHardlink(name: string, target: string, archive: string): void {
  try {
    normalizeEntryName(target, archive);
  } catch (err) {
    throw new BerthError(
      "ARCHIVE_INVALID",
      `archive ${archive}: entry ${JSON.stringify(name)} is a hardlink to ${JSON.stringify(target)}, outside the archive`,
      { cause: err, details: { archive, entry: name } },
    );
  }
}
