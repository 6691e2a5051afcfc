/** Pulls builds and runs make on their own, by pack's or docker's pull policy (src/api/pull.ts). */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hostOf } from "../../src/api/host.ts";
import { ensureInStore, parsePackPullPolicy, parsePullPolicy } from "../../src/api/pull.ts";
import { loadRoot, selectImage } from "../../src/oci/image.ts";
import { parsePlatform } from "../../src/oci/platform.ts";
import { Store } from "../../src/oci/store.ts";
import { copyImage } from "../../src/transport/copy.ts";
import { openSource } from "../../src/transport/open.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { twoPlatformImage } from "../cnb/helpers.ts";
import { failure, failureOf } from "../dockerfile/helpers/failure.ts";
import { handImages } from "../dockerfile/helpers/image.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

describe("pull policies", () => {
  it("pack's and docker's words, and nothing else", () => {
    expect(["always", "if-not-present", "never"].map(parsePackPullPolicy)).toEqual([
      "always",
      "if-not-present",
      "never",
    ]);
    expect(["missing", "always", "never"].map(parsePullPolicy)).toEqual(["missing", "always", "never"]);
    expect(failure(() => parsePackPullPolicy("missing"))).toEqual({
      code: "USAGE",
      message: '--pull-policy must be always, if-not-present or never, not "missing"',
    });
    expect(failure(() => parsePullPolicy("if-not-present"))).toEqual({
      code: "USAGE",
      message: '--pull must be missing, always or never, not "if-not-present"',
    });
  });
});

describe("ensureInStore and pullIntoStore (registry on 127.0.0.1)", () => {
  let registry: RegistryHarness;
  let ref: string;
  let digest: string;
  beforeAll(async () => {
    registry = await startRegistry();
    const dir = await tempDir();
    const [image] = await handImages(join(dir, "layout"), [[{ path: "hello", content: "hi" }]]);
    digest = image!.digest;
    ref = `${registry.host}/pull/hello:1`;
    await copyImage(
      parseImageArgument(`oci:${join(dir, "layout")}:1`),
      parseImageArgument(`docker://${ref}`),
      {
        home: join(dir, "home"),
        env: {},
      },
    );
  });
  afterAll(() => registry?.stop());

  const hostIn = async () => {
    const lines: string[] = [];
    const host = hostOf({ home: await tempDir(), logger: { info: (l) => lines.push(l) } });
    const stored = async () => (await (await Store.open(host.ctx.home)).resolve(ref)).digest;
    return { host, lines, stored };
  };

  it("never: refuses a missing image, naming the policy and the way out", async () => {
    const { host } = await hostIn();
    expect(await failureOf(ensureInStore(host, ref, "never", "run image"))).toEqual({
      code: "IMAGE_NOT_FOUND",
      message: `no run image ${ref} in the local store (--pull-policy never)`,
      hint: `pull it first (berth pull ${ref}), or give --pull-policy if-not-present`,
    });
  });

  it("if-not-present pulls once; always pulls each time", async () => {
    const { host, lines, stored } = await hostIn();
    await ensureInStore(host, ref, "if-not-present", "builder");
    expect(await stored()).toBe(digest);
    await registry.markLog();
    await ensureInStore(host, ref, "if-not-present", "builder");
    await ensureInStore(host, ref, "never", "builder");
    expect(await registry.requests()).toEqual([]);
    await ensureInStore(host, ref, "always", "builder");
    expect((await registry.requests()).map((r) => r.method)).toContain("GET");
    expect(lines).toEqual([
      `No builder ${ref} in the local store, pulling it`,
      `Pulling builder ${ref} (--pull-policy always)`,
    ]);
  });

  it("leaves images of other transports alone", async () => {
    const { host, lines } = await hostIn();
    await ensureInStore(host, `oci:${join(host.ctx.home, "none")}:1`, "always", "builder");
    expect(lines).toEqual([]);
  });
});

describe("ensureInStore for a platform (berth build --platform)", () => {
  let registry: RegistryHarness;
  let ref: string;
  beforeAll(async () => {
    registry = await startRegistry();
    const dir = await tempDir();
    const home = join(dir, "home");
    ref = `${registry.host}/pull/two:1`;
    await copyImage(
      parseImageArgument(await twoPlatformImage(dir, home)),
      parseImageArgument(`docker://${ref}`),
      {
        home,
        env: {},
      },
      { all: true },
    );
  });
  afterAll(() => registry?.stop());

  it("a stored image without the platform is missing: pulled again for it (if-not-present), refused (never)", async () => {
    const lines: string[] = [];
    const host = hostOf({ home: await tempDir(), logger: { info: (l) => lines.push(l) } });
    const platformOfStored = async () => {
      const opened = await openSource(parseImageArgument(ref), host.ctx);
      try {
        return (await selectImage(await loadRoot(opened.source, opened.root))).platform();
      } finally {
        await opened.close();
      }
    };
    const amd64 = parsePlatform("linux/amd64");
    const arm64 = parsePlatform("linux/arm64");
    await ensureInStore(host, ref, "if-not-present", "builder", amd64);
    expect(await platformOfStored()).toMatchObject(amd64);
    await ensureInStore(host, ref, "never", "builder", amd64);
    expect(await failureOf(ensureInStore(host, ref, "never", "builder", arm64))).toEqual({
      code: "IMAGE_NOT_FOUND",
      message: `no builder ${ref} for linux/arm64 in the local store (--pull-policy never)`,
      hint: `pull it first (berth pull --platform linux/arm64 ${ref}), or give --pull-policy if-not-present`,
    });
    await ensureInStore(host, ref, "if-not-present", "builder", arm64);
    expect(await platformOfStored()).toMatchObject(arm64);
    expect(lines).toEqual([
      `No builder ${ref} in the local store, pulling it`,
      `No builder ${ref} for linux/arm64 in the local store, pulling it`,
    ]);
  });
});
