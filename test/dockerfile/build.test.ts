/**
 * A Dockerfile build in-process (src/dockerfile/build.ts): the stages a target needs, the steps and their cache,
 * build args, lint warnings and the written image. FROM scratch only (no runc); RUN and bases: behaviour.test.ts,
 * features.test.ts and the BuildKit comparisons in buildkit/.
 */
import { writeFileSync } from "node:fs";
import { mkdir, open, readdir, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAnnotationFlag } from "../../src/dockerfile/annotation-spec.ts";
import { DockerfileBuild, type SharedBuildState } from "../../src/dockerfile/build.ts";
import { StepCache } from "../../src/dockerfile/cache.ts";
import { parseCacheTo } from "../../src/dockerfile/cache-spec.ts";
import { ContextIndex } from "../../src/dockerfile/context-index.ts";
import { fileDigest } from "../../src/dockerfile/sources.ts";
import { LayerEntries } from "../../src/dockerfile/stage-index.ts";
import { overlaySupported } from "../../src/runtime/mount.ts";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { run } from "../helpers/exec.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { failureOf } from "./helpers/failure.ts";
import { fileIn, layerEntries, layerTimes, scratchBuild } from "./helpers/scratch.ts";

const MULTI = `ARG GREETING=hi
FROM scratch AS files
COPY a.txt /a.txt
FROM scratch AS unused
COPY b.txt /b.txt
FROM scratch AS final
ARG GREETING
LABEL greeting=$GREETING
COPY --from=files /a.txt /copied.txt
`;

describe("DockerfileBuild", () => {
  let context: string;
  beforeAll(async () => {
    context = await tempDir();
    await mkdir(context, { recursive: true });
    await writeFile(join(context, "a.txt"), "a");
    await writeFile(join(context, "b.txt"), "b");
  });

  it("builds the stages the target needs; a second build takes every step from the cache, same digest", async () => {
    const dir = await tempDir();
    const first = await scratchBuild(dir, context, MULTI, { buildArgs: { GREETING: "hello", EXTRA: "x" } });
    expect(first.result.stages).toEqual([0, 2]);
    expect(first.result.target).toBe("final");
    expect(first.result.unusedBuildArgs).toEqual(["EXTRA"]);
    const steps = (r: {
      result: { steps: { stage: number; line: number; instruction: string; cached: boolean }[] };
    }) => r.result.steps.map((s) => `${s.stage}:${s.line} ${s.instruction}${s.cached ? " (cached)" : ""}`);
    expect(steps(first)).toEqual([
      "0:2 FROM scratch AS files (cached)",
      "0:3 COPY a.txt /a.txt",
      "2:6 FROM scratch AS final (cached)",
      "2:7 ARG GREETING (cached)",
      "2:8 LABEL greeting=$GREETING",
      "2:9 COPY --from=files /a.txt /copied.txt",
    ]);
    expect(first.image.digest).toBe(first.result.digest);
    expect(first.image.config?.config?.Labels).toEqual({ greeting: "hello" });
    expect(await layerEntries(first.image, 0)).toEqual(["copied.txt file 644 0:0"]);
    const again = await scratchBuild(dir, context, MULTI, { buildArgs: { GREETING: "hello", EXTRA: "x" } });
    // All of the final stage is cached: the stage it copies from is not even built.
    expect(steps(again)).toEqual([
      "2:6 FROM scratch AS final (cached)",
      "2:7 ARG GREETING (cached)",
      "2:8 LABEL greeting=$GREETING (cached)",
      "2:9 COPY --from=files /a.txt /copied.txt (cached)",
    ]);
    expect(again.result.digest).toBe(first.result.digest);
    const other = await scratchBuild(dir, context, MULTI, { buildArgs: { GREETING: "bye" } });
    expect(steps(other).slice(3)).toEqual([
      "2:7 ARG GREETING (cached)",
      "2:8 LABEL greeting=$GREETING",
      "2:9 COPY --from=files /a.txt /copied.txt",
    ]);
    expect(other.result.digest).not.toBe(first.result.digest);
  });

  it("a layer this build wrote is linked into a local destination; one an earlier build wrote is copied", async () => {
    const dir = await tempDir();
    const { image } = await scratchBuild(dir, context, MULTI);
    const layer = image.manifest.layers[0]!.digest;
    const cached = new StepCache(join(dir, "home")).blobPath(layer);
    const inode = async (p: string) => (await stat(p)).ino;
    const written = join(dir, "out", "blobs", "sha256", layer.slice(7));
    expect(await inode(written)).toBe(await inode(cached));
    // every step cached: the layer is an earlier process's file, read and verified into the new layout
    await scratchBuild(dir, context, MULTI, { destinations: [parseImageArgument(`oci:${dir}/again:x`)] });
    const copied = join(dir, "again", "blobs", "sha256", layer.slice(7));
    expect(await inode(copied)).not.toBe(await inode(cached));
  });

  it("--target picks a stage; a missing one lists the stages", async () => {
    const dir = await tempDir();
    const { result } = await scratchBuild(dir, context, MULTI, { target: "unused" });
    expect([result.stages, result.steps.map((s) => s.instruction)]).toEqual([
      [1],
      ["FROM scratch AS unused", "COPY b.txt /b.txt"],
    ]);
    expect(await failureOf(scratchBuild(dir, context, MULTI, { target: "nope" }))).toEqual({
      code: "DOCKERFILE_STAGE_NOT_FOUND",
      message: 'Dockerfile: target stage "nope" not found',
      hint: "the named stages are: files, unused, final",
    });
  });

  it("--from reads a read-only mount of the stage's snapshots: links stay inside it, unmounted after a failure too", async () => {
    const dir = await tempDir();
    const home = join(dir, "home");
    const host = join(dir, "host");
    await mkdir(host);
    await writeFile(join(host, "secret"), "host only");
    const ctx = join(dir, "ctx");
    await mkdir(join(ctx, "tree"), { recursive: true });
    await writeFile(join(ctx, "tree", "a.txt"), "a");
    await symlink(host, join(ctx, "tree", "hostdir"));
    await symlink(join(host, "secret"), join(ctx, "tree", "hostfile"));
    const stage = "FROM scratch AS files\nCOPY tree/ /\nFROM scratch\n";
    const builds = join(home, "cache", "dockerfile", "tmp");
    const { image } = await scratchBuild(dir, ctx, `${stage}COPY --from=files / /copy/\n`);
    expect(await layerEntries(image, 0)).toEqual([
      "copy dir 755 0:0",
      "copy/a.txt file 644 0:0",
      "copy/hostdir symlink 777 0:0",
      "copy/hostfile symlink 777 0:0",
    ]);
    // overlay: the stage's layer became a snapshot (its root an overlay of it); full snapshots (no overlayfs,
    // e.g. TMPDIR on an overlay mount): applied in the build's folder, none made; nothing stays mounted
    const snapshots = join(home, "snapshots");
    const overlay = await overlaySupported(snapshots, true);
    const made = await readdir(join(snapshots, overlay ? "overlay" : "full")).catch(() => []);
    expect(made).toHaveLength(overlay ? 1 : 0);
    expect([await mountsUnder(dir), await readdir(builds)]).toEqual([[], []]);
    for (const path of ["/hostdir/secret", "/hostfile"]) {
      const failed = await failureOf(scratchBuild(dir, ctx, `${stage}COPY --from=files ${path} /stolen\n`));
      expect(failed.code).toBe("DOCKERFILE_SOURCE_NOT_FOUND");
      expect([await mountsUnder(dir), await readdir(builds)]).toEqual([[], []]);
    }
  });

  it("SOURCE_DATE_EPOCH sets the created times; the lint warnings come back", async () => {
    const dir = await tempDir();
    const text = "FROM scratch AS x\nCOPY a.txt /\nFROM scratch AS x\nCOPY --from=0 /a.txt /\n";
    const { result, image } = await scratchBuild(dir, context, text, { sourceDateEpoch: 1700000000 });
    expect(image.config?.created).toBe("2023-11-14T22:13:20Z");
    expect(result.warnings).toEqual([
      {
        rule: "DuplicateStageName",
        line: 3,
        endLine: 3,
        detail: 'Duplicate stage name "x", stage names should be unique',
      },
    ]);
  });

  it("SOURCE_DATE_EPOCH keys the steps: with it, a build gives what a fresh machine gives, whatever was built before", async () => {
    const text = "FROM scratch\nCOPY a.txt /a.txt\nENV X=1\n";
    const epoch = { sourceDateEpoch: 1700000000 };
    const fresh = await scratchBuild(await tempDir(), context, text, epoch);
    const dir = await tempDir();
    const none = await scratchBuild(dir, context, text);
    expect(none.image.config?.created).not.toBe("2023-11-14T22:13:20Z");
    const after = await scratchBuild(dir, context, text, epoch);
    expect(after.result.steps.filter((st) => st.cached).map((st) => st.instruction)).toEqual([
      "FROM scratch",
    ]);
    expect(after.result.digest).toBe(fresh.result.digest);
    expect(after.image.config?.created).toBe("2023-11-14T22:13:20Z");
    const [entry] = await layerTimes(after.image);
    expect(entry).toBe("a.txt 1700000000");
    // and back: the build without it is the cache's again
    const again = await scratchBuild(dir, context, text);
    expect(again.result.steps.every((st) => st.cached)).toBe(true);
    expect(again.result.digest).toBe(none.result.digest);
  });

  it("COPY --chmod takes a symbolic mode (BuildKit's setmode, X for directories), keyed apart from octal", async () => {
    const dir = await tempDir();
    const ctx = await tempDir();
    await mkdir(join(ctx, "d"));
    await writeFile(join(ctx, "d", "f"), "f");
    const text = "FROM scratch\nCOPY --chmod=u+x,go=rX d /d\n";
    const { image } = await scratchBuild(dir, ctx, text);
    expect(await layerEntries(image, 0)).toEqual(["d dir 755 0:0", "d/f file 744 0:0"]);
    expect(image.config?.history?.at(-1)?.created_by).toBe("COPY --chmod=u+x,go=rX d /d # buildkit");
    const octal = await scratchBuild(dir, ctx, "FROM scratch\nCOPY --chmod=744 d /d\n");
    // the destination folder the copy makes is 0755 either way, as BuildKit's copier makes it
    expect(await layerEntries(octal.image, 0)).toEqual(["d dir 755 0:0", "d/f file 744 0:0"]);
    expect(octal.result.digest).not.toBe((await scratchBuild(dir, ctx, text)).result.digest);
  });

  it("keeps the layers of a stage no image takes uncompressed (apart in the cache); the images are the same", async () => {
    const text =
      "FROM scratch AS files\nCOPY a.txt /a.txt\nFROM scratch\nCOPY --from=files /a.txt /copied.txt\n";
    // The cache's layer blobs, as `gzip` or `tar` by their first bytes.
    const blobs = async (dir: string) => {
      const root = join(dir, "home", "cache", "dockerfile", "blobs", "sha256");
      const kinds: string[] = [];
      for (const name of await readdir(root)) {
        const f = await open(join(root, name));
        const head = Buffer.alloc(2);
        await f.read(head, 0, 2, 0);
        await f.close();
        kinds.push(head[0] === 0x1f && head[1] === 0x8b ? "gzip" : "tar");
      }
      return kinds.sort();
    };
    // a fixed epoch: the image's created times otherwise follow the clock, and two builds a second apart differ
    const gzip = { compression: "gzip" as const, sourceDateEpoch: 1700000000 };
    const dir = await tempDir();
    const all = await scratchBuild(dir, context, text, gzip);
    expect(await blobs(dir)).toEqual(["gzip", "tar"]);
    // the stage as a target: its layer compressed, the image what a build of it alone makes
    const target = await scratchBuild(dir, context, text, { ...gzip, target: "files" });
    expect(target.result.steps.map((s) => s.cached)).toEqual([true, false]);
    expect(await blobs(dir)).toEqual(["gzip", "gzip", "tar"]);
    const alone = await tempDir();
    expect((await scratchBuild(alone, context, text, { ...gzip, target: "files" })).result.digest).toBe(
      target.result.digest,
    );
    // a build exporting a cache compresses every stage's layers; the target's image is the same
    const cached = await tempDir();
    const inline = await scratchBuild(cached, context, text, {
      ...gzip,
      cacheTo: [parseCacheTo("type=inline")],
    });
    expect(await blobs(cached)).toEqual(["gzip", "gzip"]);
    expect(inline.image.manifest.layers).toEqual(all.image.manifest.layers);
  });
});

describe("the key pass", () => {
  it("hashes no context file for a COPY no cache can have (a step of the target before it missed): they are read after the pass; the keys are the same", async () => {
    const dir = await tempDir();
    const context = join(dir, "ctx");
    await mkdir(join(context, "late"), { recursive: true });
    for (const f of ["a.txt", "b.txt", "late/x", "late/y"]) await writeFile(join(context, f), f);
    const text = `FROM scratch AS a
COPY a.txt /a
FROM scratch
COPY b.txt /b
COPY --from=a /a /a2
COPY late/ /late/
`;
    const home = join(dir, "home");
    const build = async () => {
      // which files the build read, and whether the build had logged its first step then (the pass logs nothing)
      const reads: string[] = [];
      let logged = false;
      const read = (path: string, size: number) => {
        reads.push(`${path.slice(context.length + 1)}${logged ? " after the pass" : ""}`);
        return fileDigest(path, size);
      };
      const shared: SharedBuildState = {
        producing: new Map(),
        layerEntries: new LayerEntries(new StepCache(home).entriesDir),
        contextIndex: ContextIndex.open(new StepCache(home).root, context, read),
      };
      const dest = parseImageArgument(`oci:${join(dir, "out")}:latest`);
      const inputs = {
        contextDir: context,
        dockerfile: { text },
        destinations: [dest],
        compression: "none" as const,
        log: () => {
          logged = true;
        },
      };
      const result = await new DockerfileBuild(inputs, { home, env: {} }, shared).build();
      return { reads, result };
    };
    const cold = await build();
    expect(cold.reads).toEqual(["a.txt", "b.txt", "late/x after the pass", "late/y after the pass"]);
    // the keys the build recorded are the ones a pass that hashes everything finds
    const again = await build();
    expect(again.result.steps.every((s) => s.cached)).toBe(true);
    expect(again.result.digest).toBe(cold.result.digest);
  });
});

describe("a context file", () => {
  it("is read once: the COPY's layer holds the bytes its key was made of, even when the file changed in between", async () => {
    const dir = await tempDir();
    const context = join(dir, "ctx");
    await mkdir(context, { recursive: true });
    await writeFile(join(context, "f.txt"), "aaaa");
    const text = "FROM scratch\nCOPY f.txt /f.txt\n";
    const build = () =>
      scratchBuild(dir, context, text, {
        // the key pass hashed f.txt; its step's turn comes: the file changes (same size) before the COPY runs
        log: (line) => {
          if (line.includes("COPY f.txt")) writeFileSync(join(context, "f.txt"), "bbbb");
        },
      });
    const first = await build();
    expect(await fileIn(first.image, 0, "f.txt")).toBe("aaaa");
    // the change is seen by the next build (its ctime moved): a new key, the new bytes
    const second = await build();
    expect(second.result.steps.at(-1)!.cached).toBe(false);
    expect(await fileIn(second.image, 0, "f.txt")).toBe("bbbb");
  });
});

describe("--annotation (BuildKit's image exporter)", () => {
  let registry: RegistryHarness;
  let context: string;
  beforeAll(async () => {
    registry = await startRegistry();
    context = await tempDir();
    await writeFile(join(context, "a.txt"), "a");
  });
  afterAll(() => registry?.stop());

  const build = async (dir: string, annotations: string[], destinations: string[], provenance = false) =>
    new DockerfileBuild(
      {
        contextDir: context,
        dockerfile: { text: "FROM scratch\nCOPY a.txt /\n" },
        destinations: destinations.map((d) => parseImageArgument(d)),
        annotations: annotations.flatMap(parseAnnotationFlag),
        ...(provenance
          ? {
              provenance: {
                mode: "min",
                version: "v0.2",
                builderId: "",
                reproducible: false,
                inlineOnly: false,
                filename: "provenance.json",
              },
            }
          : {}),
      },
      { home: join(dir, "home"), env: {} },
    ).build();
  const raw = async (ref: string) =>
    JSON.parse(await run("skopeo", ["inspect", "--raw", "--tls-verify=false", ref])) as {
      mediaType: string;
      manifests?: { digest: string; annotations?: Record<string, string>; platform?: unknown }[];
      annotations?: Record<string, string>;
    };

  it("one platform: the manifest's in it (an OCI manifest), the descriptor's on index.json's entry; skopeo, umoci and the registry read them", async () => {
    const dir = await tempDir();
    const ref = `${registry.host}/annotated:1`;
    const r = await build(
      dir,
      [
        "org.opencontainers.image.title=app",
        "manifest,manifest-descriptor:both=yes",
        "manifest[linux/arm64]:ignored=1",
      ],
      [`oci:${dir}/layout:app`, `docker://${ref}`, `docker-archive:${dir}/app.tar:app:1`],
    );
    // alone (no index), BuildKit's Platform(nil): a platform's annotation applies to none
    expect(r.image.manifest.annotations).toEqual({ "org.opencontainers.image.title": "app", both: "yes" });
    for (const where of [`oci:${dir}/layout:app`, `docker://${ref}`]) {
      const m = await raw(where);
      expect([m.mediaType, m.annotations]).toEqual([r.image.mediaType, r.image.manifest.annotations]);
    }
    expect(r.image.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect((await readIndex(join(dir, "layout"))).manifests.map((e) => [e.digest, e.annotations])).toEqual([
      [r.image.digest, { both: "yes", "org.opencontainers.image.ref.name": "app" }],
    ]);
    expect(await run("umoci", ["ls", "--layout", join(dir, "layout")])).toBe("app\n");
    // a docker-archive holds no manifest: its image's config and layers only, the same image ID
    const saved = JSON.parse(await run("skopeo", ["inspect", "--config", `docker-archive:${dir}/app.tar`]));
    expect(saved.rootfs.diff_ids).toEqual(r.image.config?.rootfs.diff_ids);
  });

  it("with --provenance: the index's in it, the image's descriptor in the index, the index's descriptor in index.json; buildx reads them and the provenance from the registry", async () => {
    const dir = await tempDir();
    const ref = `${registry.host}/annotated:prov`;
    const r = await build(
      dir,
      ["m=1", "manifest-descriptor:d=1", "index:i=1", "index-descriptor:idesc=1"],
      [`oci:${dir}/layout:app`, `docker://${ref}`],
      true,
    );
    const index = r.provenance!.index!;
    expect(index.index.annotations).toEqual({ i: "1" });
    const [image, att] = index.index.manifests;
    expect([image!.digest, image!.annotations]).toEqual([r.image.digest, { d: "1" }]);
    expect(att!.annotations).toEqual({
      "vnd.docker.reference.digest": r.image.digest,
      "vnd.docker.reference.type": "attestation-manifest",
    });
    expect(r.image.manifest.annotations).toEqual({ m: "1" });
    const pushed = await raw(`docker://${ref}`);
    expect(pushed.annotations).toEqual({ i: "1" });
    expect(
      pushed.manifests?.map((m) => m.annotations?.d ?? m.annotations?.["vnd.docker.reference.type"]),
    ).toEqual(["1", "attestation-manifest"]);
    expect((await readIndex(join(dir, "layout"))).manifests.map((e) => [e.digest, e.annotations])).toEqual([
      [index.digest, { idesc: "1", "org.opencontainers.image.ref.name": "app" }],
    ]);
    const buildx = (await run("bash", [join(import.meta.dirname, "../../scripts/buildx.sh")])).trim();
    const env = { ...process.env, DOCKER_CONFIG: join(dir, "docker-config") };
    const inspect = (format: string) =>
      run(buildx, ["imagetools", "inspect", ref, "--format", format], { env });
    const manifest = JSON.parse(await inspect("{{json .Manifest}}")) as {
      annotations?: Record<string, string>;
    };
    expect(manifest.annotations).toEqual({ i: "1" });
    const slsa = JSON.parse(await inspect("{{json .Provenance}}")) as { SLSA: { buildType: string } };
    expect(slsa.SLSA.buildType).toBe("https://mobyproject.org/buildkit@v1");
  }, 300_000);
});
