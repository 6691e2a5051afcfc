/**
 * berth's registry cache against BuildKit's (issue 20), with the engine's BuildKit (Debian's docker.io; docker 20.10
 * without buildx can read caches with `--cache-from` and write only the inline one, BUILDKIT_INLINE_CACHE=1) and a
 * real registry. What interoperates is the format, not the keys: each side parses the other's cache manifests
 * and inline caches, but BuildKit keys its records by LLB digests and berth by its own step keys
 * (src/dockerfile/cache.ts), so neither finds a step of the other's to reuse. These tests pin that: a cache in
 * the other's format is read without failing the build, and the build runs its steps. And mode=min means the same
 * to both: from an inline cache, each skips a builder stage whose result the final stage copies (the key of that
 * COPY comes from the builder's definition, computed without building it).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { writeContext } from "../helpers/local.ts";
import { type Engine, dockerBuild as engineBuild, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;
let registry: RegistryHarness;

beforeAll(async () => {
  tmp = await tempDir("berth-df-cache-interop-");
  engine = await startEngine(join(tmp, "engine"), { frontend: false });
  registry = await startRegistry();
}, 600_000);
afterAll(async () => {
  await engine?.engine.stop();
  await registry?.stop();
});

const dockerfile = (base: string, token: string) => `FROM ${base}
COPY a.txt /a.txt
RUN echo "RAN-${token}" && cat /a.txt > /b.txt
CMD ["cat", "/b.txt"]
`;

async function context(name: string, token: string) {
  return writeContext(join(tmp, name), {
    "a.txt": `${token}\n`,
    "berth.Dockerfile": dockerfile(engine.base, token),
    "docker.Dockerfile": dockerfile(engine.buildkitBase, token),
  });
}

const dockerBuild = (ctx: string, args: string[]) => engineBuild(engine.engine, ctx, args);

async function berthBuild(ctx: string, home: string, args: string[]) {
  const r = await berth(["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), ...args], {
    home: join(tmp, "homes", home),
  });
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stderr;
}

describe("BuildKit and berth caches", () => {
  it("BuildKit's inline cache: BuildKit reuses it on a pruned engine; berth reads it and names why it reuses nothing", async () => {
    const ctx = await context("bk-inline", "tok-bk");
    const ref = `${registry.host}/bk/app:inline`;
    await dockerBuild(ctx, ["--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", ref]);
    await engine.engine.docker(["push", ref]);
    // BuildKit's own round trip on this engine, its local cache gone: the registry's inline cache is used.
    await engine.engine.docker(["image", "rm", "-f", ref]);
    await engine.engine.docker(["builder", "prune", "-af"]);
    const again = await dockerBuild(ctx, ["--cache-from", ref, "-t", "bk-again"]);
    expect(again).not.toMatch(/^#\d+ [\d.]+ RAN-tok-bk/m);
    expect(again).toMatch(/CACHED/);

    const out = await berthBuild(ctx, "bk-inline", ["-t", `oci:${tmp}/out:bk`, "--cache-from", ref]);
    expect(out).toMatch(
      /WARN: --cache-from .*inline cache has no step berth wrote \(its \d+ records are BuildKit's, keyed by LLB digests berth does not compute\); nothing to reuse/,
    );
    expect(out).toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-tok-bk/m);
  });

  it("mode=min on both sides: from an inline cache, neither runs the builder stage again", async () => {
    const files = (base: string) => `FROM ${base} AS builder
COPY a.txt /a.txt
RUN echo "RAN-BUILDER-$(cat /a.txt)" && cp /a.txt /built
FROM ${base}
COPY --from=builder /built /built
RUN echo "RAN-FINAL-$(cat /built)" && cp /built /final
`;
    const ctx = await writeContext(join(tmp, "min"), {
      "a.txt": "tok-min\n",
      "berth.Dockerfile": files(engine.base),
      "docker.Dockerfile": files(engine.buildkitBase),
    });
    const bk = `${registry.host}/min/bk:1`;
    await dockerBuild(ctx, ["--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", bk]);
    await engine.engine.docker(["push", bk]);
    await engine.engine.docker(["image", "rm", "-f", bk]);
    await engine.engine.docker(["builder", "prune", "-af"]);
    const bkOut = await dockerBuild(ctx, ["--cache-from", bk, "-t", "min-again"]);
    expect(bkOut).not.toMatch(/^#\d+ [\d.]+ RAN-BUILDER/m);
    expect(bkOut).not.toMatch(/^#\d+ [\d.]+ RAN-FINAL/m);

    const image = `${registry.host}/min/berth:1`;
    await berthBuild(ctx, "min-a", ["-t", image, "--publish", "--cache-to", "type=inline"]);
    const out = await berthBuild(ctx, "min-b", ["-t", `oci:${tmp}/out:min`, "--cache-from", image]);
    expect(out).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-BUILDER/m);
    expect(out).not.toMatch(/^(?:\[stage \d+\/\d+\] )?RAN-FINAL/m);
  });

  it("berth's inline cache and registry cache manifest: BuildKit imports both without failing, and runs its steps", async () => {
    const ctx = await context("berth-caches", "tok-berth");
    const image = `${registry.host}/berth/app:1`;
    const cache = `${registry.host}/berth/app:cache`;
    await berthBuild(ctx, "berth", [
      "-t",
      image,
      "--publish",
      "--cache-to",
      "type=inline",
      "--cache-to",
      `type=registry,ref=${cache},mode=max`,
    ]);
    for (const from of [image, cache]) {
      await engine.engine.docker(["builder", "prune", "-af"]);
      const out = await dockerBuild(ctx, ["--cache-from", from, "-t", "from-berth"]);
      expect(out).toContain(`importing cache manifest from ${from}`);
      expect(out).toMatch(/^#\d+ [\d.]+ RAN-tok-berth/m);
    }
  });
});
