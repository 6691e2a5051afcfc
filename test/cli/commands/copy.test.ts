import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
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
