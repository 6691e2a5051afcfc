/**
 * The step cache across machines (issue 20): `--cache-to`/`--cache-from` in BuildKit's format, through the real
 * CLI, a real registry (docker-registry) and OCI layouts. "Machine A" and "machine B" are two BERTH_HOMEs: B starts
 * empty and must reuse A's steps instead of running them.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StepCache } from "../../src/dockerfile/cache.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { htpasswdLine } from "../registry/helpers/certs.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let registry: RegistryHarness;

beforeAll(async () => {
  tmp = await tempDir("berth-df-cacheio-");
  base = await localBase(join(tmp, "base"));
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

interface Json {
  digest: string;
  steps: { instruction: string; cached: boolean; stage: number }[];
}

const EPOCH = { SOURCE_DATE_EPOCH: "0" };

async function build(
  ctx: string,
  home: string,
  out: string,
  extra: string[],
  env: Record<string, string> = {},
) {
  const r = await berth(["build", ctx, "--dockerfile", "-t", out, "--json", ...extra], { home, env });
  if (r.code !== 0) throw new Error(r.stderr);
  return { json: JSON.parse(r.stdout) as Json, stderr: r.stderr };
}

/** A two-stage build: each RUN prints a token only when it really runs. */
async function twoStage(name: string, token: string): Promise<string> {
  return writeContext(join(tmp, name), {
    "src.txt": `${token}\n`,
    Dockerfile: `FROM ${base} AS builder
COPY src.txt /src.txt
RUN echo "RAN-BUILDER-${token}" && cat /src.txt > /built
FROM ${base}
ENV MODE=final
COPY --from=builder /built /app/built
RUN echo "RAN-FINAL-${token}" && cp /app/built /app/final
CMD ["cat", "/app/final"]
`,
  });
}

const home = (name: string) => join(tmp, "homes", name);

/** A build to a new OCI layout (`out-NAME`) in the home NAME, from the local cache in `dir`; its result. */
function buildFromLocal(ctx: string, name: string, dir: string) {
  const out = `oci:${tmp}/out-${name}:x`;
  return berth(["build", ctx, "--dockerfile", "-t", out, "--cache-from", `type=local,src=${dir}`], {
    home: home(name),
    env: EPOCH,
  });
}

/** The snapshots in a BERTH_HOME (runtime/snapshots.ts: one folder per chain ID, under the mode's folder). */
async function snapshotsMade(berthHome: string): Promise<string[]> {
  const root = join(berthHome, "snapshots");
  const made: string[] = [];
  for (const mode of ["overlay", "full"]) {
    for (const id of await readdir(join(root, mode)).catch(() => [])) made.push(`${mode}/${id}`);
  }
  return made;
}

describe("--cache-to type=registry / --cache-from type=registry", () => {
  it("mode=max: a fresh machine runs no RUN step and gets the same image", async () => {
    const ctx = await twoStage("max", "tok-max");
    const ref = `${registry.host}/cache/app:max`;
    const a = await build(ctx, home("max-a"), `oci:${tmp}/out-max-a:x`, [
      "--cache-to",
      `type=registry,ref=${ref},mode=max`,
    ]);
    expect(a.stderr).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-BUILDER-tok-max/m);
    expect(a.stderr).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-FINAL-tok-max/m);
    expect(a.stderr).toMatch(/exporting cache to .*mode=max/);

    const b = await build(ctx, home("max-b"), `oci:${tmp}/out-max-b:x`, [
      "--cache-from",
      `type=registry,ref=${ref}`,
    ]);
    expect(b.stderr).toContain("importing cache manifest from");
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-BUILDER/m);
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-FINAL/m);
    expect(b.json.digest).toBe(a.json.digest);
    expect(b.json.steps.filter((s) => /^(RUN|COPY)/.test(s.instruction)).every((s) => s.cached)).toBe(true);

    // The cache manifest is BuildKit's: an OCI index of the layers and one cacheconfig.v0 blob of layers + records.
    const res = await fetch(`http://${registry.host}/v2/cache/app/manifests/max`, {
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    const index = (await res.json()) as {
      mediaType: string;
      manifests: { mediaType: string; digest: string }[];
    };
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    const cfgDesc = index.manifests.find((m) => m.mediaType === "application/vnd.buildkit.cacheconfig.v0")!;
    expect(cfgDesc?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(index.manifests.filter((m) => m.mediaType.includes("layer")).length).toBe(4);
    const cfg = (await (
      await fetch(`http://${registry.host}/v2/cache/app/blobs/${cfgDesc.digest}`)
    ).json()) as {
      layers: { blob: string; parent: number }[];
      records: { digest: string; inputs?: { link: number }[][]; layers?: { layer: number }[] }[];
    };
    expect(cfg.layers.length).toBe(4);
    expect(cfg.records.some((r) => r.layers?.length && r.inputs?.[0]?.[0]?.link !== undefined)).toBe(true);
  });

  it("mode=min: a fresh machine reuses the final stage's steps without building the stage they copy from", async () => {
    const ctx = await twoStage("min", "tok-min");
    const ref = `${registry.host}/cache/app:min`;
    const ran = (stderr: string) => stderr.match(/^(?:\[stage \d+\/\d+\] )?RAN-[A-Z]+-tok-min$/gm) ?? [];
    const a = await build(
      ctx,
      home("min-a"),
      `oci:${tmp}/out-min-a:x`,
      ["--cache-to", `type=registry,ref=${ref},mode=min`],
      EPOCH,
    );
    expect(ran(a.stderr)).toHaveLength(2);
    const b = await build(
      ctx,
      home("min-b"),
      `oci:${tmp}/out-min-b:x`,
      ["--cache-from", `type=registry,ref=${ref}`],
      EPOCH,
    );
    // As BuildKit: the builder's steps are not in a min cache, but the final stage's COPY --from is keyed on
    // the builder's definition (its steps' keys), which B computes without running them; every final step is
    // in the cache, so the builder is never built: no RUN runs, and the image is A's.
    expect(ran(b.stderr)).toEqual([]);
    expect(b.json.steps.every((s) => s.stage === 1 && s.cached)).toBe(true);
    expect(b.json.digest).toBe(a.json.digest);
    // A change to the builder's source changes its key: B builds the builder and then the final stage.
    await writeFile(join(ctx, "src.txt"), "changed\n");
    const c = await build(
      ctx,
      home("min-b"),
      `oci:${tmp}/out-min-c:x`,
      ["--cache-from", `type=registry,ref=${ref}`],
      EPOCH,
    );
    expect(ran(c.stderr)).toHaveLength(2);
  });

  it("oci-mediatypes=false and image-manifest=true write the other shapes BuildKit writes, and read back", async () => {
    const ctx = await twoStage("shapes", "tok-shapes");
    for (const [tag, attrs, mediaType] of [
      ["docker", "oci-mediatypes=false", "application/vnd.docker.distribution.manifest.list.v2+json"],
      ["manifest", "image-manifest=true", "application/vnd.oci.image.manifest.v1+json"],
    ] as const) {
      const ref = `${registry.host}/cache/shapes:${tag}`;
      const a = await build(ctx, home(`shapes-a-${tag}`), `oci:${tmp}/out-shapes:a${tag}`, [
        "--cache-to",
        `type=registry,ref=${ref},mode=max,${attrs}`,
      ]);
      const res = await fetch(`http://${registry.host}/v2/cache/shapes/manifests/${tag}`, {
        headers: { accept: `${mediaType}` },
      });
      expect(((await res.json()) as { mediaType: string }).mediaType).toBe(mediaType);
      const b = await build(ctx, home(`shapes-b-${tag}`), `oci:${tmp}/out-shapes:b${tag}`, [
        "--cache-from",
        `type=registry,ref=${ref}`,
      ]);
      expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
      expect(b.json.digest).toBe(a.json.digest);
    }
  });
});

describe("--cache-to compression=", () => {
  it("compression=zstd recompresses the cache's layers (same diff IDs); a fresh machine runs nothing from them", async () => {
    const ctx = await twoStage("zstd", "tok-zstd");
    const ref = `${registry.host}/cache/zstd:1`;
    await build(ctx, home("zstd-a"), `oci:${tmp}/out-zstd:a`, [
      "--cache-to",
      `type=registry,ref=${ref},mode=max,compression=zstd,compression-level=5`,
    ]);
    const index = (await (
      await fetch(`http://${registry.host}/v2/cache/zstd/manifests/1`, {
        headers: { accept: "application/vnd.oci.image.index.v1+json" },
      })
    ).json()) as { manifests: { mediaType: string }[] };
    const layers = index.manifests.filter((m) => m.mediaType.includes("layer"));
    expect(layers.length).toBe(4);
    expect(layers.every((m) => m.mediaType === "application/vnd.oci.image.layer.v1.tar+zstd")).toBe(true);
    const b = await build(ctx, home("zstd-b"), `oci:${tmp}/out-zstd:b`, ["--cache-from", ref]);
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    const manifest = JSON.parse(
      await readFile(join(tmp, "out-zstd", "blobs", "sha256", b.json.digest.slice("sha256:".length)), "utf8"),
    ) as { layers: { mediaType: string }[] };
    expect(manifest.layers.at(-1)?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
  });
});

describe("--cache-to type=local / --cache-from type=local", () => {
  it("round-trips through an OCI layout, tagged latest as BuildKit's local cache", async () => {
    const ctx = await twoStage("local", "tok-local");
    const dir = join(tmp, "local-cache");
    const a = await build(ctx, home("local-a"), `oci:${tmp}/out-local:a`, [
      "--cache-to",
      `type=local,dest=${dir},mode=max`,
    ]);
    const layoutIndex = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: { mediaType: string; annotations?: Record<string, string> }[];
    };
    expect(layoutIndex.manifests[0]?.annotations?.["org.opencontainers.image.ref.name"]).toBe("latest");
    expect(layoutIndex.manifests[0]?.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    const b = await build(ctx, home("local-b"), `oci:${tmp}/out-local:b`, [
      "--cache-from",
      `type=local,src=${dir}`,
    ]);
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(b.json.digest).toBe(a.json.digest);
  });

  it("mode=min whose layers are gone: a destination that has them needs none; another fails naming one, as BuildKit", async () => {
    const ctx = await twoStage("local-gone", "tok-gone");
    const dir = join(tmp, "local-gone-cache");
    const a = await build(
      ctx,
      home("gone-a"),
      `oci:${tmp}/out-gone:a`,
      ["--cache-to", `type=local,dest=${dir},mode=min`],
      EPOCH,
    );
    // The records stay, the layers go. Every record is a hit (BuildKit reads them the same way, its refs lazy).
    const blobs = join(dir, "blobs", "sha256");
    const gone: string[] = [];
    for (const name of await readdir(blobs)) {
      const bytes = await readFile(join(blobs, name));
      if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
        await rm(join(blobs, name));
        gone.push(`sha256:${name}`);
      }
    }
    // The layout A wrote has every layer of the image: nothing to fetch, the same image, nothing run.
    const b = await build(
      ctx,
      home("gone-b"),
      `oci:${tmp}/out-gone:b`,
      ["--cache-from", `type=local,src=${dir}`],
      EPOCH,
    );
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(b.json.digest).toBe(a.json.digest);
    // A new layout needs them: the build fails naming the cache and a missing layer (BuildKit: "blob not found").
    const r = await buildFromLocal(ctx, "gone-c", dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`--cache-from type=local,src=${dir}: cannot fetch the cached layer (${gone.join("|")})`),
    );
  });
});

describe("a cached layer is verified as it is fetched", () => {
  it("fails naming the layer whose bytes uncompress to another diff ID than its record gives", async () => {
    const ctx = await twoStage("local-diffid", "tok-diffid");
    const dir = join(tmp, "local-diffid-cache");
    const a = await build(
      ctx,
      home("diffid-a"),
      `oci:${tmp}/out-diffid:a`,
      ["--cache-to", `type=local,dest=${dir},mode=min`],
      EPOCH,
    );
    // The cache's documents rewritten with the diff ID of the image's last layer (the final RUN's) wrong, each
    // under its new digest.
    const blob = (root: string, d: string) => join(root, "blobs", "sha256", d.slice(7));
    const image = JSON.parse(await readFile(blob(join(tmp, "out-diffid"), a.json.digest), "utf8")) as {
      layers: { digest: string }[];
    };
    const victim = image.layers.at(-1)!.digest;
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
      manifests: { digest: string; size: number }[];
    };
    const list = index.manifests[0]!;
    const listText = await readFile(blob(dir, list.digest), "utf8");
    const entries = (
      JSON.parse(listText) as {
        manifests: {
          mediaType: string;
          digest: string;
          size: number;
          annotations?: Record<string, string>;
        }[];
      }
    ).manifests;
    const config = entries.find((m) => m.mediaType.includes("cacheconfig"))!;
    const right = entries.find((m) => m.digest === victim)!.annotations!["containerd.io/uncompressed"]!;
    const wrong = `sha256:${createHash("sha256").update("not this layer").digest("hex")}`;
    const put = async (text: string) => {
      const digest = `sha256:${createHash("sha256").update(text).digest("hex")}`;
      await writeFile(blob(dir, digest), text);
      return { digest, size: Buffer.byteLength(text) };
    };
    const newConfig = await put((await readFile(blob(dir, config.digest), "utf8")).replaceAll(right, wrong));
    const newList = await put(
      listText
        .replaceAll(right, wrong)
        .replace(
          `"digest":"${config.digest}","size":${config.size}`,
          `"digest":"${newConfig.digest}","size":${newConfig.size}`,
        ),
    );
    expect(newList.size).toBe(list.size);
    await writeFile(
      join(dir, "index.json"),
      JSON.stringify({ ...index, manifests: [{ ...list, ...newList }] }),
    );
    const r = await buildFromLocal(ctx, "diffid-b", dir);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `cannot fetch the cached layer ${victim} (layer ${victim} uncompresses to ${right}, not the diff ID ${wrong} its record gives)`,
    );
    // nothing of it is left in the local cache's blobs
    await expect(stat(new StepCache(home("diffid-b")).blobPath(victim))).rejects.toThrow(/ENOENT/);
  });
});

/** A chain of stages: the final image copies one file from the last and runs on it; a build arg for the last RUN. */
async function chained(name: string, token: string): Promise<string> {
  return writeContext(join(tmp, name), {
    "src.txt": `${token}\n`,
    Dockerfile: `FROM ${base} AS deps
COPY src.txt /src.txt
RUN echo "RAN-DEPS-${token}" && cat /src.txt > /deps
FROM deps AS builder
RUN echo "RAN-BUILDER-${token}" && cat /deps /deps > /built
FROM ${base}
COPY --from=builder /built /app/built
RUN echo "RAN-FINAL-${token}" && cp /app/built /app/final
ARG LAST=1
RUN echo "RAN-LAST-${token}-$LAST" && cat /app/final /app/built > /app/last && echo $LAST >> /app/last
CMD ["cat", "/app/last"]
`,
  });
}

/** The layers a registry cache manifest lists (its index's entries other than the cache config). */
async function cacheLayers(repo: string, tag: string): Promise<string[]> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.index.v1+json" },
  });
  const index = (await res.json()) as { manifests: { mediaType: string; digest: string }[] };
  return index.manifests.filter((m) => m.mediaType.includes("layer")).map((m) => m.digest);
}

/** The layer blobs of `repo` the registry served (GET) since the log was marked. */
async function layerGets(repo: string, layers: readonly string[]): Promise<string[]> {
  const reqs = await registry.requests();
  return reqs
    .filter((r) => r.method === "GET" && r.uri.startsWith(`/v2/${repo}/blobs/`))
    .map((r) => r.uri.slice(r.uri.lastIndexOf("/") + 1))
    .filter((d) => layers.includes(d));
}

describe("--cache-from layers are fetched only when needed (BuildKit's lazy refs)", () => {
  it("a fresh machine fetches only the final image's layers, and none when it pushes to the cache's registry; same image", async () => {
    const ctx = await chained("lazy", "tok-lazy");
    const ref = `${registry.host}/cache/lazy:max`;
    const a = await build(
      ctx,
      home("lazy-a"),
      `oci:${tmp}/out-lazy-a:x`,
      ["--cache-to", `type=registry,ref=${ref},mode=max`],
      EPOCH,
    );
    const layers = await cacheLayers("cache/lazy", "max");
    expect(layers.length).toBe(6);

    // To an OCI layout: every layer of the image is fetched, none of the stages it only copies from.
    await registry.markLog();
    const b = await build(
      ctx,
      home("lazy-b"),
      `oci:${tmp}/out-lazy-b:x`,
      ["--cache-from", `type=registry,ref=${ref}`],
      EPOCH,
    );
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(b.json.digest).toBe(a.json.digest);
    const manifest = JSON.parse(
      await readFile(join(tmp, "out-lazy-b", "blobs", "sha256", b.json.digest.slice(7)), "utf8"),
    ) as { layers: { digest: string }[] };
    const imageLayers = manifest.layers.map((l) => l.digest).filter((d) => layers.includes(d));
    expect(imageLayers.length).toBe(3);
    expect((await layerGets("cache/lazy", layers)).sort()).toEqual([...imageLayers].sort());
    // fetched and verified by this build into its cache, they are linked into the layout, not copied again
    const steps = new StepCache(home("lazy-b"));
    for (const d of imageLayers) {
      const written = join(tmp, "out-lazy-b", "blobs", "sha256", d.slice(7));
      expect((await stat(written)).ino, d).toBe((await stat(steps.blobPath(d))).ino);
    }

    // Pushed to another repository of the cache's registry, with a cache written to a third (CI's pattern):
    // every layer is mounted, not one is fetched.
    await registry.markLog();
    const c = await build(
      ctx,
      home("lazy-c"),
      `${registry.host}/lazy/app:c`,
      [
        "--publish",
        "--cache-from",
        `type=registry,ref=${ref}`,
        "--cache-to",
        `type=registry,ref=${registry.host}/cache/lazy2:max,mode=max`,
      ],
      EPOCH,
    );
    expect(c.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(c.json.digest).toBe(a.json.digest);
    const reqs = await registry.requests();
    expect(await layerGets("cache/lazy", layers)).toEqual([]);
    const mounts = reqs.filter((r) => r.method === "POST" && r.uri.includes("mount=") && r.status === 201);
    expect(mounts.length).toBe(6);
    expect((await cacheLayers("cache/lazy2", "max")).sort()).toEqual([...imageLayers].sort());
    // and the pushed image is whole: each of its layers is served from its own repository
    for (const d of imageLayers) {
      const head = await fetch(`http://${registry.host}/v2/lazy/app/blobs/${d}`, { method: "HEAD" });
      expect(head.status, d).toBe(200);
    }
  });

  it("a step that misses after lazy hits runs on its whole root (the layers below it fetched)", async () => {
    const ctx = await chained("lazy-miss", "tok-miss");
    const ref = `${registry.host}/cache/lazy:miss`;
    await build(
      ctx,
      home("miss-a"),
      `oci:${tmp}/out-miss:a`,
      ["--cache-to", `type=registry,ref=${ref},mode=max`],
      EPOCH,
    );
    const b = await build(
      ctx,
      home("miss-b"),
      `oci:${tmp}/out-miss:b`,
      ["--cache-from", `type=registry,ref=${ref}`, "--build-arg", "LAST=2"],
      EPOCH,
    );
    const ran = b.stderr.match(/^(?:\[stage \d+\/\d+\] )?RAN-[A-Z]+-tok-miss\S*$/gm) ?? [];
    expect(ran.map((l) => l.replace(/^\[stage \d+\/\d+\] /, ""))).toEqual(["RAN-LAST-tok-miss-2"]);
    // the same image as a machine without any cache builds (the RUN read /app/final and /app/built)
    const c = await build(ctx, home("miss-c"), `oci:${tmp}/out-miss:c`, ["--build-arg", "LAST=2"], EPOCH);
    expect(c.json.digest).toBe(b.json.digest);
  });

  it("two platforms needing the same cached layer (COPY --link) fetch it at once without tripping on each other", async () => {
    const ctx = await writeContext(join(tmp, "lazy-race"), {
      Dockerfile: "FROM scratch\nCOPY --link big.bin /big.bin\n",
    });
    await writeFile(join(ctx, "big.bin"), randomBytes(16 << 20));
    const dir = join(tmp, "lazy-race-cache");
    const platforms = ["--platform", "linux/amd64,linux/arm64"];
    const a = await build(
      ctx,
      home("race-a"),
      `oci:${tmp}/out-race:a`,
      [...platforms, "--cache-to", `type=local,dest=${dir},mode=max`],
      EPOCH,
    );
    for (const n of [1, 2]) {
      const b = await build(
        ctx,
        home(`race-b${n}`),
        `oci:${tmp}/out-race:b${n}`,
        [...platforms, "--cache-from", `type=local,src=${dir}`],
        EPOCH,
      );
      expect(b.json.digest).toBe(a.json.digest);
    }
  });

  it("a layer gone from the registry after the cache was written fails the build naming it, as BuildKit's 'blob not found'", async () => {
    const ctx = await chained("lazy-gone", "tok-lgone");
    const ref = `${registry.host}/cache/lazy:gone`;
    const a = await build(
      ctx,
      home("lgone-a"),
      `oci:${tmp}/out-lgone-a:x`,
      ["--cache-to", `type=registry,ref=${ref},mode=max`],
      EPOCH,
    );
    const manifest = JSON.parse(
      await readFile(join(tmp, "out-lgone-a", "blobs", "sha256", a.json.digest.slice(7)), "utf8"),
    ) as { layers: { digest: string }[] };
    const gone = manifest.layers.at(-1)!.digest;
    const del = await fetch(`http://${registry.host}/v2/cache/lazy/blobs/${gone}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${tmp}/out-lgone-b:x`,
        "--cache-from",
        `type=registry,ref=${ref}`,
      ],
      { home: home("lgone-b"), env: EPOCH },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`cannot fetch the cached layer ${gone}`);
    expect(r.stderr).toContain(`--cache-from type=registry,ref=${ref}`);
    // nothing names a half-written image
    const index = await readFile(join(tmp, "out-lgone-b", "index.json"), "utf8").catch(() => "{}");
    expect(index).not.toContain('"x"');
  });
});

describe("two --cache-from caches holding the same step", () => {
  it("a layer pruned from the first is fetched from the second; gone from both, the build fails naming both", async () => {
    const ctx = await chained("lazy-two", "tok-ltwo");
    const first = `${registry.host}/cache/two-a:max`;
    const second = `${registry.host}/cache/two-b:max`;
    const a = await build(
      ctx,
      home("ltwo-a"),
      `oci:${tmp}/out-ltwo-a:x`,
      [
        "--cache-to",
        `type=registry,ref=${first},mode=max`,
        "--cache-to",
        `type=registry,ref=${second},mode=max`,
      ],
      EPOCH,
    );
    const manifest = JSON.parse(
      await readFile(join(tmp, "out-ltwo-a", "blobs", "sha256", a.json.digest.slice(7)), "utf8"),
    ) as { layers: { digest: string }[] };
    const gone = manifest.layers.at(-1)!.digest;
    const prune = async (repo: string) =>
      expect(
        (await fetch(`http://${registry.host}/v2/${repo}/blobs/${gone}`, { method: "DELETE" })).status,
      ).toBe(202);
    await prune("cache/two-a");
    const from = [
      "--cache-from",
      `type=registry,ref=${first}`,
      "--cache-from",
      `type=registry,ref=${second}`,
    ];
    await registry.markLog();
    const b = await build(ctx, home("ltwo-b"), `oci:${tmp}/out-ltwo-b:x`, from, EPOCH);
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(b.json.digest).toBe(a.json.digest);
    // (the first cache's 404 is logged as an error, which the harness does not read)
    const served = (await registry.requests()).filter((q) => q.uri.endsWith(`/blobs/${gone}`));
    expect(served.map((q) => `${q.method} ${q.uri.split("/blobs/")[0]} ${q.status}`)).toEqual([
      "GET /v2/cache/two-b 200",
    ]);
    // pruned from both: the error names the blob and each cache
    await prune("cache/two-b");
    const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${tmp}/out-ltwo-c:x`, ...from], {
      home: home("ltwo-c"),
      env: EPOCH,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `--cache-from type=registry,ref=${first}, --cache-from type=registry,ref=${second}: cannot fetch the cached layer ${gone}`,
    );
  });
});

describe("--cache-to type=inline", () => {
  it("puts the final image's steps in its config; a fresh machine reads them from the pushed image", async () => {
    const ctx = await twoStage("inline", "tok-inline");
    const ref = `${registry.host}/inline/app:1`;
    const a = await build(ctx, home("inline-a"), ref, ["--publish", "--cache-to", "type=inline"], EPOCH);
    expect(a.stderr).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-FINAL-tok-inline/m);
    // The config carries BuildKit's field: base64 of a JSON array of records.
    const manifest = (await (
      await fetch(`http://${registry.host}/v2/inline/app/manifests/1`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      })
    ).json()) as { config: { digest: string } };
    const config = (await (
      await fetch(`http://${registry.host}/v2/inline/app/blobs/${manifest.config.digest}`)
    ).json()) as Record<string, unknown>;
    const records = JSON.parse(Buffer.from(config["moby.buildkit.cache.v0"] as string, "base64").toString());
    expect(Array.isArray(records)).toBe(true);
    expect(records.length).toBeGreaterThan(2);

    const b = await build(
      ctx,
      home("inline-b"),
      `oci:${tmp}/out-inline:b`,
      ["--cache-from", ref, "--cache-to", "type=inline"],
      EPOCH,
    );
    expect(b.stderr).toContain("importing inline cache from");
    // Inline is mode=min: the final stage's steps are in it, so the builder stage is not built (as BuildKit).
    expect(b.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    expect(b.json.digest).toBe(a.json.digest);
    // The key pass started making the base's snapshots for the builder's RUN, which the caches lack; the
    // builder left out, that was stopped, not finished while the image was written.
    expect(b.stderr).not.toContain("into snapshots");
    expect(await snapshotsMade(home("inline-b"))).toEqual([]);
  });

  it("a stage that copies from another stage is keyed on its definition: a fresh machine builds no other stage", async () => {
    // deps -> build (COPY --from=deps) -> final (COPY --from=build): on the machine that writes the cache the
    // build stage's COPY --from is keyed on the content it copies, which a fresh machine cannot know without
    // building deps; the final stage's COPY --from=build must still be keyed on build's definition alone.
    const ctx = await writeContext(join(tmp, "inline-chain"), {
      "dep.txt": "dep\n",
      "src.txt": "src\n",
      Dockerfile: `FROM ${base} AS deps
COPY dep.txt /dep.txt
RUN echo "RAN-DEPS" && cat /dep.txt > /deps.lock
FROM ${base} AS build
COPY --from=deps /deps.lock /deps.lock
COPY src.txt /src.txt
RUN echo "RAN-BUILD" && cat /deps.lock /src.txt > /app
FROM ${base}
COPY --from=build /app /app
CMD ["cat", "/app"]
`,
    });
    const ref = `${registry.host}/inline/chain:1`;
    const ran = (stderr: string) =>
      [...stderr.matchAll(/^(?:\[stage \d+\/\d+\] )?(RAN-[A-Z]+)$/gm)].map((m) => m[1]);
    const a = await build(ctx, home("chain-a"), ref, ["--publish", "--cache-to", "type=inline"], EPOCH);
    expect(ran(a.stderr).sort()).toEqual(["RAN-BUILD", "RAN-DEPS"]);
    const b = await build(
      ctx,
      home("chain-b"),
      `oci:${tmp}/out-chain:b`,
      ["--cache-from", ref, "--cache-to", "type=inline"],
      EPOCH,
    );
    expect(b.stderr).toContain("importing inline cache from");
    expect(ran(b.stderr)).toEqual([]);
    expect(b.json.steps.every((s) => s.stage === 2 && s.cached)).toBe(true);
    expect(b.json.digest).toBe(a.json.digest);
  });
});

describe("bad and unreachable caches", () => {
  it("a bad --cache-to/--cache-from value names its attribute, before anything runs", async () => {
    const ctx = await twoStage("bad", "tok-bad");
    const cases: [string, string, RegExp][] = [
      ["--cache-to", "type=registry", /ref=/],
      ["--cache-to", `type=registry,ref=${registry.host}/c:1,mode=all`, /mode="all" must be min or max/],
      ["--cache-to", "type=gha", /type=gha is not supported/],
      ["--cache-to", "type=nope,ref=x", /unknown type="nope"/],
      ["--cache-to", `type=local,dest=${tmp}/x,bogus=1`, /unknown attribute bogus=/],
      ["--cache-to", `type=registry,ref=${registry.host}/c:1,oci-mediatypes=maybe`, /oci-mediatypes="maybe"/],
      [
        "--cache-to",
        `type=registry,ref=${registry.host}/c:1,compression=estargz`,
        /compression=estargz is not supported/,
      ],
      [
        "--cache-to",
        `type=registry,ref=${registry.host}/c:1,compression=zstd,oci-mediatypes=false`,
        /compression=zstd needs oci-mediatypes=true/,
      ],
      [
        "--cache-to",
        `type=registry,ref=${registry.host}/c:1,compression-level=30,compression=gzip`,
        /compression-level="30"/,
      ],
      [
        "--cache-to",
        `type=registry,ref=${registry.host}/c:1,force-compression=true`,
        /force-compression=true needs compression=/,
      ],
      ["--cache-from", "type=local", /src=/],
      ["--cache-from", "type=inline", /type=inline is written with --cache-to/],
      ["--cache-from", "type=registry,ref=UPPER/Case", /ref="UPPER\/Case" is not an image reference/],
    ];
    for (const [flag, value, re] of cases) {
      const out = join(tmp, "bad-out");
      const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${out}:x`, flag, value], {
        home: home("bad"),
      });
      expect(r.code, `${flag} ${value}`).not.toBe(0);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-/m);
    }
  });

  it("an unreachable or missing --cache-from is a warning and the build goes on; credentials are never printed", async () => {
    const ctx = await twoStage("unreach", "tok-unreach");
    const secret = "s3cret-Pa55word-never-printed";
    const locked = await startRegistry({ htpasswd: [await htpasswdLine("alice", "right-password")] });
    try {
      const cfgDir = join(tmp, "docker-config");
      await mkdir(cfgDir, { recursive: true });
      await writeFile(
        join(cfgDir, "config.json"),
        JSON.stringify({
          auths: { [locked.host]: { auth: Buffer.from(`alice:${secret}`).toString("base64") } },
        }),
      );
      const r = await build(
        ctx,
        home("unreach"),
        `oci:${tmp}/out-unreach:x`,
        [
          "--cache-from",
          "type=registry,ref=127.0.0.1:1/nothing/here:cache",
          "--cache-from",
          `type=registry,ref=${registry.host}/never/pushed:cache`,
          "--cache-from",
          `type=registry,ref=${locked.host}/private/cache:1`,
          "--cache-from",
          `type=local,src=${tmp}/no-such-dir`,
        ],
        { DOCKER_CONFIG: cfgDir },
      );
      expect(r.stderr).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-FINAL-tok-unreach/m);
      expect(r.stderr.match(/WARN: --cache-from .*cannot import the cache/g)?.length).toBe(4);
      expect(r.stderr).not.toContain(secret);
      expect(r.stderr).not.toContain(Buffer.from(`alice:${secret}`).toString("base64"));
    } finally {
      await locked.stop();
    }
  });

  it("a --cache-to that cannot be written fails the build, unless ignore-error=true", async () => {
    const ctx = await twoStage("cant", "tok-cant");
    const bad = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${tmp}/out-cant:x`,
        "--cache-to",
        "type=registry,ref=127.0.0.1:1/nothing/here:cache",
      ],
      { home: home("cant") },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/exporting the cache to 127\.0\.0\.1:1\/nothing\/here:cache/);
    const ok = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${tmp}/out-cant:y`,
        "--cache-to",
        "type=registry,ref=127.0.0.1:1/nothing/here:cache,ignore-error=true",
      ],
      { home: home("cant") },
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/WARN: --cache-to .*ignore-error=true/);
  });
});
