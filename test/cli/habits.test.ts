/**
 * docker and skopeo habits (issue 16, point 4) through the real CLI: `save -o -` to standard output, `load`
 * from standard input (no -i, or -i -), `images REPO[:TAG]`, `berth digest IMAGE`.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let dir: string;
let home: string;
let digest: string;

beforeAll(async () => {
  dir = await tempDir("berth-habits-");
  home = join(dir, "home");
  const src = join(dir, "src");
  await umociImage(src, "v1", [[{ path: "hello", content: "hello\n".repeat(100) }]]);
  digest = (await readIndex(src)).manifests[0]!.digest;
  for (const name of ["team/app:1", "team/app:2", "other/app:1"]) {
    const r = await berth(["copy", `oci:${src}:v1`, name], { home });
    if (r.code !== 0) throw new Error(r.stderr);
  }
});

describe("docker and skopeo habits", () => {
  it("save -o - writes the archive to stdout; load reads it from stdin (no -i, and -i -)", async () => {
    const saved = await berth(["save", "team/app:1", "-o", "-"], { home });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdoutBytes.subarray(257, 262).toString()).toBe("ustar");
    for (const args of [["load"], ["load", "-i", "-"]]) {
      const other = join(dir, `load-home-${args.length}`);
      const r = await berth([...args, "--json"], { home: other, input: saved.stdoutBytes });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).images).toEqual([
        { name: "docker.io/team/app:1", digest: expect.any(String) },
      ]);
      expect((await berth(["images", "--json"], { home: other })).stdout).toContain("docker.io/team/app:1");
    }
  });

  it("load from an empty stdin fails naming standard input, and leaves no temp file", async () => {
    const other = join(dir, "empty-home");
    const r = await berth(["load"], { home: other, input: "" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^berth: archive standard input is empty or not a tar archive\n/);
    expect(await readdir(join(other, "tmp"))).toEqual([]);
    expect((await berth(["images", "--json"], { home: other })).stdout).toContain('"images": []');
  });

  it("images REPO lists that repository's images, REPO:TAG one tag", async () => {
    const all = JSON.parse((await berth(["images", "--json", "team/app"], { home })).stdout).images;
    expect(all.map((i: { name: string }) => i.name).sort()).toEqual([
      "docker.io/team/app:1",
      "docker.io/team/app:2",
    ]);
    const one = JSON.parse((await berth(["images", "--json", "team/app:2"], { home })).stdout).images;
    expect(one.map((i: { name: string }) => i.name)).toEqual(["docker.io/team/app:2"]);
    const table = await berth(["images", "other/app"], { home });
    expect(table.stdout.split("\n").filter(Boolean)).toHaveLength(2);
  });

  it("berth digest IMAGE prints the manifest digest", async () => {
    const r = await berth(["digest", "team/app:1"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${digest}\n`);
    const missing = await berth(["digest", "team/absent:1"], { home });
    expect(missing.code).toBe(3);
  });
});

describe("push of a loaded docker-archive (uncompressed layers)", () => {
  let reg: RegistryHarness;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(() => reg?.stop());

  it("gzips the layers, with the same manifest digest every time, config unchanged", async () => {
    const archive = join(dir, "plain.tar");
    expect((await berth(["save", "team/app:1", "-o", archive], { home })).code).toBe(0);
    const other = join(dir, "push-home");
    expect((await berth(["load", "-i", archive], { home: other })).code).toBe(0);
    const loaded = JSON.parse((await berth(["inspect", "--json", "team/app:1"], { home: other })).stdout);
    expect(loaded.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      "application/vnd.oci.image.layer.v1.tar",
    ]);
    const first = await berth(["push", "team/app:1", `${reg.host}/team/a:1`], { home: other });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("Compressing 1 uncompressed layers with gzip for the registry");
    const second = await berth(["push", "team/app:1", `${reg.host}/team/b:1`], { home: other });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const raw = JSON.parse(
      await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/team/b:1`]),
    );
    expect(raw.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      "application/vnd.oci.image.layer.v1.tar+gzip",
    ]);
    expect(raw.layers[0].size).toBeLessThan(loaded.layers[0].size / 4);
    expect(raw.config.digest).toBe(loaded.configDigest);
    // what the registry holds reads back to the same files
    const back = join(dir, "back-home");
    expect((await berth(["pull", `${reg.host}/team/b:1`], { home: back })).code).toBe(0);
    const exported = await berth(["export", `${reg.host}/team/b:1`, "-o", "-"], { home: back });
    expect(exported.stdoutBytes.includes(Buffer.from("hello\nhello\n"))).toBe(true);
  });

  it("push from the store mounts the blobs the registry holds in another repository", async () => {
    const h = join(dir, "mount-home");
    const pulled = await berth(["pull", `${reg.host}/team/a:1`], { home: h });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(
      (await berth(["tag", `${reg.host}/team/a:1`, `${reg.host}/elsewhere/app:7`], { home: h })).code,
    ).toBe(0);
    await reg.markLog();
    const r = await berth(["push", `${reg.host}/elsewhere/app:7`], { home: h });
    expect(r.code, r.stderr).toBe(0);
    const requests = await reg.requests();
    const mounts = requests.filter(
      (q) => q.method === "POST" && q.uri.includes("mount=") && q.status === 201,
    );
    expect(mounts.length).toBe(2); // the layer and the config
    expect(
      requests.filter((q) => q.method === "PATCH" || (q.method === "PUT" && q.uri.includes("/blobs/"))),
    ).toEqual([]);
  });
});
