/**
 * A detached container's output, kept as docker's json-file log driver keeps it: one JSON object a line,
 * `{"log": "text\n", "stream": "stdout"|"stderr", "time": ISO 8601}`, a line of output per entry (a last
 * line without a newline is written when the container ends), stdout and stderr in the order they came.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";

export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  time: string;
}

/** Appends entries to a log file (synchronously: the order of the two streams is kept). */
export class LogWriter {
  readonly #fd: number;
  readonly #partial = { stdout: "", stderr: "" };

  constructor(path: string) {
    this.#fd = openSync(path, "a", 0o600);
  }

  write(stream: "stdout" | "stderr", chunk: Buffer): void {
    const text = this.#partial[stream] + chunk.toString("utf8");
    const lines = text.split(/(?<=\n)/);
    this.#partial[stream] = lines[lines.length - 1]!.endsWith("\n") ? "" : lines.pop()!;
    this.#append(stream, lines);
  }

  #append(stream: "stdout" | "stderr", lines: string[]): void {
    if (lines.length === 0) return;
    const time = new Date().toISOString();
    writeSync(this.#fd, lines.map((log) => `${JSON.stringify({ log, stream, time })}\n`).join(""));
  }

  close(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partial[stream]) this.#append(stream, [this.#partial[stream]]);
      this.#partial[stream] = "";
    }
    closeSync(this.#fd);
  }
}

function parse(line: string): LogEntry | undefined {
  try {
    const e = JSON.parse(line) as LogEntry;
    return typeof e.log === "string" ? e : undefined;
  } catch {
    return undefined;
  }
}

export interface ReadLogOptions {
  /** Only the last `tail` entries of what is there already. */
  tail?: number | undefined;
  /** Go on with new entries until `ended()` says the container is gone and everything is read. */
  follow?: boolean;
  ended?: () => Promise<boolean>;
  signal?: AbortSignal | undefined;
}

/**
 * The entries of a log file (none when there is no file). The file is held open while following, so that
 * what a container wrote last is read even when its folder is removed as it ends (`--rm`).
 */
export async function* readLog(path: string, o: ReadLogOptions = {}): AsyncGenerator<LogEntry> {
  let fh: FileHandle | undefined;
  let offset = 0;
  let rest = "";
  let first = true;
  try {
    for (;;) {
      fh ??= await open(path, "r").catch(() => undefined);
      const size = fh ? (await fh.stat()).size : 0;
      if (fh && size > offset) {
        const buf = Buffer.alloc(size - offset);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        offset += bytesRead;
        rest += buf.subarray(0, bytesRead).toString("utf8");
        const lines = rest.split("\n");
        rest = lines.pop()!;
        let entries = lines.map(parse).filter((e): e is LogEntry => e !== undefined);
        if (first && o.tail !== undefined) entries = o.tail > 0 ? entries.slice(-o.tail) : [];
        for (const e of entries) yield e;
      }
      first = false;
      if (!o.follow || o.signal?.aborted) return;
      // Ended, and read to the end after that: done.
      if (await o.ended?.()) {
        fh ??= await open(path, "r").catch(() => undefined);
        if (!fh || (await fh.stat()).size <= offset) return;
        continue;
      }
      await delay(100, undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
    }
  } finally {
    await fh?.close();
  }
}
