import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { startUpload, uploadBlob, uploadedBytes } from "../../src/registry/upload.ts";
import { registryAndClient } from "./helpers/client.ts";

const peer = registryAndClient();

function target(repository: string) {
  return { host: peer.client.host(peer.reg.host), repository, scopes: [] };
}

/** A blob's descriptor and an opener giving its bytes in pieces of `piece` bytes. */
function source(bytes: Buffer, piece = 700): [Descriptor, () => Promise<Readable>] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += piece) pieces.push(bytes.subarray(i, i + piece));
  return [
    { mediaType: MediaType.OciLayerGzip, digest: digestBytes(bytes), size: bytes.length },
    async () => Readable.from(pieces),
  ];
}

async function stored(repository: string, desc: Descriptor): Promise<Buffer> {
  return buffer(await peer.client.repository(peer.reg.host, repository).openBlob(desc));
}

async function methods(): Promise<string[]> {
  return (await peer.reg.requests()).map((r) => `${r.method} ${r.status}`);
}

describe("uploads on a real registry", () => {
  it("start a session at a location under the repository, which holds nothing yet", async () => {
    const t = target("up/session");
    const loc = await startUpload(t);
    expect(loc.pathname).toMatch(/^\/v2\/up\/session\/blobs\/uploads\/[0-9a-f-]+$/);
    expect((await uploadedBytes(t, loc)).size).toBe(0);
  });

  it("upload in one PUT without a chunk size, reporting progress", async () => {
    const bytes = randomBytes(5000);
    const [desc, open] = source(bytes);
    const seen: number[] = [];
    await peer.reg.markLog();
    await uploadBlob(target("up/mono"), desc, open, { onProgress: (n) => seen.push(n) });
    expect(await methods()).toEqual(["POST 202", "PUT 201"]);
    expect(seen.at(-1)).toBe(5000);
    expect((await stored("up/mono", desc)).equals(bytes)).toBe(true);
  });

  it("upload in PATCHes of the chunk size, splitting the source's pieces, then one PUT", async () => {
    const bytes = randomBytes(3500);
    const [desc, open] = source(bytes);
    const seen: number[] = [];
    await peer.reg.markLog();
    await uploadBlob(target("up/chunks"), desc, open, { chunkSize: 1000, onProgress: (n) => seen.push(n) });
    expect(await methods()).toEqual([
      "POST 202",
      "PATCH 202",
      "PATCH 202",
      "PATCH 202",
      "PATCH 202",
      "PUT 201",
    ]);
    expect(seen).toEqual([1000, 2000, 3000, 3500]);
    expect((await stored("up/chunks", desc)).equals(bytes)).toBe(true);
  });

  it("say how much a session holds after a chunk", async () => {
    const t = target("up/partial");
    const loc = await startUpload(t);
    const res = await t.host.request("patching", {
      method: "PATCH",
      url: loc,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": "0-1233",
        "content-length": "1234",
      },
      body: randomBytes(1234),
    });
    expect(res.status).toBe(202);
    const next = new URL(String(res.headers.location), loc);
    res.body.resume();
    const have = await uploadedBytes(t, next);
    expect(have.size).toBe(1234);
    expect(have.location.pathname).toBe(loc.pathname);
  });

  it("refuse a source longer than its descriptor, in chunks, without retrying", async () => {
    const bytes = randomBytes(2500);
    const [, open] = source(bytes);
    const desc: Descriptor = {
      mediaType: MediaType.OciLayerGzip,
      digest: digestBytes(bytes.subarray(0, 2000)),
      size: 2000,
    };
    await peer.reg.markLog();
    const err = await uploadBlob(target("up/long"), desc, open, { chunkSize: 1000 }).catch((e: unknown) => e);
    expect(isBerthError(err, "SIZE_MISMATCH")).toBe(true);
    expect((await methods()).filter((m) => m.startsWith("POST"))).toEqual(["POST 202"]);
  });

  it("name the repository when the session cannot start", async () => {
    const err = await startUpload(target("Bad/Name")).catch((e: unknown) => e);
    expect(isBerthError(err)).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^starting an upload to ${peer.reg.host}/Bad/Name: http://${peer.reg.host}/v2/Bad/Name/blobs/uploads/ answered 404`,
      ),
    );
  });
});
