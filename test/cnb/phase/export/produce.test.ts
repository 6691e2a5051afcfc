/**
 * One tar pass per exported layer (src/cnb/phase/export/produce.ts): the diffID alone, the tar, the gzip blob,
 * or both, and that they agree: the tar's sha256 is the diffID, the blob gunzips to the tar, and the lifecycle's
 * absolute names change the diffID.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { produceLayer } from "../../../../src/cnb/phase/export/produce.ts";
import { planLayer } from "../../../../src/layer/index.ts";
import { tempDir } from "../../../helpers/temp.ts";

let dir: string;
const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const entries = () =>
  planLayer([{ source: join(dir, "src"), dest: "/layers/acme_node/runtime" }], {
    mtime: 315532801,
    uid: 0,
    gid: 0,
  });

beforeAll(async () => {
  dir = await tempDir("berth-cnb-produce-");
  await mkdir(join(dir, "src", "bin"), { recursive: true });
  await writeFile(join(dir, "src", "bin", "node"), "#!/bin/sh\n".repeat(100));
});

describe("produceLayer", () => {
  it("tar and blob in one pass agree with each other and with the diffID", async () => {
    const out = join(dir, "both");
    await mkdir(out);
    const p = await produceLayer(await entries(), { tar: true, blob: true, dir: out });
    const tar = await readFile(p.tarPath!);
    const blob = await readFile(p.blob!.path);
    expect(sha(tar)).toBe(p.diffId);
    expect(p.uncompressedSize).toBe(tar.length);
    expect(gunzipSync(blob).equals(tar)).toBe(true);
    expect(p.blob).toMatchObject({
      digest: sha(blob),
      size: blob.length,
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    });
  });

  it("the diffID alone writes nothing, and is the same diffID", async () => {
    const out = join(dir, "none");
    await mkdir(out);
    const both = await produceLayer(await entries(), { tar: true, blob: false, dir: join(dir, "both") });
    const p = await produceLayer(await entries(), { tar: false, blob: false, dir: out });
    expect(p).toEqual({ diffId: both.diffId, uncompressedSize: both.uncompressedSize });
    expect(await readdir(out)).toEqual([]);
  });

  it("the lifecycle's absolute names give another tar, named /layers/… (the first is /layers itself)", async () => {
    const rel = await produceLayer(await entries(), { tar: true, blob: false, dir: join(dir, "both") });
    const abs = await produceLayer(await entries(), {
      tar: true,
      blob: false,
      dir: join(dir, "both"),
      names: "absolute",
    });
    expect(abs.diffId).not.toBe(rel.diffId);
    // The first entry is the /layers directory itself, named without a trailing slash.
    expect((await readFile(abs.tarPath!)).subarray(0, 8).toString("latin1")).toBe("/layers\0");
  });
});
