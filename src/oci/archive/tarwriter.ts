import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

type Header = Partial<tar.Header> & { name: string };

import { tempName } from "../../util/fs.ts";

const EPOCH = new Date(0);

/**
 * Writes a tar file atomically and deterministically: every header has mtime 0, uid/gid 0 and no user
 * names, so the same content gives the same bytes. The file appears at `path` only on `commit()`; `abort()`
 * (or any failure) leaves nothing there.
 */
export class TarWriter {
  readonly path: string;
  readonly #tmp: string;
  readonly #pack: tar.Pack;
  readonly #done: Promise<void>;
  #failed: unknown;

  private constructor(path: string, tmp: string) {
    this.path = path;
    this.#tmp = tmp;
    this.#pack = tar.pack();
    this.#done = pipeline(this.#pack, createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
    this.#done.catch((err: unknown) => {
      this.#failed ??= err;
    });
  }

  static async create(path: string): Promise<TarWriter> {
    await mkdir(dirname(path), { recursive: true });
    return new TarWriter(path, tempName(dirname(path), basename(path)));
  }

  private header(name: string, extra: Partial<tar.Header>): Header {
    return { name, mtime: EPOCH, uid: 0, gid: 0, uname: "", gname: "", ...extra };
  }

  async addDirectory(name: string): Promise<void> {
    await this.#add(
      this.header(name.endsWith("/") ? name : `${name}/`, { type: "directory", mode: 0o755, size: 0 }),
    );
  }

  async addBytes(name: string, bytes: Uint8Array, mode = 0o644): Promise<void> {
    await this.#add(this.header(name, { type: "file", mode, size: bytes.length }), Buffer.from(bytes));
  }

  async addSymlink(name: string, target: string): Promise<void> {
    await this.#add(this.header(name, { type: "symlink", mode: 0o777, size: 0, linkname: target }));
  }

  /** Append a file whose size is known in advance; the stream must carry exactly `size` bytes. */
  async addStream(
    name: string,
    size: number,
    stream: Readable,
    mode = 0o644,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#check();
    const sink = this.#pack.entry(this.header(name, { type: "file", mode, size }), (err) => {
      if (err) this.#failed ??= err;
    });
    try {
      await pipeline(stream, sink, signal ? { signal } : {});
    } catch (err) {
      this.#failed ??= err;
      throw err;
    }
    this.#check();
  }

  #add(header: Header, data?: Buffer): Promise<void> {
    this.#check();
    return new Promise((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (data) this.#pack.entry(header, data, cb);
      else this.#pack.entry(header, cb);
    });
  }

  #check(): void {
    if (this.#failed) throw this.#failed;
  }

  /** Finish the archive, flush it to disk and rename it into place. */
  async commit(): Promise<void> {
    this.#check();
    this.#pack.finalize();
    try {
      await this.#done;
      const fh = await open(this.#tmp, "r");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(this.#tmp, this.path);
    } catch (err) {
      await rm(this.#tmp, { force: true });
      throw err;
    }
  }

  /** Give up: remove the temp file. */
  async abort(): Promise<void> {
    this.#pack.destroy();
    await this.#done.catch(() => undefined);
    await rm(this.#tmp, { force: true });
  }
}
