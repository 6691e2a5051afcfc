/**
 * Issue 19, "leftovers after a kill": a Dockerfile build killed (SIGKILL) in a RUN step leaves its build
 * folder in the step cache's tmp/, its container folder (root mounted, container running) and runtime state.
 * The next berth command, whatever it is, sweeps them all by the owner pid and start time they record, the
 * read-only roots of the stages `--from` read (mounted in the build folder) too, and the snapshots it was making
 * in `snapshots/tmp` (a base being unpacked, a layer streamed from its tar). In an `oci:` layout (the image's
 * destination, or a --cache-to type=local), the blobs it created and its lease, which the next write there sweeps.
 */
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers } from "../../src/image/index.ts";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { putDocument } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";
import { handImages } from "./helpers/image.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-kill-");
  base = await localBase(join(tmp, "base"));
});

// whatever a failing test left mounted (a sweep that did not unmount)
afterAll(async () => {
  for (const point of await mountsUnder(tmp)) execFileSync("umount", ["-l", point]);
});

const list = (dir: string) => readdir(dir).catch(() => [] as string[]);

interface KillOptions {
  /** Files of the build context besides the Dockerfile. */
  files?: Record<string, string>;
  /** Polled once STEP-42 is printed: the build is killed when it holds (default: at once). */
  when?: (home: string) => Promise<boolean>;
  /** The build's destination (default `killed:1`). */
  tag?: string;
  /** Run before the kill, while the build lives. */
  whileAlive?: (home: string) => Promise<void>;
  /** A context folder written already (`files` are then not written). */
  context?: string;
  /** The build's --cache-to. */
  cacheTo?: string;
}

/**
 * Start `berth build` of `dockerfile` with BERTH_HOME `tmp/<name>`, kill it (SIGKILL) once a RUN step printed
 * STEP-42 (and `when` holds); returns the home.
 */
async function killedBuild(name: string, dockerfile: string, o: KillOptions = {}): Promise<string> {
  const home = join(tmp, name);
  const ctx =
    o.context ?? (await writeContext(join(tmp, `${name}-ctx`), { ...o.files, Dockerfile: dockerfile }));
  const cacheTo = o.cacheTo ? ["--cache-to", o.cacheTo] : [];
  const build = spawnBerth(["build", ctx, "--dockerfile", "-t", o.tag ?? "killed:1", ...cacheTo], { home });
  let stderr = "";
  let ended = false;
  void build.done.then(() => {
    ended = true;
  });
  const started = new Promise<boolean>((resolve) => {
    build.child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes("STEP-42")) resolve(true);
    });
    void build.done.then(() => resolve(false));
  });
  expect(await started, stderr).toBe(true);
  while (o.when && !ended && !(await o.when(home))) await new Promise((r) => setTimeout(r, 2));
  expect(ended, stderr).toBe(false);
  await o.whileAlive?.(home);
  build.child.kill("SIGKILL");
  await build.done;
  return home;
}

describe("a Dockerfile build killed in a RUN step", () => {
  it("leaves a build folder, a container and its mounted root that the next command sweeps", async () => {
    const home = await killedBuild("home", `FROM ${base}\nRUN echo STEP-$((40 + 2)) && sleep 60\n`);
    const dfTmp = join(home, "cache", "dockerfile", "tmp");
    const containers = join(home, "run", "containers");
    expect((await list(dfTmp)).filter((n) => n.startsWith("build-"))).toHaveLength(1);
    expect(await list(containers)).toHaveLength(1);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect((await list(dfTmp)).filter((n) => n.startsWith("build-"))).toEqual([]);
    expect(await list(containers)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
    expect(await list(join(home, "run", "state"))).toEqual([]);
  }, 120_000);

  it("leaves the stage roots --from mounted (read-only overlays in the build folder), which the next command unmounts", async () => {
    // a wildcard source: read through the stage's mounted root (a literal one is read without it)
    const dockerfile = `FROM ${base} AS a\nRUN echo a > /a.txt\nFROM ${base}\nCOPY --from=a /a*.txt /\nRUN echo STEP-$((40 + 2)) && sleep 60\n`;
    const home = await killedBuild("home-from", dockerfile);
    const dfTmp = join(home, "cache", "dockerfile", "tmp");
    const [build] = (await list(dfTmp)).filter((n) => n.startsWith("build-"));
    expect(await mountsUnder(join(dfTmp, build!))).toEqual([join(dfTmp, build!, "stage-0")]);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(await list(dfTmp)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
  }, 120_000);

  it("leaves the snapshots it was making in snapshots/tmp, which the next command removes; the store stays whole", async () => {
    // Stage `big`'s base is unpacked into snapshots in the background (its 40000 files take a second or more)
    // while the last stage's RUN runs; that stage's COPY snapshot was streamed from its tar, and its RUN's
    // layer, which the next RUN needs, is being streamed into snapshots/tmp.
    const big = await bigBase();
    const dockerfile = [
      `FROM ${big} AS big`,
      "RUN ls /big | wc -l > /count",
      `FROM ${base}`,
      "COPY a.txt /a.txt",
      "RUN echo STEP-$((40 + 2)) && sleep 60 && echo b > /b.txt",
      "RUN cat /a.txt /b.txt",
      "COPY --from=big /count /count",
    ].join("\n");
    const home = join(tmp, "home-snapshots");
    const snapTmp = join(home, "snapshots", "tmp");
    const making = async () => {
      const names = await list(snapTmp);
      // a base layer's snapshot (named by its chain ID) and a streamed one, both under way
      return names.some((n) => /^[0-9a-f]{12}-/.test(n)) && names.some((n) => n.startsWith("stream-"));
    };
    let whileAlive: string[] = [];
    await killedBuild("home-snapshots", `${dockerfile}\n`, {
      files: { "a.txt": "a\n" },
      when: making,
      whileAlive: async () => {
        // a second berth's sweep leaves what this live one is making alone
        const other = await berth(["images"], { home });
        expect(other.code, other.stderr).toBe(0);
        whileAlive = await list(snapTmp);
      },
    });
    expect(whileAlive.some((n) => n.startsWith("stream-"))).toBe(true);
    expect(await list(snapTmp)).not.toEqual([]);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(await list(snapTmp)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
    const fsck = await berth(["store", "fsck"], { home });
    expect(fsck.code, fsck.stderr).toBe(0);
    const ctx = await writeContext(join(tmp, "rebuild-ctx"), {
      "a.txt": "a\n",
      Dockerfile: `${dockerfile.replace(" && sleep 60", "")}\n`,
    });
    const rebuild = await berth(["build", ctx, "--dockerfile", "-t", "rebuilt:1"], { home });
    expect(rebuild.code, rebuild.stderr).toBe(0);
    expect((await berth(["images"], { home })).stdout).toContain("rebuilt");
    expect(await list(snapTmp)).toEqual([]);
  }, 180_000);

  // The layout holds, unreferenced, an earlier build's blobs (the base's and a.txt's layers, which the killed
  // build finds there and relies on) and a loose blob; the killed build creates b.txt's layer. The next build
  // into the layout (as its image's destination, or as its --cache-to) must leave exactly what index.json
  // reaches (umoci gc on a copy says which) and what was there before the killed build: b.txt's layer goes.
  for (const next of ["image", "cache"] as const) {
    it(`leaves the layers it created in an oci: layout, which the next build writing there (${next === "image" ? "its image" : "--cache-to type=local"}) removes, keeping what was there before`, async () => {
      const out = join(tmp, `out-layout-${next}`);
      const home = join(tmp, `home-oci-${next}`);
      const dockerfile = `FROM ${base}\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\nRUN echo STEP-$((40 + 2)) && sleep 60\n`;
      // one context for both builds: a.txt's layer is the same blob in each
      const context = await writeContext(join(tmp, `oci-ctx-${next}`), {
        "a.txt": "a\n",
        "b.txt": "b\n",
        Dockerfile: dockerfile,
        "pre.Dockerfile": `FROM ${base}\nCOPY a.txt /a.txt\n`,
      });
      const preDf = join(context, "pre.Dockerfile");
      const first = await berth(["build", context, "-f", preDf, "-t", `oci:${out}:pre`], { home });
      expect(first.code, first.stderr).toBe(0);
      const index = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
      await writeFile(join(out, "index.json"), JSON.stringify({ ...index, manifests: [] }));
      await putDocument(out, "a loose blob\n", "application/octet-stream");
      const before = await blobsOf(out);

      await killedBuild(`home-oci-${next}`, dockerfile, { context, tag: `oci:${out}:x` });
      expect(await list(join(out, ".berth-leases"))).toHaveLength(1);
      const killed = await blobsOf(out);
      // b.txt's layer only: the base's and a.txt's layers were there
      expect(killed.filter((d) => !before.includes(d))).toHaveLength(1);

      const ctx = await writeContext(join(tmp, `oci-rebuild-${next}`), {
        "c.txt": "c\n",
        Dockerfile: `FROM ${base}\nCOPY c.txt /c.txt\nRUN echo c\n`,
      });
      const args =
        next === "image" ? ["-t", `oci:${out}:x`] : ["-t", "app:1", "--cache-to", `type=local,dest=${out}`];
      const rebuild = await berth(["build", ctx, "--dockerfile", ...args], { home });
      expect(rebuild.code, rebuild.stderr).toBe(0);
      expect(await list(join(out, ".berth-leases"))).toEqual([]);
      expect(await list(join(out, ".berth-tmp"))).toEqual([]);
      const reached = await umociReached(out);
      expect(reached.length).toBeGreaterThan(0);
      expect(await blobsOf(out)).toEqual([...new Set([...reached, ...before])].sort());
    }, 120_000);
  }

  it("killed while it writes its --cache-to type=local, leaves the blobs it created, which the next cache export there removes", async () => {
    // The cache layout on another file system (tmpfs) than BERTH_HOME: its 32 MiB layer is copied, not linked,
    // and the build is killed once a first blob of the cache is in (retried when the export ended first).
    const shm = await mkdtemp("/dev/shm/berth-kill-cache-");
    try {
      const dockerfile = `FROM ${base}\nRUN echo STEP-$((40 + 2)) && head -c 33554432 /dev/urandom > /big\n`;
      let out = "";
      let before: string[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        out = join(shm, `cache-${attempt}`);
        await mkdir(join(out, "blobs", "sha256"), { recursive: true });
        await writeFile(join(out, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
        await writeFile(join(out, "index.json"), '{"schemaVersion":2,"manifests":[]}');
        await putDocument(out, "a loose blob\n", "application/octet-stream");
        before = await blobsOf(out);
        await killedBuild(`home-cache-kill-${attempt}`, dockerfile, {
          when: async () => (await blobsOf(out)).length > before.length,
          cacheTo: `type=local,dest=${out}`,
        }).catch(() => undefined);
        const { manifests } = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
        if (manifests.length === 0 && (await list(join(out, ".berth-leases"))).length === 1) break;
      }
      expect(await list(join(out, ".berth-leases"))).toHaveLength(1);
      expect((await blobsOf(out)).length).toBeGreaterThan(before.length);

      const home = join(tmp, "home-cache-next");
      const ctx = await writeContext(join(tmp, "cache-next-ctx"), {
        Dockerfile: `FROM ${base}\nRUN echo c > /c\n`,
      });
      const next = await berth(
        ["build", ctx, "--dockerfile", "-t", "app:1", "--cache-to", `type=local,dest=${out}`],
        {
          home,
        },
      );
      expect(next.code, next.stderr).toBe(0);
      expect(await list(join(out, ".berth-leases"))).toEqual([]);
      expect(await list(join(out, ".berth-tmp"))).toEqual([]);
      const reached = await umociReached(out);
      expect(await blobsOf(out)).toEqual([...new Set([...reached, ...before])].sort());
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
  }, 240_000);
});

const blobsOf = async (layout: string) =>
  (await list(join(layout, "blobs", "sha256"))).map((h) => `sha256:${h}`).sort();

/** The blobs of `layout` that its index reaches, as umoci sees it: what `umoci gc` keeps of a copy. */
async function umociReached(layout: string): Promise<string[]> {
  const copy = `${layout}-umoci-gc`;
  await cp(layout, copy, { recursive: true });
  await run("umoci", ["gc", "--layout", copy]);
  return blobsOf(copy);
}

describe("a berth killed while it applies a layer through an overlay mount in snapshots/tmp", () => {
  it("leaves the mount and the folder, which the next command unmounts and removes", async () => {
    // layer 2 deletes a file of layer 1: it is applied through an overlay of layer 1, mounted
    // at snapshots/tmp/<chain ID>-p<pid>t<start>-<rand>/merged, and its 40000 files take a while
    const layout = join(tmp, "overlay-layout");
    const many = Array.from({ length: BIG }, (_, i) => ({ path: `many/${i}`, content: `${i}\n` }));
    await handImages(layout, [
      [{ path: "one", content: "1\n" }],
      [{ path: ".wh.one", content: "" }, ...many],
    ]);
    const home = join(tmp, "home-overlay");
    const snapTmp = join(home, "snapshots", "tmp");
    const ctx = await writeContext(join(tmp, "overlay-ctx"), {
      Dockerfile: `FROM oci:${layout}:2\nRUN true\n`,
    });
    const run = spawnBerth(["build", ctx, "--dockerfile", "-t", "killed:1"], { home });
    let ended = false;
    void run.done.then(() => {
      ended = true;
    });
    const merged = async () => (await mountsUnder(snapTmp)).filter((m) => m.endsWith("/merged"));
    while (!ended && (await merged()).length === 0) await new Promise((r) => setTimeout(r, 2));
    expect(ended).toBe(false);
    run.child.kill("SIGKILL");
    await run.done;
    const [left] = await list(snapTmp);
    expect(await mountsUnder(snapTmp)).toEqual([join(snapTmp, left!, "merged")]);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(await mountsUnder(home)).toEqual([]);
    expect(await list(snapTmp)).toEqual([]);
  }, 120_000);
});

/** `oci:DIR:big`: the base with a layer of 40000 small files in /big, slow to unpack. */
const BIG = 40_000;
async function bigBase(): Promise<string> {
  const files = join(tmp, "big-files");
  await mkdir(files, { recursive: true });
  for (let i = 0; i < BIG; i += 1000) {
    await Promise.all(
      Array.from({ length: 1000 }, (_, j) => writeFile(join(files, String(i + j)), `${i + j}\n`)),
    );
  }
  const ctx = { home: join(tmp, "big-home"), env: {} };
  await appendLayers(
    parseImageArgument(base),
    [{ source: files, dest: "/big" }],
    parseImageArgument(`oci:${tmp}/big:big`),
    ctx,
    { sourceDateEpoch: 0 },
  );
  return `oci:${tmp}/big:big`;
}
