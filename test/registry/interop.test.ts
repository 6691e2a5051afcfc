import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copy } from "../../src/oci/copy.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { loadRoot } from "../../src/oci/image.ts";
import { OciLayout } from "../../src/oci/layout/layout.ts";
import { LayoutSink } from "../../src/oci/layout/sink.ts";
import { parseReference } from "../../src/oci/reference.ts";
import { RegistryClient, registrySink } from "../../src/registry/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { tool } from "./helpers/exec.ts";
import { randomLayout } from "./helpers/images.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";

let reg: RegistryHarness;
let tmp: string;
let client: RegistryClient;

beforeAll(async () => {
  reg = await startRegistry();
  tmp = await tempDir("berth-interop-");
  client = new RegistryClient({ env: {} });
});

afterAll(async () => {
  await client?.close();
  await reg?.stop();
});

const skopeo = (...args: string[]) => tool("skopeo", ["--insecure-policy", ...args]);

describe("interop with skopeo", () => {
  it("skopeo pulls what berth pushes, with the same manifest digest", async () => {
    const { layout, root } = await randomLayout(join(tmp, "src1"), "v1", { layers: 3 });
    const ref = parseReference(`${reg.host}/interop/one:v1`);
    const result = await copy(layout, root, registrySink(client, ref));
    expect(result.root.digest).toBe(root.digest);
    expect(result.blobs.written).toBe(4);

    const raw = (
      await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/interop/one:v1`)
    ).stdout;
    expect(digestBytes(raw)).toBe(root.digest);
    const out = join(tmp, "skopeo-out");
    await skopeo("copy", "--src-tls-verify=false", `docker://${reg.host}/interop/one:v1`, `oci:${out}:v1`);
    const pulled = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    expect(pulled.manifests.map((m) => m.digest)).toContain(root.digest);
  });

  it("berth pulls what skopeo pushes, with the same digest", async () => {
    const { root } = await randomLayout(join(tmp, "src2"), "v2", { layers: 2 });
    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${join(tmp, "src2")}:v2`,
      `docker://${reg.host}/interop/two:v2`,
    );
    const repo = client.repository(reg.host, "interop/two");
    const got = await repo.getManifest("v2");
    expect(got.descriptor.digest).toBe(root.digest);
    const byDigest = await repo.getManifest(root.digest);
    expect(byDigest.bytes.equals(got.bytes)).toBe(true);
    const head = await repo.headManifest("v2");
    expect(head).toEqual(got.descriptor);

    const dest = await OciLayout.openOrCreate(join(tmp, "berth-out"));
    const result = await copy(repo, got.descriptor, new LayoutSink(dest, "v2"));
    expect(result.root.digest).toBe(root.digest);
    const img = await loadRoot(dest, await dest.resolve("v2"));
    expect(img.kind).toBe("image");
  });

  it("a two-platform index survives berth → registry → skopeo → registry → berth", async () => {
    const platforms = [
      { os: "linux", architecture: "amd64" },
      { os: "linux", architecture: "arm64", variant: "v8" },
    ];
    const { layout, root } = await randomLayout(join(tmp, "src3"), "multi", { platforms });
    await copy(layout, root, registrySink(client, parseReference(`${reg.host}/interop/multi:1`)), {
      all: true,
    });
    const raw = (
      await skopeo("inspect", "--raw", "--tls-verify=false", `docker://${reg.host}/interop/multi:1`)
    ).stdout;
    expect(digestBytes(raw)).toBe(root.digest);
    await skopeo(
      "copy",
      "--all",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      `docker://${reg.host}/interop/multi:1`,
      `docker://${reg.host}/interop/multi-back:1`,
    );
    const repo = client.repository(reg.host, "interop/multi-back");
    const got = await repo.getManifest("1");
    expect(got.descriptor.digest).toBe(root.digest);
    expect(got.descriptor.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    const dest = await OciLayout.openOrCreate(join(tmp, "multi-out"));
    const result = await copy(repo, got.descriptor, new LayoutSink(dest, "m"), { all: true });
    expect(result.root.digest).toBe(root.digest);
    expect(result.blobs.written).toBe(6);
  });
});
