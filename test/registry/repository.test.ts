import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import { isRemote } from "../../src/oci/blob.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { MediaType } from "../../src/oci/mediatype.ts";
import { isRepository, nextLink, type Repository, referrersTag } from "../../src/registry/repository.ts";
import { registryAndClient } from "./helpers/client.ts";

const peer = registryAndClient();

function blob(
  bytes: Buffer,
  mediaType: string = MediaType.OciLayerGzip,
): [Descriptor, () => Promise<Readable>] {
  return [{ mediaType, digest: digestBytes(bytes), size: bytes.length }, async () => Readable.from([bytes])];
}

/** Push a config and a layer, and a manifest naming them under `tag`. */
async function pushImage(repo: Repository, tag: string, extra: Record<string, unknown> = {}) {
  const [config, openConfig] = blob(
    Buffer.from(JSON.stringify({ os: "linux", rnd: randomBytes(4).toString("hex") })),
    MediaType.OciConfig,
  );
  const [layer, openLayer] = blob(randomBytes(3000));
  await repo.putBlob(config, openConfig);
  await repo.putBlob(layer, openLayer);
  const bytes = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer], ...extra }),
  );
  const desc = await repo.putManifest(tag, bytes, MediaType.OciManifest);
  return { bytes, desc, layer, config };
}

describe("nextLink and referrersTag", () => {
  it("read the next page from a Link header", () => {
    expect(nextLink('</v2/a/tags/list?n=1&last=x>; rel="next"')).toBe("/v2/a/tags/list?n=1&last=x");
    expect(nextLink('<a>; rel="prev", <b>; rel=next')).toBe("b");
    expect(nextLink('<a>; rel="prev"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
  });

  it("name the referrers fallback tag after the digest", () => {
    const d = digestBytes(Buffer.from("x"));
    expect(referrersTag(d)).toBe(`sha256-${d.slice(7)}`);
  });
});

describe("Repository on a real registry", () => {
  it("puts a blob, knows it is there, and streams it back verified with progress", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/blobs", { push: true });
    const bytes = randomBytes(100_000);
    const [desc, open] = blob(bytes);
    expect(await repo.hasBlob(desc)).toBe(false);
    await repo.putBlob(desc, open);
    expect(await repo.hasBlob(desc.digest)).toBe(true);
    const seen: number[] = [];
    const got = await buffer(await repo.openBlob(desc, { onProgress: (n) => seen.push(n) }));
    expect(got.equals(bytes)).toBe(true);
    expect(seen.at(-1)).toBe(bytes.length);
    expect(isRepository(repo)).toBe(true);
    expect(isRepository({ openBlob: () => undefined })).toBe(false);
    // a remote source, on this machine's loopback (a copy from it fetches fewer blobs at once)
    expect([isRemote(repo), repo.loopback]).toEqual([true, true]);
    const far = peer.client.repository("registry.example.com", "repo/blobs", { push: false });
    expect([isRemote(far), far.loopback]).toEqual([true, false]);
  });

  it("refuses a blob read whose descriptor gives the wrong size", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/blobs", { push: true });
    const [desc, open] = blob(randomBytes(500));
    await repo.putBlob(desc, open);
    const err = await buffer(await repo.openBlob({ ...desc, size: 400 })).catch((e: unknown) => e);
    expect(isBerthError(err, "SIZE_MISMATCH")).toBe(true);
  });

  it("refuses to upload a source whose bytes are not the descriptor's", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/blobs", { push: true });
    const [desc] = blob(randomBytes(100));
    const err = await repo
      .putBlob(desc, async () => Readable.from([randomBytes(100)]))
      .catch((e: unknown) => e);
    expect(isBerthError(err, "DIGEST_MISMATCH")).toBe(true);
    expect(await repo.hasBlob(desc)).toBe(false);
  });

  it("puts a manifest and gets its exact bytes by tag and digest, and its descriptor by HEAD", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/manifests", { push: true });
    const { bytes, desc } = await pushImage(repo, "v1");
    expect(desc).toEqual({
      mediaType: MediaType.OciManifest,
      digest: digestBytes(bytes),
      size: bytes.length,
    });
    for (const ref of ["v1", desc.digest]) {
      const got = await repo.getManifest(ref);
      expect(got.bytes.equals(bytes)).toBe(true);
      expect(got.descriptor).toEqual(desc);
    }
    expect(await repo.headManifest("v1")).toEqual(desc);
    expect(await repo.resolve("v1")).toEqual(desc);
    expect(await repo.headManifest("nope")).toBeUndefined();
    expect((await buffer(await repo.openBlob(desc))).equals(bytes)).toBe(true);
  });

  it("reads a manifest it already read (by tag or digest) from memory, not with a second GET", async () => {
    const pusher = peer.client.repository(peer.reg.host, "repo/read-once", { push: true });
    const { bytes, desc } = await pushImage(pusher, "v1");
    const repo = peer.client.repository(peer.reg.host, "repo/read-once");
    await peer.reg.markLog();
    expect(await repo.resolve("v1")).toEqual(desc);
    expect((await repo.getManifest(desc.digest)).bytes.equals(bytes)).toBe(true);
    expect((await buffer(await repo.openBlob(desc))).equals(bytes)).toBe(true);
    const gets = (await peer.reg.requests()).filter((q) => q.uri.includes("/manifests/"));
    expect(gets.map((q) => `${q.method} ${q.uri.split("/").pop()}`)).toEqual(["GET v1"]);
    // a tag is asked again: it may have moved
    await repo.resolve("v1");
    expect((await peer.reg.requests()).filter((q) => q.uri.includes("/manifests/"))).toHaveLength(2);
  });

  it("refuses to put bytes under a digest they do not have, before sending them", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/manifests", { push: true });
    await peer.reg.markLog();
    const other = digestBytes(Buffer.from("other"));
    const err = await repo
      .putManifest(other, Buffer.from("{}"), MediaType.OciManifest)
      .catch((e: unknown) => e);
    expect(isBerthError(err, "DIGEST_MISMATCH")).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(`^putting manifest ${peer.reg.host}/repo/manifests@${other}`),
    );
    expect(await peer.reg.requests()).toEqual([]);
  });

  it("names an unknown tag with the step and a hint to list the tags", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/manifests");
    const err = await repo.getManifest("missing").catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_MANIFEST_UNKNOWN")).toBe(true);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^getting manifest ${peer.reg.host}/repo/manifests:missing: http://${peer.reg.host}/v2/repo/manifests/manifests/missing answered 404`,
      ),
    );
    expect((err as { hint?: string }).hint).toBe(
      `list the repository's tags: berth tags ${peer.reg.host}/repo/manifests`,
    );
  });

  it("lists every tag, asking for the page size given", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/tags", { push: true });
    const { bytes } = await pushImage(repo, "a");
    for (const t of ["b", "c"]) await repo.putManifest(t, bytes, MediaType.OciManifest);
    await peer.reg.markLog();
    expect((await repo.tags({ pageSize: 1 })).sort()).toEqual(["a", "b", "c"]);
    // distribution 2.8 answers all at once; paging through Link is in test/registry/http.test.ts
    expect((await peer.reg.requests()).map((r) => r.uri)).toEqual(["/v2/repo/tags/tags/list?n=1"]);
  });

  it("deletes a manifest by tag, and names a tag it cannot find", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/delete", { push: true });
    await pushImage(repo, "gone");
    await repo.deleteManifest("gone");
    expect(await repo.headManifest("gone")).toBeUndefined();
    const err = await repo.deleteManifest("gone").catch((e: unknown) => e);
    expect(isBerthError(err, "REGISTRY_MANIFEST_UNKNOWN")).toBe(true);
    expect((err as Error).message).toBe(`deleting ${peer.reg.host}/repo/delete:gone: no such manifest`);
  });

  it("mounts a blob it can, and uploads one the source repository does not have", async () => {
    const from = peer.client.repository(peer.reg.host, "repo/from", { push: true });
    const to = peer.client.repository(peer.reg.host, "repo/to", { push: true });
    const [known, openKnown] = blob(randomBytes(2000));
    await from.putBlob(known, openKnown);
    expect(await to.mountBlob(known, "repo/from", openKnown)).toBe(true);
    const [unknown, openUnknown] = blob(randomBytes(2000));
    expect(await to.mountBlob(unknown, "repo/from", openUnknown)).toBe(false);
    expect(await to.hasBlob(known)).toBe(true);
    expect(await to.hasBlob(unknown)).toBe(true);
  });

  it("keeps referrers under the fallback tag, filtered by artifact type", async () => {
    const repo = peer.client.repository(peer.reg.host, "repo/referrers", { push: true });
    const subject = await pushImage(repo, "app");
    expect(await repo.referrers(subject.desc.digest)).toEqual([]);
    const sig = await pushImage(repo, "sig", { artifactType: "application/x.sig", subject: subject.desc });
    const sbom = await pushImage(repo, "sbom", { artifactType: "application/x.sbom", subject: subject.desc });
    const all = await repo.referrers(subject.desc.digest);
    expect(all.map((d) => d.digest).sort()).toEqual([sig.desc.digest, sbom.desc.digest].sort());
    expect(await repo.referrers(subject.desc.digest, { artifactType: "application/x.sig" })).toEqual([
      { ...sig.desc, artifactType: "application/x.sig" },
    ]);
    expect(await repo.tags()).toContain(referrersTag(subject.desc.digest));
  });
});
