import { existsSync } from "node:fs";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localBase } from "../../dockerfile/helpers/local.ts";
import { berth } from "../../helpers/cli.ts";
import { type Dockerd, dockerdAvailable, startDockerd } from "../../helpers/dockerd.ts";
import { run } from "../../helpers/exec.ts";
import { blobPath, putBlob, readIndex, writeIndex } from "../../helpers/layout.ts";
import { tempDir } from "../../helpers/temp.ts";
import { umociImage } from "../../helpers/umoci.ts";

let dir: string;
let home: string;
let src: string;
let srcDigest: string;

const sha = async (layout: string, ref: string) =>
  (await run("skopeo", ["inspect", "--raw", `oci:${layout}:${ref}`])).trim();

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  src = join(dir, "umoci");
  await umociImage(
    src,
    "v1",
    [
      [
        { path: "etc/hello.txt", content: "hello\n" },
        { path: "bin/run", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
        { path: "bin/link", symlink: "run" },
      ],
      [
        { path: "etc/hello.txt", delete: true },
        { path: "data/x", content: "x" },
      ],
    ],
    { env: ["A=1"], cmd: ["/bin/run"], labels: { "org.example": "yes" } },
  );
  srcDigest = (await readIndex(src)).manifests[0]!.digest;
});

describe("berth copy round trips with umoci and skopeo", () => {
  it("umoci layout -> store -> oci -> oci-less back, digest unchanged", async () => {
    let r = await berth(["copy", `oci:${src}:v1`, "app:1"], { home });
    expect(r.code, r.stderr).toBe(0);
    r = await berth(["inspect", "--json", "app:1"], { home });
    expect(JSON.parse(r.stdout).digest).toBe(srcDigest);
    expect(JSON.parse(r.stdout).name).toBe("docker.io/library/app:1");
    // The store is a plain OCI layout that skopeo and umoci read, tagged with full references.
    const store = join(home, "store");
    const raw = await run("skopeo", ["inspect", "--raw", `oci:${store}:docker.io/library/app:1`]);
    expect(raw).toBe((await readFile(blobPath(src, srcDigest))).toString());
    await run("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${store}:docker.io/library/app:1`,
      join(dir, "bundle-store"),
    ]);
    expect(existsSync(join(dir, "bundle-store/rootfs/etc/hello.txt"))).toBe(false);
    expect(await readFile(join(dir, "bundle-store/rootfs/data/x"), "utf8")).toBe("x");

    const out = join(dir, "out");
    r = await berth(["copy", "app:1", `oci:${out}:copied`], { home });
    expect(r.code, r.stderr).toBe(0);
    expect((await readIndex(out)).manifests[0]!.digest).toBe(srcDigest);
    await run("skopeo", ["copy", `oci:${out}:copied`, `oci:${join(dir, "by-skopeo")}:s`]);
    await run("umoci", ["unpack", "--rootless", "--image", `${out}:copied`, join(dir, "bundle-out")]);
    expect(await readFile(join(dir, "bundle-out/rootfs/bin/run"), "utf8")).toContain("echo hi");
  });

  it("reads what skopeo writes to an OCI layout", async () => {
    const bySkopeo = join(dir, "skopeo-written");
    await run("skopeo", ["copy", `oci:${src}:v1`, `oci:${bySkopeo}:t`]);
    const r = await berth(["copy", `oci:${bySkopeo}:t`, "skopeo-made:t"], { home });
    expect(r.code, r.stderr).toBe(0);
    const inspected = JSON.parse((await berth(["inspect", "--json", "skopeo-made:t"], { home })).stdout);
    expect(inspected.env).toContain("A=1");
    expect(inspected.labels["org.example"]).toBe("yes");
  });

  it("prints manifest and config bytes exactly as stored", async () => {
    const r = await berth(["inspect", "--raw", `oci:${src}:v1`], { home });
    expect(r.stdoutBytes.equals(await readFile(blobPath(src, srcDigest)))).toBe(true);
    const manifest = JSON.parse(r.stdout);
    const c = await berth(["inspect", "--config", `oci:${src}:v1`], { home });
    expect(c.stdoutBytes.equals(await readFile(blobPath(src, manifest.config.digest)))).toBe(true);
  });
});

describe("multi-platform indexes", () => {
  let multi: string;
  beforeAll(async () => {
    multi = join(dir, "multi");
    await umociImage(multi, "amd", [[{ path: "arch", content: "amd64" }]]);
    await umociImage(multi, "arm", [[{ path: "arch", content: "arm64" }]]);
    await run("umoci", ["config", "--image", `${multi}:arm`, "--architecture", "arm64"]);
    const idx = await readIndex(multi);
    const byTag = (t: string) =>
      idx.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === t)!;
    const plain = (m: { mediaType: string; digest: string; size: number }) => ({
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
    });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { ...plain(byTag("amd")), platform: { os: "linux", architecture: "amd64" } },
          { ...plain(byTag("arm")), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
        ],
      }),
    );
    const d = await putBlob(multi, index, "application/vnd.oci.image.index.v1+json");
    await writeIndex(multi, [{ ...d, annotations: { "org.opencontainers.image.ref.name": "both" } }]);
  });

  it("copies the whole index with --all, keeping its digest", async () => {
    const indexDigest = (await readIndex(multi)).manifests[0]!.digest;
    const r = await berth(["copy", "--all", `oci:${multi}:both`, `oci:${join(dir, "multi-all")}:both`], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    expect((await readIndex(join(dir, "multi-all"))).manifests[0]!.digest).toBe(indexDigest);
    // skopeo agrees that both platforms' images are complete.
    await run("skopeo", [
      "copy",
      "--all",
      `oci:${join(dir, "multi-all")}:both`,
      `oci:${join(dir, "multi-skopeo")}:x`,
    ]);
    const i = JSON.parse(await sha(join(dir, "multi-all"), "both"));
    expect(i.manifests).toHaveLength(2);
  });

  it("copies one platform's image with --platform", async () => {
    const r = await berth(
      ["copy", "--platform", "linux/arm64", `oci:${multi}:both`, `oci:${join(dir, "multi-arm")}:arm`],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(await sha(join(dir, "multi-arm"), "arm"));
    expect(m.layers).toHaveLength(1);
    const cfg = JSON.parse(
      await run("skopeo", ["inspect", "--config", "--raw", `oci:${join(dir, "multi-arm")}:arm`]),
    );
    expect(cfg.architecture).toBe("arm64");
    const missing = await berth(
      ["copy", "--platform", "linux/s390x", `oci:${multi}:both`, `oci:${join(dir, "nope")}:x`],
      { home },
    );
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no image for linux\/s390x.*linux\/amd64, linux\/arm64/);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });
});

describe("bad input gets a clear error and leaves nothing behind", () => {
  it("a flipped byte in a blob", async () => {
    const bad = join(dir, "flipped");
    await umociImage(bad, "v1", [
      [{ path: "unique", content: "only in the flipped image" }],
      [{ path: "more", content: "x".repeat(5000) }],
    ]);
    const m = JSON.parse(await sha(bad, "v1"));
    const layer = blobPath(bad, m.layers[1].digest);
    const bytes = await readFile(layer);
    bytes[bytes.length - 5]! ^= 0xff;
    await writeFile(layer, bytes);
    const dest = join(dir, "flipped-dest");
    const r = await berth(["copy", `oci:${bad}:v1`, `oci:${dest}:v1`], { home });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(m.layers[1].digest);
    expect(r.stderr).toMatch(/has digest sha256:[0-9a-f]{64} where .* was expected/);
    expect(existsSync(dest)).toBe(false);
    // Into the store: no tag, and no stray blob of this copy.
    const before = (await berth(["store", "gc", "--dry-run", "--json"], { home })).stdout;
    const s = await berth(["copy", `oci:${bad}:v1`, "flipped:1"], { home });
    expect(s.code).toBe(4);
    expect((await berth(["images", "--json"], { home })).stdout).not.toContain("flipped");
    expect((await berth(["store", "gc", "--dry-run", "--json"], { home })).stdout).toBe(before);
    expect((await berth(["store", "fsck"], { home })).code).toBe(0);
  });

  it("an index.json naming a missing blob", async () => {
    const bad = join(dir, "missing");
    await run("skopeo", ["copy", `oci:${src}:v1`, `oci:${bad}:v1`]);
    const m = JSON.parse(await sha(bad, "v1"));
    await run("rm", [blobPath(bad, m.layers[0].digest)]);
    const r = await berth(["copy", `oci:${bad}:v1`, `oci:${join(dir, "missing-dest")}:v1`], { home });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`blob ${m.layers[0].digest} is missing`);
    expect(existsSync(join(dir, "missing-dest"))).toBe(false);
  });

  it("a malformed digest", async () => {
    const bad = join(dir, "malformed");
    await writeIndex(bad, [
      { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:xyz", size: 3 },
    ]);
    const r = await berth(["inspect", `oci:${bad}`], { home });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/manifests\[0\]\.digest "sha256:xyz" is not a valid sha256 digest/);
  });

  it("an unknown media type is carried through, not refused", async () => {
    const art = join(dir, "artifact");
    const cfg = await putBlob(art, "{}", "application/vnd.example.config.v1+json");
    const layer = await putBlob(art, "some artifact payload", "application/vnd.example.thing.v1");
    const manifest = await putBlob(
      art,
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.example",
        config: cfg,
        layers: [layer],
      }),
      "application/vnd.oci.image.manifest.v1+json",
    );
    await writeIndex(art, [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": "a" } }]);
    const r = await berth(["copy", `oci:${art}:a`, `oci:${join(dir, "artifact-copy")}:a`], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(blobPath(join(dir, "artifact-copy"), layer.digest), "utf8")).toBe(
      "some artifact payload",
    );
    const s = await berth(["copy", `oci:${art}:a`, "artifact:1"], { home });
    expect(s.code, s.stderr).toBe(0);
  });
});

describe("skopeo copy's flags, beside skopeo", () => {
  const both = async (args: string[], from: string, name: string) => {
    const s = await run("skopeo", ["copy", ...args, from, `oci:${join(dir, `s-${name}`)}:t`]).then(
      () => true,
      () => false,
    );
    const b = await berth(["copy", ...args, from, `oci:${join(dir, `b-${name}`)}:t`], { home });
    return { s, b };
  };
  const root = async (name: string) => (await readIndex(join(dir, name))).manifests[0]!.digest;

  it("--digestfile gets the digest alone, as skopeo's", async () => {
    const { s, b } = await both(["--digestfile", join(dir, "b-digest.txt")], `oci:${src}:v1`, "dg");
    expect([s, b.code], b.stderr).toEqual([true, 0]);
    await run("skopeo", [
      "copy",
      "--digestfile",
      join(dir, "s-digest.txt"),
      `oci:${src}:v1`,
      `oci:${join(dir, "s2")}:t`,
    ]);
    expect(await readFile(join(dir, "b-digest.txt"), "utf8")).toBe(srcDigest);
    expect(await readFile(join(dir, "b-digest.txt"), "utf8")).toBe(
      await readFile(join(dir, "s-digest.txt"), "utf8"),
    );
  });

  it("--multi-arch all and --override-arch/--override-variant pick what skopeo's pick", async () => {
    const multi = `oci:${join(dir, "multi")}:both`;
    let r = await both(["--multi-arch", "all"], multi, "ma");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-ma")).toBe(await root("s-ma"));
    r = await both(["--override-arch", "arm64", "--override-variant", "v8"], multi, "oa");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-oa")).toBe(await root("s-oa"));
    expect(JSON.parse(await sha(join(dir, "b-oa"), "t")).layers).toHaveLength(1);
  });

  it("--format oci, --preserve-digests and --remove-signatures keep the digest, as skopeo", async () => {
    const r = await both(
      ["--format", "oci", "--preserve-digests", "--remove-signatures"],
      `oci:${src}:v1`,
      "fmt",
    );
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-fmt")).toBe(srcDigest);
    expect(await root("s-fmt")).toBe(srcDigest);
  });

  it("--additional-tag adds RepoTags to a docker-archive, as skopeo's", async () => {
    const tags = ["--additional-tag", "extra:2", "--additional-tag", "reg.example:5000/x/y:3"];
    const tar = (who: string) => join(dir, `${who}-at.tar`);
    await run("skopeo", ["copy", ...tags, `oci:${src}:v1`, `docker-archive:${tar("s")}:app:1`]);
    const b = await berth(["copy", ...tags, `oci:${src}:v1`, `docker-archive:${tar("b")}:app:1`], { home });
    expect(b.code, b.stderr).toBe(0);
    const repoTags = async (who: string) =>
      JSON.parse(await run("tar", ["-xOf", tar(who), "manifest.json"]))[0].RepoTags;
    // skopeo 1.9 writes full names (docker.io/library/app:1), berth docker save's familiar ones (app:1)
    const familiar = (t: string[]) => t.map((x) => x.replace(/^docker\.io\/library\//, ""));
    expect(await repoTags("b")).toEqual(familiar(await repoTags("s")));
    expect(await repoTags("b")).toHaveLength(3);
  });

  it("--dest-compress-format zstd rewrites the layers as skopeo's; gzip on gzip layers keeps the digest", async () => {
    let r = await both(
      ["--dest-compress-format", "zstd", "--dest-compress-level", "5"],
      `oci:${src}:v1`,
      "zs",
    );
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    const layers = async (l: string) =>
      JSON.parse(await sha(join(dir, l), "t")).layers.map((x: { mediaType: string }) => x.mediaType);
    expect(await layers("b-zs")).toEqual(await layers("s-zs"));
    expect(await layers("b-zs")).toEqual(Array(2).fill("application/vnd.oci.image.layer.v1.tar+zstd"));
    // skopeo reads berth's zstd layers back into gzip, and umoci unpacks them: the same files
    await run("skopeo", [
      "copy",
      "--dest-compress-format",
      "gzip",
      `oci:${join(dir, "b-zs")}:t`,
      `oci:${join(dir, "zs-back")}:t`,
    ]);
    await run("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${join(dir, "zs-back")}:t`,
      join(dir, "zs-bundle"),
    ]);
    expect(await readFile(join(dir, "zs-bundle/rootfs/data/x"), "utf8")).toBe("x");
    expect(existsSync(join(dir, "zs-bundle/rootfs/etc/hello.txt"))).toBe(false);
    r = await both(["--dest-compress-format", "gzip"], `oci:${src}:v1`, "gz");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-gz")).toBe(await root("s-gz"));
    expect(await root("b-gz")).toBe(srcDigest);
  });

  /** The root's own bytes, parsed. */
  const rootDoc = async (name: string) =>
    JSON.parse(await readFile(blobPath(join(dir, name), await root(name)), "utf8"));
  const shape = (doc: { mediaType: string; manifests: { mediaType: string; platform?: unknown }[] }) => [
    doc.mediaType,
    doc.manifests.map((m) => [m.mediaType, m.platform]),
  ];

  it("--all --format v2s2|oci converts every image and the index, as skopeo's", async () => {
    const multi = `oci:${join(dir, "multi")}:both`;
    const r = await both(["--all", "--format", "v2s2"], multi, "all2");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    // a Docker manifest list of Docker manifests, byte for byte skopeo's (so every child's digest too)
    expect(await root("b-all2")).toBe(await root("s-all2"));
    expect(shape(await rootDoc("b-all2"))).toEqual([
      "application/vnd.docker.distribution.manifest.list.v2+json",
      [
        ["application/vnd.docker.distribution.manifest.v2+json", { architecture: "amd64", os: "linux" }],
        [
          "application/vnd.docker.distribution.manifest.v2+json",
          { architecture: "arm64", os: "linux", variant: "v8" },
        ],
      ],
    ]);
    // back to OCI; skopeo 1.9.3 reads no Docker list from an OCI layout, so it converts a dir: copy of it
    const d = join(dir, "all2-dir");
    await run("skopeo", ["copy", "--all", "--format", "v2s2", multi, `dir:${d}`]);
    await run("skopeo", ["copy", "--all", "--format", "oci", `dir:${d}`, `oci:${join(dir, "s-allo")}:t`]);
    const b = await berth(
      ["copy", "--all", "--format", "oci", `oci:${join(dir, "b-all2")}:t`, `oci:${join(dir, "b-allo")}:t`],
      { home },
    );
    expect(b.code, b.stderr).toBe(0);
    // skopeo's index byte for byte: each config re-marshalled as skopeo's OCI config
    expect(shape(await rootDoc("b-allo"))).toEqual(shape(await rootDoc("s-allo")));
    expect(await root("b-allo")).toBe(await root("s-allo"));
    expect((await rootDoc("b-allo")).mediaType).toBe("application/vnd.oci.image.index.v1+json");
    // skopeo picks the arm64 image out of berth's index, and umoci unpacks it
    await run("skopeo", [
      "copy",
      "--override-arch",
      "arm64",
      "--override-variant",
      "v8",
      `oci:${join(dir, "b-allo")}:t`,
      `oci:${join(dir, "allo-arm")}:arm`,
    ]);
    await run("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${join(dir, "allo-arm")}:arm`,
      join(dir, "allo-bundle"),
    ]);
    expect(await readFile(join(dir, "allo-bundle/rootfs/arch"), "utf8")).toBe("arm64");
  });

  it("--all --format oci converts the Docker images an OCI index lists, as skopeo's", async () => {
    // an OCI index over the Docker manifests --format v2s2 wrote (b-all2, from the test before)
    const mixed = join(dir, "mixed");
    await cp(join(dir, "b-all2"), mixed, { recursive: true });
    const list = await rootDoc("b-all2");
    const oci = "application/vnd.oci.image.index.v1+json";
    const d = await putBlob(
      mixed,
      JSON.stringify({ schemaVersion: 2, mediaType: oci, manifests: list.manifests }),
      oci,
    );
    await writeIndex(mixed, [{ ...d, annotations: { "org.opencontainers.image.ref.name": "mx" } }]);
    const r = await both(["--all", "--format", "oci"], `oci:${mixed}:mx`, "mx");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(shape(await rootDoc("b-mx"))).toEqual(shape(await rootDoc("s-mx")));
    expect(shape(await rootDoc("b-mx"))).toEqual(shape(await rootDoc("b-allo")));
    expect(await root("b-mx")).toBe(await root("s-mx"));
  });

  it("--all --dest-compress-format rewrites every image's layers and the index, as skopeo's", async () => {
    const multi = `oci:${join(dir, "multi")}:both`;
    let r = await both(["--all", "--dest-compress-format", "zstd"], multi, "allz");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(shape(await rootDoc("b-allz"))).toEqual(shape(await rootDoc("s-allz")));
    // zstd's bytes are berth's encoder's, not Go's: the same layers' media types, other digests
    for (const m of (await rootDoc("b-allz")).manifests) {
      const image = JSON.parse(await readFile(blobPath(join(dir, "b-allz"), m.digest), "utf8"));
      expect(image.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
        "application/vnd.oci.image.layer.v1.tar+zstd",
      ]);
    }
    await run("skopeo", [
      "copy",
      "--all",
      "--dest-compress-format",
      "gzip",
      `oci:${join(dir, "b-allz")}:t`,
      `oci:${join(dir, "allz-back")}:t`,
    ]);
    r = await both(["--all", "--dest-compress-format", "gzip"], multi, "allg");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-allg")).toBe(await root("s-allg"));
  });

  it("--multi-arch index-only writes the index alone, as skopeo's, also converted", async () => {
    const multi = `oci:${join(dir, "multi")}:both`;
    for (const [name, args] of [
      ["io", []],
      ["io2", ["--format", "v2s2"]],
    ] as const) {
      const r = await both(["--multi-arch", "index-only", ...args], multi, name);
      expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
      expect(await root(`b-${name}`)).toBe(await root(`s-${name}`));
      expect(await readdir(join(dir, `b-${name}`, "blobs/sha256"))).toEqual([
        (await root(`b-${name}`)).slice(7),
      ]);
    }
  });

  it("a nested index: index-only converts the outer one as skopeo's; --all with a rewrite refused by both", async () => {
    // an outer index listing an inner index (no platform) and an image
    const nested = join(dir, "nested");
    await cp(src, nested, { recursive: true });
    const image = (await readIndex(src)).manifests[0]!;
    const oci = "application/vnd.oci.image.index.v1+json";
    const plain = { mediaType: image.mediaType, digest: image.digest, size: image.size };
    const platform = { os: "linux", architecture: "amd64" };
    const inner = await putBlob(
      nested,
      JSON.stringify({ schemaVersion: 2, mediaType: oci, manifests: [{ ...plain, platform }] }),
      oci,
    );
    const arm = { ...plain, platform: { os: "linux", architecture: "arm64" } };
    const outer = await putBlob(
      nested,
      JSON.stringify({ schemaVersion: 2, mediaType: oci, manifests: [inner, arm] }),
      oci,
    );
    await writeIndex(nested, [{ ...outer, annotations: { "org.opencontainers.image.ref.name": "n" } }]);
    // the inner index named as it is, with this machine's platform filled in, as containers/image does
    const r = await both(["--multi-arch", "index-only", "--format", "v2s2"], `oci:${nested}:n`, "nio");
    expect([r.s, r.b.code], r.b.stderr).toEqual([true, 0]);
    expect(await root("b-nio")).toBe(await root("s-nio"));
    expect((await rootDoc("b-nio")).manifests[0].mediaType).toBe(oci);
    for (const args of [
      ["--all", "--format", "v2s2"],
      ["--all", "--dest-compress-format", "gzip"],
    ]) {
      const name = `nall-${args[1]}`;
      const x = await both(args, `oci:${nested}:n`, name);
      expect([x.s, x.b.code], x.b.stderr).toEqual([false, 2]);
      expect(x.b.stderr).toContain(`lists another index (${inner.digest})`);
      expect(existsSync(join(dir, `b-${name}`))).toBe(false);
    }
  });

  it("--preserve-digests still refuses --all --format", async () => {
    const dst = join(dir, "pd-all");
    const b = await berth(
      [
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--preserve-digests",
        `oci:${join(dir, "multi")}:both`,
        `oci:${dst}:t`,
      ],
      { home },
    );
    expect(b.code).toBe(2);
    expect(existsSync(dst)).toBe(false);
  });

  it("refuses what skopeo refuses: --preserve-digests into a docker-archive, --sign-by", async () => {
    for (const args of [["--preserve-digests"], ["--sign-by", "ABCDEF"]]) {
      const dst = `docker-archive:${join(dir, "pd.tar")}:a:b`;
      await expect(run("skopeo", ["copy", ...args, `oci:${src}:v1`, dst])).rejects.toThrow();
      const b = await berth(["copy", ...args, `oci:${src}:v1`, dst], { home });
      expect(b.code).toBe(2);
      expect(b.stderr.trim().split("\n")[0]).toMatch(
        /^berth: (--preserve-digests: |--sign-by is not supported)/,
      );
      expect(existsSync(join(dir, "pd.tar"))).toBe(false);
    }
  });
});

describe.skipIf(!dockerdAvailable())("-f oci of images docker saved, beside skopeo", () => {
  let dockerd: Dockerd;
  let saved: Record<string, string>;

  beforeAll(async () => {
    const base = await localBase(join(dir, "dk-base"));
    const bb = join(dir, "dk-busybox.tar");
    const r = await berth(["copy", base, `docker-archive:${bb}:busybox:1`], { home });
    expect(r.code, r.stderr).toBe(0);
    dockerd = await startDockerd();
    await dockerd.docker(["load", "-i", bb]);
    const ctx = join(dir, "dk-ctx");
    await mkdir(ctx);
    await writeFile(
      join(ctx, "Dockerfile"),
      [
        "FROM busybox:1",
        'LABEL org.example.note="ünïcode <b> & co" org.example.a=1',
        "ENV GREETING=héllo X=1",
        "HEALTHCHECK --interval=5s CMD true",
        "VOLUME /data",
        "EXPOSE 8080 53/udp",
        "WORKDIR /srv",
        "USER 1000",
        "STOPSIGNAL SIGQUIT",
        'CMD ["serve"]',
        "",
      ].join("\n"),
    );
    await dockerd.docker(["build", "-q", "-t", "rich:1", ctx]);
    saved = {};
    for (const name of ["busybox:1", "rich:1"]) {
      saved[name] = join(dir, `dk-${name.replace(":", "-")}.tar`);
      await dockerd.docker(["save", "-o", saved[name]!, name]);
    }
  }, 240_000);

  afterAll(async () => {
    await dockerd?.stop();
  });

  it("--multi-arch index-only copies a docker-archive's image (it holds no index), as skopeo's", async () => {
    const tar = saved["busybox:1"]!;
    const [s, b] = [join(dir, "dk-s-io"), join(dir, "dk-b-io")];
    const f = ["--multi-arch", "index-only"];
    await run("skopeo", ["copy", "-q", ...f, `docker-archive:${tar}`, `oci:${s}:t`]);
    const r = await berth(["copy", "-q", ...f, `docker-archive:${tar}`, `oci:${b}:t`], { home });
    expect(r.code, r.stderr).toBe(0);
    const config = (l: string) => run("skopeo", ["inspect", "--config", "--raw", `oci:${l}:t`]);
    expect(await config(b)).toBe(await config(s));
  });

  it("--dest-oci-accept-uncompressed-layers: skopeo's config and layer digests, the layers labelled as uncompressed", async () => {
    const tar = saved["rich:1"]!;
    const f = ["--dest-oci-accept-uncompressed-layers"];
    const [s, b] = [join(dir, "dk-s-acc.tar"), join(dir, "dk-b-acc.tar")];
    await run("skopeo", ["copy", "-q", ...f, `docker-archive:${tar}`, `oci-archive:${s}:t`]);
    const r = await berth(["copy", "-q", ...f, `docker-archive:${tar}`, `oci-archive:${b}:t`], { home });
    expect(r.code, r.stderr).toBe(0);
    const manifest = async (l: string) =>
      JSON.parse(await run("skopeo", ["inspect", "--raw", `oci-archive:${l}:t`]));
    const [mb, ms] = [await manifest(b), await manifest(s)];
    expect(mb.config).toEqual(ms.config);
    const at = (m: { layers: { digest: string; size: number }[] }) => m.layers.map((l) => [l.digest, l.size]);
    expect(at(mb)).toEqual(at(ms));
    // skopeo labels the uncompressed tars +gzip (its v2s2 source's type); berth says what they are
    expect(new Set(mb.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(
      new Set(["application/vnd.oci.image.layer.v1.tar"]),
    );
  });

  it.each([
    ["-f oci", ["-f", "oci"], "tar"],
    ["no -f", [], "tar"],
    ["--dest-compress-format gzip", ["--dest-compress-format", "gzip"], "tar+gzip"],
  ])(
    "%s: skopeo's config, byte for byte, its manifest but for the layers (berth keeps them uncompressed unless asked)",
    async (how, f, type) => {
      for (const [name, tar] of Object.entries(saved)) {
        const at = `${how.replace(/\W/g, "")}-${name}`;
        const [s, b] = [join(dir, `dk-s-${at}`), join(dir, `dk-b-${at}`)];
        await run("skopeo", ["copy", "-q", ...f, `docker-archive:${tar}`, `oci:${s}:t`]);
        const r = await berth(["copy", "-q", ...f, `docker-archive:${tar}`, `oci:${b}:t`], { home });
        expect(r.code, r.stderr).toBe(0);
        const config = (l: string) => run("skopeo", ["inspect", "--config", "--raw", `oci:${l}:t`]);
        expect(await config(b)).toBe(await config(s));
        // docker's own fields are gone, the label is escaped as Go escapes it
        expect(await config(b)).not.toContain("container_config");
        if (name === "rich:1") expect(await config(b)).toContain("ünïcode \\u003cb\\u003e \\u0026 co");
        const manifest = async (l: string) =>
          JSON.parse(await run("skopeo", ["inspect", "--raw", `oci:${l}:t`]));
        const [mb, ms] = [await manifest(b), await manifest(s)];
        // skopeo gzips the layers (Go's pgzip, whose bytes are not berth's gzip's); berth does when asked
        const types = (m: { layers: { mediaType: string }[] }) => m.layers.map((l) => l.mediaType);
        expect({ ...mb, layers: mb.layers.length }).toEqual({ ...ms, layers: ms.layers.length });
        expect(new Set(types(ms))).toEqual(new Set(["application/vnd.oci.image.layer.v1.tar+gzip"]));
        expect(new Set(types(mb))).toEqual(new Set([`application/vnd.oci.image.layer.v1.${type}`]));
      }
    },
  );
});
