/**
 * `berth stack create` (src/cnb/stack/create.ts) from trees already in the stack cache (made by the test, so no
 * debootstrap and no root): the build and run images' layers, users, env and labels, the same digests when made
 * again from the cached layers, and clearing the cache. Bootstrapping real trees is test/cnb/default-builder/.
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openImage } from "../../../src/cnb/index.ts";
import { clearStackCache, createStack, stackCacheDir } from "../../../src/cnb/stack/create.ts";
import { parseDistro } from "../../../src/cnb/stack/distro.ts";
import { rootfsKey } from "../../../src/cnb/stack/rootfs.ts";
import type { TransportContext } from "../../../src/transport/context.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
let ctx: TransportContext;
const RUN = ["ca-certificates"];
const BUILD = ["gcc"];

/** A tree where bootstrapRootfs looks for a cached one: os-release, passwd/group and a dpkg status. */
async function cachedTree(packages: string[]): Promise<void> {
  const tree = join(
    stackCacheDir(ctx.home),
    `rootfs-${rootfsKey(parseDistro("debian:bookworm"), packages, undefined)}`,
  );
  await mkdir(join(tree, "etc"), { recursive: true });
  await mkdir(join(tree, "var/lib/dpkg"), { recursive: true });
  await writeFile(join(tree, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\n');
  await writeFile(join(tree, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  await writeFile(join(tree, "etc/group"), "root:x:0:\n");
  await writeFile(
    join(tree, "var/lib/dpkg/status"),
    packages.map((p) => `Package: ${p}\nStatus: install ok installed\nVersion: 1.0\n`).join("\n"),
  );
}

const create = (onProgress?: (line: string) => void) =>
  createStack({
    buildImage: parseImageArgument(`oci:${join(dir, "out")}:build`),
    runImage: parseImageArgument(`oci:${join(dir, "out")}:run`),
    runPackages: RUN,
    packages: BUILD,
    ctx,
    isRoot: false,
    sourceDateEpoch: 1_700_000_000,
    ...(onProgress ? { onProgress } : {}),
  });

beforeAll(async () => {
  dir = await tempDir("berth-cnb-stack-create-");
  ctx = { home: join(dir, "home"), env: {} };
  await cachedTree(RUN);
  await cachedTree([...RUN, ...BUILD]);
});

describe("createStack from cached trees", () => {
  it("build and run images: a tree layer and a user layer each, the CNB users, env and base labels", async () => {
    const r = await create();
    expect(r.id).toBe("io.berth.stacks.debian-bookworm");
    expect([r.run.cached, r.run.packages, r.build.packages]).toEqual([true, 1, 2]);
    const build = await openImage(`oci:${join(dir, "out")}:build`, ctx);
    const run = await openImage(`oci:${join(dir, "out")}:run`, ctx);
    try {
      expect(build.image.digest).toBe(r.build.digest);
      const b = build.image.config!;
      expect(b.config?.User).toBe("1000:1000");
      expect(b.config?.Env).toEqual([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "CNB_USER_ID=1000",
        "CNB_GROUP_ID=1000",
        "CNB_STACK_ID=io.berth.stacks.debian-bookworm",
        "HOME=/home/cnb",
      ]);
      expect(b.created).toBe("2023-11-14T22:13:20Z");
      expect(b.config?.Labels).toMatchObject({
        "io.buildpacks.base.distro.name": "debian",
        "io.buildpacks.base.distro.version": "12",
        "io.buildpacks.stack.id": "io.berth.stacks.debian-bookworm",
      });
      expect(b.config?.Labels?.["io.buildpacks.rebasable"]).toBeUndefined();
      expect(b.history?.map((h) => h.created_by)).toEqual([
        "debootstrap --variant=minbase bookworm (2 packages)",
        "berth stack create: CNB user cnb 1000:1000",
      ]);
      const rc = run.image.config!;
      expect(rc.config?.User).toBe("1001:1000");
      expect(rc.config?.Env).toEqual([
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/home/cnb",
      ]);
      expect(rc.config?.Labels?.["io.buildpacks.rebasable"]).toBe("true");
      expect(run.image.layers()).toHaveLength(2);
    } finally {
      await build.close();
      await run.close();
    }
  });

  it("made again: the layers come from the cache and the digests are the same", async () => {
    const first = await create();
    const layers = await readdir(join(stackCacheDir(ctx.home), "layers"));
    const lines: string[] = [];
    const again = await create((l) => lines.push(l));
    expect(lines.filter((l) => l.startsWith("making the layer"))).toEqual([]);
    expect(lines).toContain("run image: reusing the cached bookworm tree (1 packages)");
    expect([again.build.digest, again.run.digest]).toEqual([first.build.digest, first.run.digest]);
    expect(await readdir(join(stackCacheDir(ctx.home), "layers"))).toEqual(layers);
  });

  it("clearStackCache removes the trees and layers", async () => {
    await clearStackCache(ctx.home);
    expect(await readdir(join(ctx.home, "cache")).catch(() => [])).toEqual([]);
  });
});
