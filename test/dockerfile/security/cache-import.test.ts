/**
 * Attacks through an imported cache (issue 20, `--cache-from`): a cache is content from elsewhere, so its records
 * are checked before anything of theirs is used. A record whose layer digest is a path (`sha256:../…`) is refused
 * with the whole cache (nothing is written outside the cache's blob folder); a record whose diff ID lies about its
 * layer is refused when the layer is fetched (layers are fetched when needed, as BuildKit's lazy refs), and the
 * build fails naming it, no image written (an image whose config's diff IDs do not match its layers would be a
 * corrupt image, and would let a cache smuggle a layer under another identity).
 */
import { createHash } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { localBase, writeContext } from "../helpers/local.ts";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-cache-attack-");
  base = await localBase(join(tmp, "base"));
});

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
}

/** Rewrite the cache config of the local cache at `dir` (an OCI layout written by --cache-to type=local). */
async function tamper(
  dir: string,
  edit: (config: { records: Record<string, unknown>[] }) => void,
): Promise<void> {
  const blob = (d: string) => join(dir, "blobs", "sha256", d.slice("sha256:".length));
  const layout = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: Desc[] };
  const rootDesc = layout.manifests[0]!;
  const index = JSON.parse(await readFile(blob(rootDesc.digest), "utf8")) as { manifests: Desc[] };
  const cfgDesc = index.manifests.find((m) => m.mediaType === "application/vnd.buildkit.cacheconfig.v0")!;
  const config = JSON.parse(await readFile(blob(cfgDesc.digest), "utf8"));
  edit(config);
  const cfgBytes = Buffer.from(JSON.stringify(config));
  cfgDesc.digest = sha(cfgBytes);
  cfgDesc.size = cfgBytes.length;
  await writeFile(blob(cfgDesc.digest), cfgBytes);
  const indexBytes = Buffer.from(JSON.stringify(index));
  rootDesc.digest = sha(indexBytes);
  rootDesc.size = indexBytes.length;
  await writeFile(blob(rootDesc.digest), indexBytes);
  await writeFile(join(dir, "index.json"), JSON.stringify(layout));
}

async function cacheOf(name: string): Promise<{ ctx: string; cache: string }> {
  const ctx = await writeContext(join(tmp, name), {
    Dockerfile: `FROM ${base}\nRUN echo "RAN-${name}" && echo hi > /hi\n`,
  });
  const cache = join(tmp, `${name}-cache`);
  const r = await berth(
    [
      "build",
      ctx,
      "--dockerfile",
      "-t",
      `oci:${tmp}/out:${name}`,
      "--cache-to",
      `type=local,dest=${cache},mode=max`,
    ],
    { home: join(tmp, `${name}-home-a`) },
  );
  expect(r.code, r.stderr).toBe(0);
  return { ctx, cache };
}

type Step = { layer?: { digest: string; diffId: string } };
const stepsOf = (config: { records: Record<string, unknown>[] }) =>
  config.records.map((r) => r["io.berth.step.v1"] as Step | undefined).filter((s): s is Step => !!s?.layer);

describe("a tampered --cache-from", () => {
  it("a layer digest that is a path is refused with the whole cache; the step runs", async () => {
    const { ctx, cache } = await cacheOf("traversal");
    await tamper(cache, (config) => {
      for (const s of stepsOf(config)) s.layer!.digest = "sha256:../../../../../../tmp/berth-cache-escape";
    });
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${tmp}/out:traversal-b`,
        "--cache-from",
        `type=local,src=${cache}`,
      ],
      { home: join(tmp, "traversal-home-b") },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/WARN: --cache-from .*is not a valid digest/);
    expect(r.stderr).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-traversal/m);
  });

  it("a diff ID that lies about its layer is refused when the layer is fetched: the build fails, no image is written", async () => {
    const { ctx, cache } = await cacheOf("diffid");
    const fake = `sha256:${"ab".repeat(32)}`;
    await tamper(cache, (config) => {
      for (const s of stepsOf(config)) s.layer!.diffId = fake;
    });
    // a new layout: the layer must be fetched (a destination that already has the blob takes it as it is,
    // its digest verified when it was written there, as BuildKit trusts a cache's diff IDs)
    const r = await berth(
      [
        "build",
        ctx,
        "--dockerfile",
        "-t",
        `oci:${tmp}/out-diffid:b`,
        "--json",
        "--cache-from",
        `type=local,src=${cache}`,
      ],
      { home: join(tmp, "diffid-home-b") },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /--cache-from .*cannot fetch the cached layer sha256:\w+ .*not the diff ID sha256:abab/,
    );
    const index = await readFile(join(tmp, "out-diffid", "index.json"), "utf8").catch(() => "{}");
    expect(index).not.toContain('"b"');
    for (const name of await readdir(join(tmp, "out-diffid", "blobs", "sha256")).catch(() => [])) {
      expect(await readFile(join(tmp, "out-diffid", "blobs", "sha256", name), "utf8")).not.toContain(fake);
    }
  });
});
