/**
 * The corpus: each Dockerfile built by berth and by buildah 1.28 (`buildah bud`, vfs, chroot isolation) from
 * the same base image in a local docker-registry, compared by final filesystem and config.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { pushBase } from "./helpers/base.ts";
import { buildBoth } from "./helpers/compare.ts";
import { CORPUS, writeCase } from "./helpers/corpus.ts";

let registry: RegistryHarness;
let base: string;
let tmp: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-corpus-");
  registry = await startRegistry();
  base = await pushBase(join(tmp, "base-home"), join(tmp, "base-rootfs"), registry.host);
});

afterAll(async () => {
  await registry?.stop();
});

describe("berth build vs buildah bud on the corpus", () => {
  for (const [i, c] of CORPUS.entries()) {
    it(c.name, async () => {
      const work = join(tmp, `case-${i}`);
      const ctx = join(work, "ctx");
      await writeCase(ctx, c, base);
      const r = await buildBoth({
        work,
        context: ctx,
        home: join(work, "home"),
        buildArgs: c.buildArgs,
      });
      expect(r.berth.config).toEqual(r.buildah.config);
      expect(r.berth.tree).toEqual(r.buildah.tree);
    });
  }
});
