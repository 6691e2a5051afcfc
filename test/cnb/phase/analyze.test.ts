/**
 * The analyze phase (src/cnb/phase/analyze.ts) on OCI layouts made by hand: which run image is chosen (a mirror
 * on the target's registry first), images pinned to their digest, the previous image's lifecycle metadata, and
 * the error sentences when the run image is missing or unnamed.
 */
import { execFileSync } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveImage } from "../../../src/cnb/image.ts";
import { Analyzer, chooseRunImage } from "../../../src/cnb/phase/analyze.ts";
import type { TransportContext } from "../../../src/transport/context.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { type Desc, putBlob, writeIndex } from "../../helpers/layout.ts";
import { tempDir } from "../../helpers/temp.ts";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** A layout holding one image per tag: no layers, the given labels. */
async function layout(
  dir: string,
  images: Record<string, Record<string, string>>,
): Promise<Record<string, string>> {
  const manifests: Desc[] = [];
  const digests: Record<string, string> = {};
  for (const [tag, labels] of Object.entries(images)) {
    const config = await putBlob(
      dir,
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: { Labels: labels },
        rootfs: { type: "layers", diff_ids: [] },
      }),
      "application/vnd.oci.image.config.v1+json",
    );
    const manifest = await putBlob(
      dir,
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] }),
      OCI_MANIFEST,
    );
    manifests.push({ ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } });
    digests[tag] = manifest.digest;
  }
  await writeIndex(dir, manifests);
  return digests;
}

let dir: string;
let ctx: TransportContext;
let digests: Record<string, string>;
beforeAll(async () => {
  dir = await tempDir("berth-cnb-analyze-");
  ctx = { home: join(dir, "home"), env: {} };
  digests = await layout(join(dir, "images"), {
    run: { "io.buildpacks.base.distro.name": "debian", "io.buildpacks.base.distro.version": "12" },
    app: { "io.buildpacks.lifecycle.metadata": JSON.stringify({ app: [{ sha: "sha256:abc" }] }) },
    bad: { "io.buildpacks.lifecycle.metadata": "{not json" },
  });
});

describe("chooseRunImage", () => {
  const target = (t: string) => parseImageArgument(t);
  const runImages = [{ image: "reg.one:5000/run:1", mirrors: ["reg.two:5000/run:1", "not a reference!"] }];

  it("--run-image wins; else the mirror on the target's registry; else the builder's first run image", () => {
    expect(chooseRunImage(target("docker://reg.two:5000/app"), "my/run", runImages)).toEqual({
      name: "my/run",
      configured: "my/run",
      mirrors: [],
    });
    expect(chooseRunImage(target("docker://reg.two:5000/app"), undefined, runImages)).toEqual({
      name: "reg.two:5000/run:1",
      configured: "reg.one:5000/run:1",
      mirrors: ["reg.two:5000/run:1", "not a reference!"],
    });
    expect(chooseRunImage(target("oci:/x/layout:app"), undefined, runImages).name).toBe("reg.one:5000/run:1");
    expect(chooseRunImage(target("docker://reg.three:5000/app"), undefined, runImages).name).toBe(
      "reg.one:5000/run:1",
    );
  });

  it("no run image anywhere: the sentence says which step failed, the hint what to give", () => {
    expect(() => chooseRunImage(target("app"), undefined, [])).toThrow(
      expect.objectContaining({
        code: "CNB_ANALYZE_FAILED",
        message: "identifying run image: the builder names no run image",
        hint: "give one with --run-image",
      }),
    );
  });
});

describe("resolveImage", () => {
  it("an OCI layout image, pinned to its digest; a missing tag gives undefined", async () => {
    const r = await resolveImage(`oci:${join(dir, "images")}:run`, ctx);
    try {
      expect(r?.image.digest).toBe(digests.run);
      expect(r?.pinned).toBe(`oci:${join(dir, "images")}@${digests.run}`);
    } finally {
      await r?.close();
    }
    expect(await resolveImage(`oci:${join(dir, "images")}:nope`, ctx)).toBeUndefined();
  });
});

describe("Analyzer", () => {
  it("the run image, its target data, and the previous image's lifecycle metadata", async () => {
    const a = await new Analyzer({
      target: parseImageArgument(`oci:${join(dir, "images")}:app`),
      runImage: `oci:${join(dir, "images")}:run`,
      publish: false,
      ctx,
    }).analyze();
    try {
      expect(a.runImage.reference).toBe(`oci:${join(dir, "images")}@${digests.run}`);
      expect(a.target).toEqual({ os: "linux", arch: "amd64", distro: { name: "debian", version: "12" } });
      expect(a.previous?.metadata).toEqual({ app: [{ sha: "sha256:abc" }] });
      expect(a.previous?.image.digest).toBe(digests.app);
    } finally {
      await a.close();
    }
  });

  it("no previous image is logged, not an error", async () => {
    const lines: string[] = [];
    const a = await new Analyzer({
      target: parseImageArgument(`oci:${join(dir, "images")}:new`),
      runImage: `oci:${join(dir, "images")}:run`,
      publish: false,
      ctx,
      log: (l) => lines.push(l),
    }).analyze();
    await a.close();
    expect(a.previous).toBeUndefined();
    expect(lines).toEqual([`Previous image with name "oci:${join(dir, "images")}:new" not found`]);
  });

  it("a missing run image, and a previous image with a bad label, are named", async () => {
    const analyze = (target: string, runImage: string) =>
      new Analyzer({ target: parseImageArgument(target), runImage, publish: false, ctx }).analyze();
    await expect(
      analyze(`oci:${join(dir, "images")}:app`, `oci:${join(dir, "images")}:gone`),
    ).rejects.toMatchObject({
      code: "CNB_ANALYZE_FAILED",
      message: `identifying run image: oci:${join(dir, "images")}:gone was not found`,
    });
    await expect(
      analyze(`oci:${join(dir, "images")}:bad`, `oci:${join(dir, "images")}:run`),
    ).rejects.toMatchObject({
      message: expect.stringMatching(
        `^oci:${join(dir, "images")}:bad: label io.buildpacks.lifecycle.metadata is not valid JSON: `,
      ),
    });
  });

  it("a previous image with a bad label: the run and previous images opened are closed", async () => {
    // a gzipped oci-archive is opened by decompressing it into BERTH_HOME/tmp; closing it removes that copy
    const archive = join(dir, "images.tar.gz");
    execFileSync("tar", ["-czf", archive, "-C", join(dir, "images"), "."]);
    const home = await tempDir();
    const analyze = new Analyzer({
      target: parseImageArgument(`oci-archive:${archive}:bad`),
      runImage: `oci-archive:${archive}:run`,
      publish: false,
      ctx: { home, env: {} },
    }).analyze();
    await expect(analyze).rejects.toMatchObject({ message: expect.stringContaining("is not valid JSON") });
    expect(await readdir(join(home, "tmp"))).toEqual([]);
  });
});
