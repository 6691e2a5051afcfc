/**
 * Two writers uploading the same blob to one repository (builds sharing a cache image, issue 15): distribution
 * sometimes answers the loser's final PUT `400 DIGEST_INVALID` while the winner's upload of the same digest
 * lands. The fault proxy plays that race exactly: it holds berth's PUT of the layer until the same blob was
 * uploaded straight to the registry, then answers 400. A blob the registry has is uploaded, so berth's push
 * succeeds (before the fix: exit 6, "400").
 *
 * The same race reaches the manifest: distribution answers a manifest PUT `400 DIGEST_INVALID;
 * MANIFEST_BLOB_UNKNOWN` while another writer re-links a blob the manifest names (seen in CI with four builds
 * sharing one cache image). berth checks the blobs and puts the manifest again; a blob truly missing is named.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { type FaultProxy, startFaultProxy } from "./helpers/faultproxy.ts";
import { randomLayout } from "./helpers/images.ts";
import { type RegistryHarness, startRegistry } from "./helpers/registry.ts";

let dir: string;
let reg: RegistryHarness;
let proxy: FaultProxy;

beforeAll(async () => {
  dir = await tempDir("berth-upload-race-");
  reg = await startRegistry();
  proxy = await startFaultProxy(reg.port);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
});

/** Upload a blob straight to the registry (the race's winner). */
async function uploadDirect(repo: string, digest: string, body: Buffer): Promise<void> {
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  await start.arrayBuffer();
  const loc = new URL(start.headers.get("location")!, reg.url);
  loc.searchParams.set("digest", digest);
  const put = await fetch(loc, {
    method: "PUT",
    body,
    headers: { "content-type": "application/octet-stream" },
  });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`direct upload: ${put.status}`);
}

describe("an upload that loses a race to the same blob", () => {
  it("a 400 on the final PUT of a blob another writer just put is success; the image is whole", async () => {
    const layout = join(dir, "layout");
    await randomLayout(layout, "img", { layers: 1, layerSize: 1024 * 1024 });
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const blob = (d: string) => readFile(join(layout, "blobs", "sha256", d.slice(7)));
    const manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as {
      layers: { digest: string }[];
    };
    const layer = manifest.layers[0]!.digest;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    proxy.add({
      method: "PUT",
      path: new RegExp(`/v2/race/app/blobs/uploads/.*digest=${layer.replace(":", "(:|%3A)")}`),
      fault: { kind: "status", status: 400 },
      times: Number.POSITIVE_INFINITY,
      onMatch: () => {
        void blob(layer)
          .then((b) => uploadDirect("race/app", layer, b))
          .then(release);
      },
      gate,
    });
    const r = await berth(["copy", `oci:${layout}:img`, `docker://${proxy.host}/race/app:1`], {
      home: join(dir, "home"),
    });
    const faulted = proxy.seen.filter((s) => s.fault === "status").length;
    proxy.clear();
    expect(r.code, r.stderr).toBe(0);
    expect(faulted).toBeGreaterThan(0);
    const back = await berth(["copy", `docker://${reg.host}/race/app:1`, `oci:${join(dir, "back")}:img`], {
      home: join(dir, "home"),
    });
    expect(back.code, back.stderr).toBe(0);
  }, 120_000);

  /** distribution's answer to a manifest PUT that lost the race to a re-linked blob. */
  const lostRace = {
    kind: "status" as const,
    status: 400,
    errors: [
      { code: "DIGEST_INVALID", message: "provided digest did not match uploaded content" },
      { code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry" },
    ],
  };

  it("a manifest PUT answered 'blob unknown' while every blob is there is put again; the image is whole", async () => {
    const layout = join(dir, "layout-m");
    await randomLayout(layout, "img", { layers: 2, layerSize: 64 * 1024 });
    proxy.add({ method: "PUT", path: /\/v2\/race\/manifest\/manifests\//, fault: lostRace, times: 2 });
    const r = await berth(["copy", `oci:${layout}:img`, `docker://${proxy.host}/race/manifest:1`], {
      home: join(dir, "home"),
    });
    const puts = proxy.seen.filter((s) => s.method === "PUT" && s.url.includes("/manifests/"));
    proxy.clear();
    expect(r.code, r.stderr).toBe(0);
    expect(puts.map((p) => p.fault ?? "forwarded")).toEqual(["status", "status", "forwarded"]);
    const back = await berth(
      ["copy", `docker://${reg.host}/race/manifest:1`, `oci:${join(dir, "back-m")}:img`],
      {
        home: join(dir, "home"),
      },
    );
    expect(back.code, back.stderr).toBe(0);
  }, 120_000);

  it("a manifest PUT answered 'blob unknown' for a blob the registry lacks fails at once, naming the blob", async () => {
    const layout = join(dir, "layout-gone");
    await randomLayout(layout, "img", { layers: 1, layerSize: 64 * 1024 });
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const manifest = JSON.parse(
      (await readFile(join(layout, "blobs", "sha256", index.manifests[0]!.digest.slice(7)))).toString(),
    ) as { layers: { digest: string }[] };
    const layer = manifest.layers[0]!.digest;
    // The registry "loses" the layer: every HEAD of it says 404 (berth uploads it, then checks it after the 400).
    proxy.add({
      method: "HEAD",
      path: new RegExp(`/v2/race/gone/blobs/${layer}`),
      fault: { kind: "status", status: 404 },
      times: Number.POSITIVE_INFINITY,
    });
    proxy.add({ method: "PUT", path: /\/v2\/race\/gone\/manifests\//, fault: lostRace, times: 5 });
    const r = await berth(["copy", `oci:${layout}:img`, `docker://${proxy.host}/race/gone:1`], {
      home: join(dir, "home"),
    });
    const puts = proxy.seen.filter((s) => s.method === "PUT" && s.url.includes("/manifests/")).length;
    proxy.clear();
    expect(r.code).not.toBe(0);
    expect(puts).toBe(1);
    expect(r.stderr).toContain(`race/gone lacks ${layer}`);
  }, 120_000);
});
