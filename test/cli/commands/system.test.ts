/**
 * `berth system df` and `berth system prune` (issue 16, point 7) through the real CLI: disk use by kind, a dry
 * run first, then unused blobs and stale temporary files, then (--all) every cache; the store's images stay.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";

let dir: string;
let home: string;
let blob: string;

interface Kind {
  kind: string;
  bytes: number;
  reclaimable: number;
}

async function df(): Promise<Record<string, Kind>> {
  const r = await berth(["system", "df", "--json"], { home });
  expect(r.code, r.stderr).toBe(0);
  return Object.fromEntries((JSON.parse(r.stdout).kinds as Kind[]).map((k) => [k.kind, k]));
}

beforeAll(async () => {
  dir = await tempDir("berth-system-");
  home = join(dir, "home");
  await umociImage(join(dir, "src"), "v1", [[{ path: "hello", content: "hello\n".repeat(1000) }]]);
  expect((await berth(["copy", `oci:${join(dir, "src")}:v1`, "app:1"], { home })).code).toBe(0);
  // a Dockerfile build fills the step cache
  const ctx = join(dir, "ctx");
  await mkdir(ctx);
  await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n");
  await writeFile(join(ctx, "a.txt"), "a".repeat(10000));
  const built = await berth(["build", ctx, "--dockerfile", "-t", "df:1"], { home });
  expect(built.code, built.stderr).toBe(0);
  // a blob no image uses, and a temporary folder an older berth left two hours ago
  const bytes = Buffer.alloc(50_000, 7);
  blob = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(home, "store", "blobs", "sha256", blob), bytes);
  const stale = join(home, "tmp", "left-by-an-old-berth");
  await mkdir(stale, { recursive: true });
  await writeFile(join(stale, "f"), "x".repeat(20_000));
  const past = new Date(Date.now() - 2 * 3600 * 1000);
  await utimes(stale, past, past);
});

describe("berth system", () => {
  it("df shows each kind's size and what prune would reclaim", async () => {
    const k = await df();
    expect(k.store!.bytes).toBeGreaterThan(50_000);
    expect(k.store!.reclaimable).toBe(50_000);
    expect(k["dockerfile-cache"]!.bytes).toBeGreaterThan(0);
    expect(k.temporary!.reclaimable).toBeGreaterThanOrEqual(20_000);
    const text = await berth(["system", "df"], { home });
    expect(text.stdout).toMatch(/^KIND +SIZE +RECLAIMABLE +WHAT\n/);
    expect(text.stdout).toContain(`Total `);
  });

  it("prune is a dry run first, then removes unused blobs and stale temporary files", async () => {
    const dry = await berth(["system", "prune"], { home });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("Would remove store: 1 unused blobs, 48.8 KiB");
    expect(dry.stdout).toContain("Run 'berth system prune --force' to remove it.");
    expect(await readdir(join(home, "store", "blobs", "sha256"))).toContain(blob);

    const r = await berth(["system", "prune", "--force", "--json"], { home });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ schemaVersion: 1, dryRun: false, all: false });
    expect(j.freed).toBeGreaterThanOrEqual(70_000);
    expect(await readdir(join(home, "store", "blobs", "sha256"))).not.toContain(blob);
    expect(await readdir(join(home, "tmp"))).not.toContain("left-by-an-old-berth");
    expect((await df())["dockerfile-cache"]!.bytes).toBeGreaterThan(0);
  });

  it("prune --all --force empties the caches and keeps the images", async () => {
    const r = await berth(["system", "prune", "--all", "--force"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Removed dockerfile-cache: \d+ entries/);
    expect(await readdir(join(home, "cache", "dockerfile")).catch(() => [])).toEqual([]);
    const images = JSON.parse((await berth(["images", "--json"], { home })).stdout).images;
    expect(images.map((i: { name: string }) => i.name).sort()).toEqual([
      "docker.io/library/app:1",
      "docker.io/library/df:1",
    ]);
    expect((await berth(["store", "fsck"], { home })).code).toBe(0);
  });
});
