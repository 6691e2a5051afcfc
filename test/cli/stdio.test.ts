/**
 * src/cli/stdio.ts: standard output and error written straight to a pipe or file, Node's stream for anything
 * else and after a write that fails.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { STREAM, stdio, streamOf } from "../../src/cli/stdio.ts";

function sink(): { stream: PassThrough; text: () => string; made: () => number; factory: () => PassThrough } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => {
    text += c;
  });
  let made = 0;
  return {
    stream,
    text: () => text,
    made: () => made,
    factory: () => {
      made++;
      return stream;
    },
  };
}

describe("stdio", () => {
  it("writes a file's lines straight to its descriptor, in order, and never makes the stream", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-stdio-"));
    const fd = openSync(join(dir, "out"), "w");
    const s = sink();
    const w = stdio(fd, s.factory);
    expect(w.isTTY).toBeUndefined();
    expect(w.columns).toBeUndefined();
    w.write("one\n");
    w.write(Buffer.from("two\n"));
    await new Promise<void>((res) => w.write("three\n", () => res()));
    closeSync(fd);
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("one\ntwo\nthree\n");
    expect(s.made()).toBe(0);
  });

  it("gives a write that fails, and every later use, to the stream (nothing overtakes it)", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-stdio-"));
    writeFileSync(join(dir, "in"), "");
    const fd = openSync(join(dir, "in"), "r"); // a file, so plain writes are tried: they fail (EBADF)
    const s = sink();
    let told = 0;
    const w = stdio(fd, s.factory, () => told++);
    w.write("one\n");
    w.write("two\n");
    closeSync(fd);
    expect(s.text()).toBe("one\ntwo\n");
    expect([s.made(), told]).toEqual([1, 1]);
  });

  it("uses the stream from the start for anything not a pipe, socket or file (a terminal, /dev/null)", () => {
    const fd = openSync("/dev/null", "w");
    const s = sink();
    const w = stdio(fd, s.factory);
    expect(s.made()).toBe(1);
    w.write("x\n");
    closeSync(fd);
    expect(s.text()).toBe("x\n");
  });

  it("gives Node's stream itself to a pipeline (streamOf), and passes other Writables through", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-stdio-"));
    const fd = openSync(join(dir, "out"), "w");
    const s = sink();
    const w = stdio(fd, s.factory);
    expect(streamOf(w)).toBe(s.stream);
    expect((w as Writable & { [STREAM]: Writable })[STREAM]).toBe(s.stream);
    closeSync(fd);
    const other = new PassThrough();
    expect(streamOf(other)).toBe(other);
  });

  it("a process writing through a pipe does not load node:net", () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-stdio-"));
    const script = join(dir, "w.ts");
    writeFileSync(
      script,
      [
        `import { stdio } from ${JSON.stringify(join(import.meta.dirname, "../../src/cli/stdio.ts"))};`,
        "const err = stdio(2, () => process.stderr);",
        'for (const l of [0, 1, 2]) err.write("line " + l + "\\n");',
        'err.write(process.moduleLoadList.includes("NativeModule net") ? "net\\n" : "no net\\n");',
      ].join("\n"),
    );
    const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
    expect(r.stderr).toBe("line 0\nline 1\nline 2\nno net\n");
  });
});
