/**
 * Two writers uploading the same blob to one repository (builds sharing a cache image, issue 15): distribution
 * sometimes answers the loser's final PUT `400 DIGEST_INVALID` while the winner's upload of the same digest
 * lands. The fault proxy plays that race exactly: it holds berth's PUT of the layer until the same blob was
 * uploaded straight to the registry, then answers 400. A blob the registry has is uploaded, so berth's push
 * succeeds (before the fix: exit 6, "400").
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
});
