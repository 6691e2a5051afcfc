/**
 * The default builder's setting and definition digest (src/cnb/stack/default-builder.ts). Making the stack and
 * builder on first use (debootstrap, minutes) is driven by test/cnb/default-builder/.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_BUILDER,
  defaultBuilderName,
  definitionDigest,
  ensureDefaultBuilder,
  setDefaultBuilder,
} from "../../../src/cnb/stack/default-builder.ts";
import { tempDir } from "../../helpers/temp.ts";
import { memoryLogger } from "../helpers.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-default-builder-");
});

describe("the default builder setting", () => {
  it("unset is berth's own; set, it is read back; unset again goes back", async () => {
    expect(await defaultBuilderName(dir)).toEqual({ name: DEFAULT_BUILDER, configured: false });
    await setDefaultBuilder(dir, "my/builder:1");
    expect(await readFile(join(dir, "default-builder"), "utf8")).toBe("my/builder:1\n");
    expect(await defaultBuilderName(dir)).toEqual({ name: "my/builder:1", configured: true });
    await setDefaultBuilder(dir, undefined);
    expect(await defaultBuilderName(dir)).toEqual({ name: DEFAULT_BUILDER, configured: false });
  });

  it("a name that is no image reference is refused, and the setting is left as it was", async () => {
    await setDefaultBuilder(dir, "my/builder:1");
    await expect(setDefaultBuilder(dir, "Not A Reference")).rejects.toMatchObject({
      message: expect.stringContaining("Not A Reference"),
    });
    expect((await defaultBuilderName(dir)).name).toBe("my/builder:1");
  });

  it("ensureDefaultBuilder returns a configured other builder as it is, making nothing", async () => {
    await setDefaultBuilder(dir, "my/builder:1");
    expect(
      await ensureDefaultBuilder({
        ctx: { home: dir, env: {} },
        builderToml: join(dir, "does-not-exist", "builder.toml"),
        isRoot: false,
        logger: memoryLogger(),
      }),
    ).toEqual({ name: "my/builder:1", createdStack: false, createdBuilder: false });
  });

  it("berth's own builder from a definition that cannot be read: the sentence names the file", async () => {
    const toml = join(dir, "nope", "builder.toml");
    await expect(
      ensureDefaultBuilder({
        ctx: { home: dir, env: {} },
        builderToml: toml,
        isRoot: false,
        logger: memoryLogger(),
      }),
    ).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: `the default builder's definition ${toml} cannot be read`,
    });
  });
});

describe("definitionDigest", () => {
  it("changes with a file's bytes, a new file and the executable bit; not with mtimes", async () => {
    const def = join(dir, "def");
    await mkdir(join(def, "bp", "bin"), { recursive: true });
    await writeFile(join(def, "builder.toml"), "x");
    await writeFile(join(def, "bp", "bin", "build"), "#!/bin/sh\n");
    const toml = join(def, "builder.toml");
    const first = await definitionDigest(toml);
    expect(first).toMatch(/^sha256:[0-9a-f]{64}$/);
    await writeFile(join(def, "bp", "bin", "build"), "#!/bin/sh\n");
    expect(await definitionDigest(toml)).toBe(first);
    const seen = new Set([first]);
    const changed = async () => {
      const d = await definitionDigest(toml);
      expect(seen.has(d)).toBe(false);
      seen.add(d);
    };
    await chmod(join(def, "bp", "bin", "build"), 0o755);
    await changed();
    await writeFile(join(def, "bp", "bin", "build"), "#!/bin/sh\nexit 1\n");
    await changed();
    await writeFile(join(def, "bp", "bin", "detect"), "");
    await changed();
  });
});
