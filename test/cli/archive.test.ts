import { existsSync } from "node:fs";
import { readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";

let dir: string;
let home: string;
let src: string;
let digest: string;
let configDigest: string;

const skopeoRaw = async (image: string) => (await run("skopeo", ["inspect", "--raw", image])).trim();
const skopeoConfig = async (image: string) =>
  JSON.parse(await run("skopeo", ["inspect", "--config", "--raw", image]));

beforeAll(async () => {
  dir = await tempDir();
  home = join(dir, "home");
  src = join(dir, "umoci");
  await umociImage(
    src,
    "v1",
    [
      [
        { path: "srv/index.html", content: "<h1>hi</h1>" },
        { path: "srv/link", symlink: "index.html" },
      ],
      [{ path: "srv/index.html", delete: true }],
    ],
    {
      env: ["PORT=8080"],
      entrypoint: ["/bin/server"],
    },
  );
  digest = (await readIndex(src)).manifests[0]!.digest;
  configDigest = JSON.parse(await skopeoRaw(`oci:${src}:v1`)).config.digest;
});

describe("archives through berth copy", () => {
  it("oci-archive round trip keeps the manifest digest; skopeo and umoci read it", async () => {
    const file = join(dir, "img.oci.tar");
    expect((await berth(["copy", `oci:${src}:v1`, `oci-archive:${file}:v1`], { home })).code).toBe(0);
    expect(await skopeoRaw(`oci-archive:${file}:v1`)).toBe(await skopeoRaw(`oci:${src}:v1`));
    await run("skopeo", ["copy", `oci-archive:${file}:v1`, `oci:${join(dir, "from-oa")}:v1`]);
    await run("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${join(dir, "from-oa")}:v1`,
      join(dir, "oa-bundle"),
    ]);
    expect(await readlink(join(dir, "oa-bundle/rootfs/srv/link"))).toBe("index.html");
    const back = await berth(["copy", `oci-archive:${file}:v1`, "from-oci-archive:1"], { home });
    expect(back.code, back.stderr).toBe(0);
    expect(
      JSON.parse((await berth(["inspect", "--json", "from-oci-archive:1"], { home })).stdout).digest,
    ).toBe(digest);
  });

  it("docker-archive: skopeo reads what berth writes, with the config (image ID) unchanged", async () => {
    const file = join(dir, "img.docker.tar");
    const r = await berth(["copy", `oci:${src}:v1`, `docker-archive:${file}:web:1`], { home });
    expect(r.code, r.stderr).toBe(0);
    const cfg = await skopeoConfig(`docker-archive:${file}`);
    expect(cfg.config.Env).toContain("PORT=8080");
    const skopeoInspect = JSON.parse(await run("skopeo", ["inspect", `docker-archive:${file}`]));
    expect(skopeoInspect.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // Converting gzip OCI layers to docker's uncompressed layer.tar changes the manifest, not the config.
    const m = JSON.parse((await berth(["inspect", "--raw", `docker-archive:${file}`], { home })).stdout);
    expect(m.config.digest).toBe(configDigest);
    await run("skopeo", ["copy", `docker-archive:${file}`, `oci:${join(dir, "from-da")}:x`]);
    await run("umoci", [
      "unpack",
      "--rootless",
      "--image",
      `${join(dir, "from-da")}:x`,
      join(dir, "da-bundle"),
    ]);
    expect(existsSync(join(dir, "da-bundle/rootfs/srv/index.html"))).toBe(false);
    expect(await readlink(join(dir, "da-bundle/rootfs/srv/link"))).toBe("index.html");
  });

  it("copy and save of an OCI layout's image (its ref just v1) write no RepoTags, as skopeo copy", async () => {
    const repoTags = async (file: string) =>
      JSON.parse(await run("tar", ["-xOf", file, "manifest.json"])).map(
        (m: { RepoTags: unknown }) => m.RepoTags,
      );
    const bySkopeo = join(dir, "untagged.skopeo.tar");
    await run("skopeo", ["copy", `oci:${src}:v1`, `docker-archive:${bySkopeo}`]);
    const copied = join(dir, "untagged.copy.tar");
    const c = await berth(["copy", `oci:${src}:v1`, `docker-archive:${copied}`], { home });
    expect(c.code, c.stderr).toBe(0);
    const saved = join(dir, "untagged.save.tar");
    const s = await berth(["save", `oci:${src}:v1`, "-o", saved], { home });
    expect(s.code, s.stderr).toBe(0);
    expect(await repoTags(bySkopeo)).toEqual([[]]);
    expect([await repoTags(copied), await repoTags(saved)]).toEqual([[[]], [[]]]);
  });

  it("reads what skopeo writes to a docker-archive", async () => {
    const file = join(dir, "by-skopeo.tar");
    await run("skopeo", ["copy", `oci:${src}:v1`, `docker-archive:${file}:skopeo/made:2`]);
    const r = await berth(["copy", `docker-archive:${file}`, "loaded-from-skopeo:2"], { home });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse((await berth(["inspect", "--json", "loaded-from-skopeo:2"], { home })).stdout);
    expect(s.configDigest).toBe(configDigest);
    expect(s.entrypoint).toEqual(["/bin/server"]);
  });

  it("save and load several images and tags", async () => {
    await berth(["copy", `oci:${src}:v1`, "one:1"], { home });
    await berth(["tag", "one:1", "localhost:5000/two:2"], { home });
    const file = join(dir, "saved.tar");
    const s = await berth(["save", "one:1", "localhost:5000/two:2", "-o", file], { home });
    expect(s.code, s.stderr).toBe(0);
    const manifest = JSON.parse(await run("tar", ["-xOf", file, "manifest.json"]));
    expect(manifest.flatMap((m: { RepoTags: string[] }) => m.RepoTags).sort()).toEqual([
      "localhost:5000/two:2",
      "one:1",
    ]);
    const other = join(dir, "other-home");
    const l = await berth(["load", "-i", file], { home: other });
    expect(l.code, l.stderr).toBe(0);
    expect(l.stdout).toContain("Loaded image: docker.io/library/one:1");
    expect(l.stdout).toContain("Loaded image: localhost:5000/two:2");
    expect((await berth(["store", "fsck"], { home: other })).code).toBe(0);
    // An oci-archive loads too, compressed or not.
    await run("skopeo", ["copy", `oci:${src}:v1`, `oci-archive:${join(dir, "x.oci.tar")}:quay.io/x/y:3`]);
    await run("gzip", ["-k", join(dir, "x.oci.tar")]);
    const z = await berth(["load", "-i", join(dir, "x.oci.tar.gz")], { home: other });
    expect(z.code, z.stderr).toBe(0);
    expect(z.stdout).toContain("Loaded image: quay.io/x/y:3");
  });

  it("bad archives: a clear error, nothing in the store", async () => {
    const trunc = join(dir, "trunc.tar");
    const full = await run("bash", ["-c", `head -c 3000 ${join(dir, "saved.tar")} > ${trunc}; echo ok`]);
    expect(full.trim()).toBe("ok");
    const other = join(dir, "bad-home");
    const r = await berth(["load", "-i", trunc], { home: other });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/trunc\.tar/);
    expect(r.stderr.split("\n").filter(Boolean).length).toBeLessThanOrEqual(2);
    const images = await berth(["images", "--json"], { home: other });
    expect(JSON.parse(images.stdout)).toEqual({ schemaVersion: 1, images: [] });
    await writeFile(join(dir, "junk.tar"), "this is not a tar archive at all".repeat(40));
    const j = await berth(["load", "-i", join(dir, "junk.tar")], { home: other });
    expect(j.code).not.toBe(0);
    expect(j.stderr).toMatch(/junk\.tar/);
  });
});
