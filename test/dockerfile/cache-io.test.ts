/** --cache-from read, --cache-to written, the inline cache (src/dockerfile/cache-io.ts). */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { StepCache } from "../../src/dockerfile/cache.ts";
import { INLINE_CACHE_FIELD } from "../../src/dockerfile/cache-format.ts";
import { exportCaches, ImportedCaches, withInlineCache } from "../../src/dockerfile/cache-io.ts";
import { parseCacheFrom, parseCacheTo } from "../../src/dockerfile/cache-spec.ts";
import { mutate } from "../../src/oci/mutate.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";

const PLATFORM = { os: "linux", architecture: "amd64" };
const step = (n: number, layer?: string) => ({
  lookup: `sha256:${String(n).repeat(64)}`,
  key: `sha256:${String(n).repeat(64)}`,
  parent: `sha256:${String(n - 1).repeat(64)}`,
  record: {
    config: { Env: [`N=${n}`] },
    created: "1970-01-01T00:00:00Z",
    ...(layer ? { layer: { digest: layer, diffId: layer, size: 1, mediaType: "x" } } : {}),
  },
});

describe("ImportedCaches", () => {
  it("a cache that cannot be read is a warning, and the build goes on without it", async () => {
    const dir = await tempDir();
    const imports = new ImportedCaches(new StepCache(join(dir, "home")));
    const lines: string[] = [];
    const from = parseCacheFrom(`type=local,src=${join(dir, "none")}`);
    await imports.load([from], { home: join(dir, "home"), env: {} }, PLATFORM, (l) => lines.push(l));
    expect(lines).toEqual([
      expect.stringMatching(
        /^WARN: --cache-from type=local,src=.*: cannot import the cache \(.*\); building without it$/,
      ),
    ]);
    expect(imports.any).toBe(false);
    expect(imports.peek(step(1).lookup)).toBeUndefined();
    expect(await imports.take(step(1).lookup)).toBeUndefined();
    await imports.close();
  });
});

describe("withInlineCache", () => {
  it("puts the chain's steps whose layers the image has in its config", () => {
    const image = mutate(undefined, { platform: PLATFORM });
    const other = `sha256:${"f".repeat(64)}`;
    const { image: out, steps } = withInlineCache(image, [step(1), step(2, other), step(3)], PLATFORM);
    expect(steps).toBe(2);
    const config = JSON.parse(out.rawConfig!.toString("utf8"));
    expect(typeof config[INLINE_CACHE_FIELD]).toBe("string");
    expect(out.digest).not.toBe(image.digest);
  });
});

describe("exportCaches", () => {
  it("a failure fails the build naming the flag, or is a warning with ignore-error=true; inline is not exported here", async () => {
    const dir = await tempDir();
    const file = join(dir, "file");
    await writeFile(file, "not a folder");
    const ctx = { home: join(dir, "home"), env: {} };
    const cache = new StepCache(ctx.home);
    const steps = { max: [], min: [] };
    const to = parseCacheTo(`type=local,dest=${join(file, "cache")}`);
    const err = await failureOf(exportCaches([to], steps, cache, ctx, dir, undefined));
    expect(err.message).toMatch(
      new RegExp(`^exporting the cache to ${file}/cache \\(--cache-to ${to.text}\\)`),
    );
    const lines: string[] = [];
    const ignored = parseCacheTo(`type=local,dest=${join(file, "cache")},ignore-error=true`);
    const inline = parseCacheTo("type=inline");
    await exportCaches([ignored, inline], steps, cache, ctx, dir, (l) => lines.push(l));
    expect(lines).toEqual([
      expect.stringMatching(/^WARN: --cache-to .*: cannot export the cache \(.*\); ignore-error=true$/),
    ]);
  });
});
