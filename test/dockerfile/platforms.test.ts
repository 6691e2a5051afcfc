/**
 * A Dockerfile built for several platforms into one image index (src/dockerfile/platforms.ts), FROM scratch so
 * that nothing runs under emulation; RUN under qemu, registries and the store: multiplatform.test.ts.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildPlatforms } from "../../src/dockerfile/platforms.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64"].map((p) => parsePlatform(p));
const TEXT = "FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\nCOPY a.txt /\n";

describe("buildPlatforms", () => {
  it("writes an index of one image per platform, each with its TARGET* args", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.txt"), "a");
    const out = join(dir, "out");
    const r = await buildPlatforms(
      {
        contextDir: dir,
        dockerfile: { text: TEXT },
        destinations: [parseImageArgument(`oci:${out}:multi`)],
        compression: "none",
      },
      PLATFORMS,
      { home: join(dir, "home"), env: {} },
    );
    expect(r.platforms.map((p) => `${p.platform.os}/${p.platform.architecture}`)).toEqual([
      "linux/amd64",
      "linux/arm64",
    ]);
    const layoutIndex = JSON.parse(await readFile(join(out, "index.json"), "utf8"));
    expect(layoutIndex.manifests.map((m: { digest: string }) => m.digest)).toEqual([r.digest]);
    const hex = (d: string) => d.slice("sha256:".length);
    const index = JSON.parse(await readFile(join(out, "blobs/sha256", hex(r.digest)), "utf8"));
    expect(index.manifests.map((m: { digest: string; platform: unknown }) => [m.digest, m.platform])).toEqual(
      [
        [r.platforms[0]!.result.digest, { architecture: "amd64", os: "linux" }],
        [r.platforms[1]!.result.digest, { architecture: "arm64", os: "linux" }],
      ],
    );
    const labels = [];
    for (const p of r.platforms) {
      const config = JSON.parse(
        await readFile(join(out, "blobs/sha256", hex(p.result.configDigest)), "utf8"),
      );
      labels.push([config.architecture, config.config.Labels.arch]);
    }
    expect(labels).toEqual([
      ["amd64", "amd64"],
      ["arm64", "arm64"],
    ]);
  });

  it("refuses a docker-archive destination before building anything", async () => {
    const dir = await tempDir();
    const f = await failureOf(
      buildPlatforms(
        {
          contextDir: dir,
          dockerfile: { text: TEXT },
          destinations: [parseImageArgument(`docker-archive:${join(dir, "x.tar")}`)],
        },
        PLATFORMS,
        { home: join(dir, "home"), env: {} },
      ),
    );
    expect(f.code).toBe("USAGE");
    expect(f.message).toBe(
      `docker-archive:${join(dir, "x.tar")}: a docker-archive holds single-platform images, not the image index --platform linux/amd64,linux/arm64 builds`,
    );
  });
});
