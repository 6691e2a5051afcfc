/**
 * The snapshots a build makes ahead of its RUN steps (src/dockerfile/warm.ts): a base image's, started at the key
 * pass's FROM or when the pass finds a RUN the caches lack, and stopped when no stage the build keeps asked.
 */
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCacheFrom, parseCacheTo } from "../../src/dockerfile/cache-spec.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { LayerEntries } from "../../src/dockerfile/stage-index.ts";
import { Warmings } from "../../src/dockerfile/warm.ts";
import { chainIds, type Digest } from "../../src/oci/digest.ts";
import { type Image, loadRoot, selectImage } from "../../src/oci/image.ts";
import { chainPresent, snapshotDir } from "../../src/runtime/snapshot-dir.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase } from "./helpers/local.ts";
import { scratchBuild } from "./helpers/scratch.ts";

describe("Warmings", () => {
  let dir: string;
  let image: Image;
  beforeAll(async () => {
    dir = await tempDir();
    const base = await localBase(join(dir, "base"));
    const opened = await openSource(parseImageArgument(base), { home: join(dir, "base-home"), env: {} });
    image = await selectImage(await loadRoot(opened.source, opened.root));
    await opened.close();
  });
  const warmings = (home: string, imported = false) =>
    new Warmings({
      home: join(dir, home),
      signal: new AbortController().signal,
      log: () => undefined,
      entries: new LayerEntries(join(dir, home, "entries")),
      imported: () => imported,
    });
  const [withRun, withoutRun] = splitStages(parseDockerfile("FROM a\nRUN x\nFROM b\nCOPY a /\n")).stages;

  it("at a FROM: only for a stage with a RUN, without a cache import, when the chain is not on disk", async () => {
    const w = warmings("from");
    w.atFrom(withoutRun!, image);
    expect(w.of(image)).toBeUndefined();
    const imported = warmings("imported", true);
    imported.atFrom(withRun!, image);
    expect(imported.of(image)).toBeUndefined();
    w.atFrom(withRun!, image);
    expect(w.of(image)).toBeDefined();
    // the key pass stopped part way: the stage that started the warming keeps it
    w.keepAtFrom();
    w.planned([withRun!]);
    await w.settled();
    expect(chainPresent(join(dir, "from"), image.imageConfig().rootfs.diff_ids)).toBe(true);
    const again = warmings("from");
    again.atFrom(withRun!, image);
    expect(again.of(image)).toBeUndefined();
  });

  it("asked for by a stage the key pass leaves out: stopped at the pass's end, nothing made", async () => {
    const w = warmings("left-out", true);
    w.warm(image, 1);
    expect(w.of(image)).toBeDefined();
    w.planned([withRun!]);
    await w.settled();
    expect(chainPresent(join(dir, "left-out"), image.imageConfig().rootfs.diff_ids)).toBe(false);
  });
});

describe("the base's snapshots, started at the key pass's FROM", () => {
  // ADD of a URL stops the key pass (its key needs the download) and holds the build's pass until the server
  // answers: the server waits for the base's snapshots (or the unpacking line) before it does.
  let dir: string;
  let base: string;
  let diffIds: Digest[];
  let port = 0;
  let waitFor: () => boolean = () => false;
  let patience = 0;
  let seen: boolean | undefined;
  const server = createServer(async (_req, res) => {
    for (let waited = 0; !waitFor() && waited < patience; waited += 20) await sleep(20);
    seen = waitFor();
    res.end("payload\n");
  });
  beforeAll(async () => {
    dir = await tempDir();
    base = await localBase(join(dir, "base"));
    const ctx = { home: join(dir, "base-home"), env: {} };
    const opened = await openSource(parseImageArgument(base), ctx);
    diffIds = (await selectImage(await loadRoot(opened.source, opened.root))).imageConfig().rootfs.diff_ids;
    await opened.close();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => server.close());

  const dockerfile = () => `FROM ${base}\nADD http://127.0.0.1:${port}/payload /payload\nRUN cat /payload\n`;
  /** Build the Dockerfile under `dir/name`, its log lines into `lines`. */
  const build = async (
    name: string,
    lines: string[],
    o: Parameters<typeof scratchBuild>[3] = {},
    text = dockerfile(),
  ) => {
    seen = undefined;
    const context = join(dir, `${name}-ctx`);
    await mkdir(context, { recursive: true });
    await writeFile(join(context, "a.txt"), "a");
    await scratchBuild(join(dir, name), context, text, { log: (l) => lines.push(l), ...o });
  };
  const unpacking = (lines: string[]) => () => lines.some((l) => l.startsWith("Unpacking the image's"));

  it("a fresh home: made while the build's pass waits for the ADD, before it reaches the RUN", async () => {
    waitFor = () => chainPresent(join(dir, "fresh", "home"), diffIds);
    patience = 20_000;
    await build("fresh", []);
    expect(seen).toBe(true);
  }, 60_000);

  it("asked for by no RUN (every one cached, the snapshots gone): stopped at the pass's end, nothing made", async () => {
    const text = `FROM ${base}\nRUN cat /etc/passwd > /x\n`;
    await build("pruned", [], {}, text);
    const home = join(dir, "pruned", "home");
    expect(chainPresent(home, diffIds)).toBe(true);
    await rm(join(home, "snapshots"), { recursive: true });
    const lines: string[] = [];
    await build("pruned", lines, {}, text);
    expect(lines.join("\n")).toMatch(/Using cache/);
    expect(chainPresent(home, diffIds)).toBe(false);
    expect(await readdir(join(home, "snapshots", "tmp")).catch(() => [])).toEqual([]);
  }, 60_000);

  it("not when the chain is on disk (one of another boot here, which the RUN makes again)", async () => {
    patience = 1500;
    const home = join(dir, "stale", "home");
    for (const mode of ["overlay", "full"] as const) {
      const top = snapshotDir(home, mode, chainIds(diffIds).at(-1)!);
      await mkdir(join(top, "fs"), { recursive: true });
      await writeFile(join(top, "meta.json"), JSON.stringify({ boot: "another boot" }));
    }
    const lines: string[] = [];
    waitFor = unpacking(lines);
    await build("stale", lines);
    expect(seen).toBe(false);
    expect(unpacking(lines)()).toBe(true);
  }, 60_000);

  it("not with a cache import (which may leave the stage out): nothing before the key pass ends", async () => {
    patience = 1500;
    const exported = join(dir, "exported");
    // the cache has the ADD, not the RUN
    const cacheTo = [parseCacheTo(`type=local,dest=${exported},mode=max`)];
    await build("export", [], { cacheTo }, dockerfile().replace("RUN cat", "RUN head"));
    const lines: string[] = [];
    waitFor = unpacking(lines);
    await build("imported", lines, { cacheFrom: [parseCacheFrom(`type=local,src=${exported}`)] });
    expect(lines.join("\n")).toMatch(/^importing /m);
    expect(seen).toBe(false);
    expect(unpacking(lines)()).toBe(true);
  }, 60_000);
});
