/**
 * The build context's index (src/dockerfile/context-index.ts, issue 20 "Speed"): unchanged files are not read
 * again, and a file changed with its size and mtime put back (`touch -r`) is still seen as changed, because
 * its ctime moved.
 */
import { lstat, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ContextIndex } from "../../src/dockerfile/context-index.ts";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-index-");
  base = await localBase(join(tmp, "base"));
});

/** Wait until the racy window of the index (1 s after a read) is behind us, so that entries are trusted. */
const settle = () => new Promise((r) => setTimeout(r, 1100));

describe("the context index", () => {
  it("reads a file only when its metadata changed", async () => {
    const ctx = await writeContext(join(tmp, "unit"), { "a.txt": "a\n", "b.txt": "b\n" });
    const cache = join(tmp, "unit-cache");
    const reads: string[] = [];
    const counting = async (path: string) => {
      reads.push(path.slice(ctx.length + 1));
      return `digest-of-${(await readFile(path, "utf8")).trim()}`;
    };
    const digestAll = async () => {
      const index = await ContextIndex.open(cache, ctx, counting);
      const out: string[] = [];
      for (const f of ["a.txt", "b.txt"]) {
        const p = join(ctx, f);
        out.push(await index.digest(p, await lstat(p)));
        // asked again in the same build: never read twice
        out.push(await index.digest(p, await lstat(p)));
      }
      await index.save();
      return out;
    };
    await settle();
    expect(await digestAll()).toEqual(["digest-of-a", "digest-of-a", "digest-of-b", "digest-of-b"]);
    expect(reads).toEqual(["a.txt", "b.txt"]);
    // read right after they were written: not trusted yet (a change in the same clock tick would not show)
    reads.length = 0;
    await digestAll();
    expect(reads).toEqual([]);
    // changed: read again; unchanged: not
    await writeFile(join(ctx, "b.txt"), "B\n");
    await settle();
    expect(await digestAll()).toEqual(["digest-of-a", "digest-of-a", "digest-of-B", "digest-of-B"]);
    expect(reads).toEqual(["b.txt"]);
  });

  it("names a file by its path within the context however the path is spelled; a path outside is not kept", async () => {
    const ctx = await writeContext(join(tmp, "spelled"), { "d/a.txt": "a\n", "b.txt": "b\n" });
    await writeFile(join(tmp, "outside.txt"), "o\n");
    const reads: string[] = [];
    const index = await ContextIndex.open(undefined, `${ctx}/`, async (path: string) => {
      reads.push(path);
      return `digest-of-${(await readFile(path, "utf8")).trim()}`;
    });
    const digest = async (p: string) => index.digest(p, await lstat(p));
    const a = join(ctx, "d", "a.txt");
    expect(await digest(a)).toBe("digest-of-a");
    for (const p of [`${ctx}/d/./a.txt`, `${ctx}/d//a.txt`, `${ctx}/d/../d/a.txt`, `${ctx}/./d/a.txt`]) {
      expect(await digest(p), p).toBe("digest-of-a");
    }
    expect(reads).toEqual([a]);
    // outside the context (`..` names after it): read each time, never an entry of the context's
    const outside = `${ctx}/d/../../outside.txt`;
    expect(await digest(outside)).toBe("digest-of-o");
    expect(await digest(outside)).toBe("digest-of-o");
    expect(reads).toEqual([a, outside, outside]);
  });

  it("a file changed with the same size and its mtime put back is rebuilt (ctime moved)", async () => {
    const ctx = await writeContext(join(tmp, "ctime"), {
      "app.txt": "version-1\n",
      Dockerfile: `FROM ${base}\nCOPY app.txt /app.txt\n`,
    });
    const home = join(tmp, "ctime-home");
    const build = async (tag: string) => {
      const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${tmp}/ctime-out:${tag}`, "--json"], {
        home,
        env: { SOURCE_DATE_EPOCH: "0" },
      });
      if (r.code !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout) as { digest: string; steps: { instruction: string; cached: boolean }[] };
    };
    const first = await build("one");
    await settle();
    // the index now trusts app.txt's entry: the next build does not read it and hits the cache
    const again = await build("two");
    expect(again.digest).toBe(first.digest);
    expect(again.steps.find((s) => s.instruction.startsWith("COPY"))?.cached).toBe(true);
    // same size, other content, mtime and atime put back with `touch -r` (to the nanosecond)
    const file = join(ctx, "app.txt");
    const ref = join(tmp, "ctime-ref");
    const before = await lstat(file);
    await writeFile(ref, "");
    await run("touch", ["-r", file, ref]);
    await writeFile(file, "version-2\n");
    await run("touch", ["-r", ref, file]);
    const after = await lstat(file);
    expect(after.size).toBe(before.size);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    await settle();
    const changed = await build("three");
    expect(changed.digest).not.toBe(first.digest);
    expect(changed.steps.find((s) => s.instruction.startsWith("COPY"))?.cached).toBe(false);
    await run("umoci", ["unpack", "--image", `${tmp}/ctime-out:three`, `${tmp}/ctime-bundle`]);
    expect(await readFile(join(tmp, "ctime-bundle", "rootfs", "app.txt"), "utf8")).toBe("version-2\n");
  });
});
