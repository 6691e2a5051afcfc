/**
 * Issue 19, "concurrent commands lose blobs" and "leftovers after a kill": races between berth processes on
 * one store, each run many times through the real CLI against a real registry (slowed or broken by the fault
 * proxy), and kill -9 at chosen moments. After every round the store must pass `fsck` and every command that
 * exited 0 must have stored a complete image (`berth export` reads every layer).
 * Each race is made to happen in every round: the fault proxy holds a blob request until the other process
 * has done its part. On the code before leases, 19 of 20 pulls exited 0 with an image gc had broken (the
 * 20th failed), and 20 of 20 succeeding pulls exited 0 with the shared layer removed by the failing pull.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { tarStreamOf } from "../layer/helpers.ts";
import { type FaultProxy, startFaultProxy } from "../registry/helpers/faultproxy.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

/** Rounds per race (BERTH_RACE_ROUNDS overrides, e.g. to measure failure rates). */
const ROUNDS = Number(process.env.BERTH_RACE_ROUNDS ?? 12);

let dir: string;
let reg: RegistryHarness;
let proxy: FaultProxy;
let src: OciLayout;
const layers = new Map<string, Descriptor>();
const diffIds = new Map<string, string>();

/** A gzip layer holding one file of random text (a real tar, so `export` can apply it). */
async function layer(name: string, bytes: number): Promise<Descriptor> {
  const tar = await tarStreamOf([{ name, content: randomBytes(bytes / 2).toString("hex") }]);
  const desc = await src.writeBlobBytes(gzipSync(tar, { level: 1 }), MediaType.OciLayerGzip);
  layers.set(name, desc);
  diffIds.set(desc.digest, digestBytes(tar));
  return desc;
}

async function image(tag: string, ls: Descriptor[]): Promise<void> {
  const config = await src.writeBlobBytes(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: ls.map((l) => diffIds.get(l.digest)) },
        history: [{ created_by: tag }],
      }),
    ),
    MediaType.OciConfig,
  );
  const manifest = await src.writeBlobBytes(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: ls })),
    MediaType.OciManifest,
  );
  await src.tag(manifest, tag);
}

/** A reason the store is broken (fsck reads and verifies every blob of every image), or undefined. */
async function brokenStore(home: string): Promise<string | undefined> {
  const fsck = await berth(["store", "fsck"], { home });
  return fsck.code === 0 ? undefined : `fsck: ${fsck.stdout.trim()} ${fsck.stderr.trim()}`;
}

/** A reason the stored image `ref` is broken, or undefined when fsck is clean and export reads every layer. */
async function brokenImage(home: string, ref: string): Promise<string | undefined> {
  const fsck = await berth(["store", "fsck"], { home });
  if (fsck.code !== 0) return `fsck: ${fsck.stdout.trim()} ${fsck.stderr.trim()}`;
  const out = join(home, `export-${randomBytes(4).toString("hex")}.tar`);
  const exp = await berth(["export", ref, "-o", out], { home });
  await rm(out, { force: true });
  if (exp.code !== 0) return `export: ${exp.stderr.trim()}`;
  return undefined;
}

function blobFile(home: string, d: Descriptor): string {
  return join(home, "store", "blobs", "sha256", d.digest.slice("sha256:".length));
}

async function waitFor(cond: () => Promise<boolean>, stop: Promise<unknown>): Promise<boolean> {
  let stopped = false;
  void stop.finally(() => {
    stopped = true;
  });
  while (!stopped) {
    if (await cond()) return true;
    await sleep(5);
  }
  return cond();
}

const exists = (p: string) =>
  readFile(p).then(
    () => true,
    () => false,
  );

beforeAll(async () => {
  dir = await tempDir("berth-races-");
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.port);
  src = await OciLayout.openOrCreate(join(dir, "src"));
  const multi: Descriptor[] = [];
  for (let i = 0; i < 6; i++) multi.push(await layer(`multi-${i}`, 96 * 1024));
  await image("multi", multi);
  const shared = await layer("shared", 64 * 1024);
  await image("a", [shared, await layer("only-a", 64 * 1024)]);
  await image("b", [shared, await layer("only-b", 64 * 1024)]);
  await image("big", [await layer("big", 4 * 1024 * 1024)]);
  const pushHome = join(dir, "push-home");
  for (const tag of ["multi", "a", "b", "big"]) {
    const r = await berth(["copy", `oci:${join(dir, "src")}:${tag}`, `docker://${reg.host}/race/${tag}:1`], {
      home: pushHome,
    });
    if (r.code !== 0) throw new Error(`push ${tag}: ${r.stderr}`);
  }
}, 120_000);

afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
});

/** A promise with its resolver. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((r) => {
    fire = r;
  });
  return { promise, fire };
}

describe("store safety under concurrency", () => {
  it("`store gc` while a pull's blobs are written but not yet committed: every pull that exits 0 stored a complete image", async () => {
    const home = join(dir, "gc-home");
    const ref = `${proxy.host}/race/multi:1`;
    const last = layers.get("multi-5")!.digest;
    const broken: string[] = [];
    let succeeded = 0;
    let removedWhilePulling = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // The pull (one blob at a time: config, layers 0-4, then 5) is held at its last layer while `store gc`
      // runs, and a second gc runs concurrently with the rest of the pull.
      const reached = signal();
      const collected = signal();
      proxy.clear();
      proxy.add({
        method: "GET",
        path: new RegExp(last),
        fault: { kind: "pass" },
        onMatch: reached.fire,
        gate: collected.promise,
      });
      const pull = spawnBerth(["--jobs", "1", "pull", ref], { home });
      const gcs = (async () => {
        await Promise.race([reached.promise, pull.done]);
        const g = await berth(["store", "gc", "--json"], { home });
        expect(g.code, g.stderr).toBe(0);
        removedWhilePulling += (JSON.parse(g.stdout) as { removed: string[] }).removed.length;
        const during = berth(["store", "gc"], { home });
        collected.fire();
        expect((await during).code).toBe(0);
      })();
      const [p] = await Promise.all([pull.done, gcs]);
      if (p.code === 0) {
        succeeded++;
        const why = await brokenStore(home);
        if (why) broken.push(`round ${round}: ${why}`);
      }
      await berth(["rmi", ref], { home });
    }
    console.log(
      `gc during pull: ${ROUNDS} rounds, ${succeeded} pulls exited 0, ${broken.length} broken, ${removedWhilePulling} blobs removed by gc mid-pull`,
    );
    expect(broken).toEqual([]);
    expect(succeeded).toBe(ROUNDS);
    expect(removedWhilePulling).toBe(0);
    // A last pull's image is applied whole (every layer read and extracted).
    proxy.clear();
    expect((await berth(["pull", ref], { home })).code).toBe(0);
    expect(await brokenImage(home, ref)).toBeUndefined();
  }, 180_000);

  it("a failing pull's cleanup keeps the layer a concurrent pull relies on", async () => {
    const home = join(dir, "share-home");
    const onlyA = layers.get("only-a")!.digest;
    const onlyB = layers.get("only-b")!.digest;
    const shared = layers.get("shared")!;
    const broken: string[] = [];
    let succeeded = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Both pulls take config, the shared layer, then their own layer, one blob at a time. a's own layer
      // is held until b has checked for (or written) the shared one and asks for its own; then it arrives
      // short and its resume finds nothing, so a fails and cleans up; b's own layer is held until a exited.
      const bAsked = signal();
      const aGone = signal();
      proxy.clear();
      proxy.add({
        method: "GET",
        path: new RegExp(onlyA),
        fault: { kind: "truncate", after: 1000 },
        gate: bAsked.promise,
      });
      proxy.add({
        method: "GET",
        path: new RegExp(onlyA),
        fault: { kind: "status", status: 404 },
        times: Infinity,
      });
      proxy.add({
        method: "GET",
        path: new RegExp(onlyB),
        fault: { kind: "pass" },
        onMatch: bAsked.fire,
        gate: aGone.promise,
      });
      const a = spawnBerth(["--jobs", "1", "pull", `${proxy.host}/race/a:1`], { home });
      // b starts once a has written the shared layer, so b finds it present (written by a, not by b).
      await waitFor(() => exists(blobFile(home, shared)), a.done);
      const b = spawnBerth(["--jobs", "1", "pull", `${proxy.host}/race/b:1`], { home });
      void a.done.finally(aGone.fire);
      void b.done.finally(bAsked.fire);
      const [ra, rb] = await Promise.all([a.done, b.done]);
      expect(ra.code, ra.stderr).not.toBe(0);
      if (rb.code === 0) {
        succeeded++;
        const why = await brokenStore(home);
        if (why) broken.push(`round ${round}: ${why}`);
      }
      await berth(["rmi", `${proxy.host}/race/b:1`], { home });
    }
    console.log(
      `failing + succeeding pull: ${ROUNDS} rounds, ${succeeded} of b exited 0, ${broken.length} broken`,
    );
    expect(broken).toEqual([]);
    expect(succeeded).toBe(ROUNDS);
    proxy.clear();
    expect((await berth(["pull", `${proxy.host}/race/b:1`], { home })).code).toBe(0);
    expect(await brokenImage(home, `${proxy.host}/race/b:1`)).toBeUndefined();
  }, 180_000);
});

describe("leftovers after kill -9", () => {
  it("a pull killed mid-transfer leaves temp files and a lease that the next command sweeps", async () => {
    const home = join(dir, "kill-home");
    proxy.clear();
    proxy.add({
      method: "GET",
      path: new RegExp(layers.get("big")!.digest),
      fault: { kind: "stall", after: 1024 * 1024 },
    });
    const tmp = join(home, "store", ".berth-tmp");
    const leases = join(home, "store", ".berth-leases");
    const pull = spawnBerth(["--jobs", "1", "pull", `${proxy.host}/race/big:1`], { home });
    // Mid-transfer: the big layer's temp file holds the first MiB the proxy let through (the config's
    // temp file, tiny and soon renamed, does not count).
    const started = await waitFor(async () => {
      for (const n of await readdir(tmp).catch(() => [] as string[])) {
        const st = await stat(join(tmp, n)).catch(() => undefined);
        if (n.endsWith(".tmp") && st && st.size >= 1024 * 1024) return true;
      }
      return false;
    }, pull.done);
    expect(started).toBe(true);
    pull.child.kill("SIGKILL");
    await pull.done;
    const left = await readdir(tmp);
    expect(left.length).toBeGreaterThan(0);
    const leftLeases = await readdir(leases).catch(() => [] as string[]);
    // An edit's temp folder left by a killed berth, as its name records it (pid 2^22+ is beyond pid_max).
    await mkdir(join(home, "tmp", "edit-p4194399t1-AbCdEf", "layer"), { recursive: true });
    await mkdir(join(home, "cache", "dockerfile", "tmp", "build-p4194399t1-AbCdEf"), { recursive: true });
    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
    // The killed pull's lease (its blobs were protected while it lived) expired and went too.
    expect(leftLeases).toHaveLength(1);
    expect(await readdir(leases).catch(() => [] as string[])).toEqual([]);
    expect(await readdir(join(home, "tmp"))).toEqual([]);
    expect(await readdir(join(home, "cache", "dockerfile", "tmp"))).toEqual([]);
    // The pull now completes, and the store is whole.
    proxy.clear();
    const again = await berth(["pull", `${proxy.host}/race/big:1`], { home });
    expect(again.code, again.stderr).toBe(0);
    expect(await brokenImage(home, `${proxy.host}/race/big:1`)).toBeUndefined();
  }, 60_000);

  it("an index lock held by a killed berth is taken over by the next command", async () => {
    const home = join(dir, "lock-home");
    expect((await berth(["pull", `${reg.host}/race/a:1`], { home })).code).toBe(0);
    // Many unreferenced blobs make `store gc` hold the index lock long enough to be killed holding it.
    const blobs = join(home, "store", "blobs", "sha256");
    const lockDir = join(home, "store", "index.json.lock");
    let killedHolding = false;
    for (let attempt = 0; attempt < 5 && !killedHolding; attempt++) {
      for (let i = 0; i < 3000; i++) await writeFile(join(blobs, randomBytes(32).toString("hex")), "x");
      const gc = spawnBerth(["store", "gc"], { home });
      const pid = String(gc.child.pid);
      const held = await waitFor(
        async () =>
          ((await readFile(join(lockDir, "owner"), "utf8").catch(() => "")).split(" ")[0] ?? "") === pid,
        gc.done,
      );
      if (held) {
        gc.child.kill("SIGKILL");
        const r = await gc.done;
        killedHolding = r.code === null;
      } else await gc.done;
    }
    expect(killedHolding).toBe(true);
    // The lock folder names its dead owner; the next commands take it over at once and work.
    const owner = (await readFile(join(lockDir, "owner"), "utf8")).trim();
    expect(owner).toMatch(/^\d+ \d+$/);
    const pulled = await berth(["pull", `${reg.host}/race/b:1`], { home });
    expect(pulled.code, pulled.stderr).toBe(0);
    const gc = await berth(["store", "gc"], { home });
    expect(gc.code, gc.stderr).toBe(0);
    expect(await brokenImage(home, `${reg.host}/race/b:1`)).toBeUndefined();
    expect(await brokenImage(home, `${reg.host}/race/a:1`)).toBeUndefined();
  }, 180_000);
});
