/** A detached container's output in docker's json-file format: written line by line, read back, followed. */
import { appendFile, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type LogEntry, LogWriter, readLog } from "../../src/runtime/logs.ts";
import { tempDir } from "../helpers/temp.ts";

async function all(it: AsyncGenerator<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of it) out.push(`${e.stream}:${e.log}`);
  return out;
}

describe("LogWriter", () => {
  it("one entry a line, lines split across chunks joined, each stream's partial line kept apart", async () => {
    const path = join(await tempDir(), "log.json");
    const w = new LogWriter(path);
    w.write("stdout", Buffer.from("one\ntw"));
    w.write("stderr", Buffer.from("err"));
    w.write("stdout", Buffer.from("o\nthree"));
    w.write("stderr", Buffer.from("or\n"));
    w.close();
    const lines = (await readFile(path, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as LogEntry);
    expect(lines.map((l) => [l.stream, l.log])).toEqual([
      ["stdout", "one\n"],
      ["stdout", "two\n"],
      ["stderr", "error\n"],
      ["stdout", "three"],
    ]);
    for (const l of lines) expect(new Date(l.time).toISOString()).toBe(l.time);
  });
});

describe("readLog", () => {
  it("every entry, or the last `tail`; skips lines that are not entries; nothing without a file", async () => {
    const dir = await tempDir();
    const path = join(dir, "log.json");
    expect(await all(readLog(path))).toEqual([]);
    const w = new LogWriter(path);
    w.write("stdout", Buffer.from("a\nb\nc\n"));
    w.close();
    await appendFile(path, 'garbage\n{"no":"log"}\n');
    expect(await all(readLog(path))).toEqual(["stdout:a\n", "stdout:b\n", "stdout:c\n"]);
    expect(await all(readLog(path, { tail: 2 }))).toEqual(["stdout:b\n", "stdout:c\n"]);
    expect(await all(readLog(path, { tail: 0 }))).toEqual([]);
  });

  it("follows new entries until the container has ended, then reads what came last even from a removed file", async () => {
    const dir = await tempDir();
    const path = join(dir, "log.json");
    const w = new LogWriter(path);
    w.write("stdout", Buffer.from("first\n"));
    let ended = false;
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of readLog(path, { follow: true, tail: 5, ended: async () => ended })) {
        seen.push(e.log);
        if (e.log === "first\n") {
          w.write("stderr", Buffer.from("last"));
          w.close();
          await rm(path);
          ended = true;
        }
      }
    })();
    await done;
    expect(seen).toEqual(["first\n", "last"]);
  }, 10_000);

  it("following stops when aborted", async () => {
    const path = join(await tempDir(), "log.json");
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    expect(
      await all(readLog(path, { follow: true, ended: async () => false, signal: abort.signal })),
    ).toEqual([]);
  });
});
