/**
 * The builder berth runs inside (src/cnb/platform/local-builder.ts), read from a `/cnb` tree made by the test
 * under a root folder: buildpacks, order, run.toml or the legacy stack.toml, system.toml, the launcher; the
 * refusals; and no reading through a link out of the root.
 */
import { mkdir, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { openLocalBuilder } from "../../../src/cnb/platform/local-builder.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeBuildpack } from "../helpers.ts";

let root: string;
let cnb: string;
const user = { uid: 1000, gid: 1000 };
beforeEach(async () => {
  root = await tempDir("berth-cnb-local-builder-");
  cnb = join(root, "cnb");
  await mkdir(join(cnb, "buildpacks", "acme_a"), { recursive: true });
  const bp = await writeBuildpack(join(root, "src"), { id: "acme/a", version: "1.0.0" });
  await rename(bp, join(cnb, "buildpacks", "acme_a", "1.0.0"));
  await writeFile(join(cnb, "order.toml"), '[[order]]\n[[order.group]]\nid = "acme/a"\nversion = "1.0.0"\n');
});

describe("openLocalBuilder", () => {
  it("the buildpacks, order and run images of /cnb; no launcher when the builder has no lifecycle", async () => {
    await writeFile(join(cnb, "run.toml"), '[[images]]\nimage = "run:1"\nmirrors = ["m/run:1"]\n');
    const b = await openLocalBuilder({ root, user });
    expect(
      b.store.all().map((x) => `${x.descriptor.buildpack.id}@${x.descriptor.buildpack.version}`),
    ).toEqual(["acme/a@1.0.0"]);
    expect(b.order).toEqual([{ group: [{ id: "acme/a", version: "1.0.0" }] }]);
    expect(b.runImages).toEqual([{ image: "run:1", mirrors: ["m/run:1"] }]);
    expect(b.system).toEqual({ pre: [], post: [] });
    expect(b.info.user).toEqual(user);
    expect(b.info.image.layers()).toEqual([]);
    expect(b.launcherPath).toBeUndefined();
  });

  it("without run.toml, the legacy stack.toml's [run-image]; the lifecycle's launcher and version when present", async () => {
    await writeFile(join(cnb, "stack.toml"), '[run-image]\nimage = "legacy/run:1"\n');
    await mkdir(join(cnb, "lifecycle"));
    await writeFile(join(cnb, "lifecycle", "launcher"), "");
    await writeFile(join(cnb, "lifecycle", "lifecycle.toml"), '[lifecycle]\nversion = "0.21.0"\n');
    await writeFile(
      join(cnb, "system.toml"),
      '[system.pre]\n[[system.pre.buildpacks]]\nid = "acme/a"\nversion = "1.0.0"\n',
    );
    const b = await openLocalBuilder({ root, user });
    expect(b.runImages).toEqual([{ image: "legacy/run:1", mirrors: [] }]);
    expect(b.launcherPath).toBe(join(cnb, "lifecycle", "launcher"));
    expect(b.launcherVersion).toBe("0.21.0");
    expect(b.system.pre).toEqual([{ id: "acme/a", version: "1.0.0" }]);
  });

  it("no builder here, or one with image extensions: refused with a hint", async () => {
    await expect(openLocalBuilder({ root: join(root, "src"), user })).rejects.toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: `no builder on this filesystem: ${join(root, "src", "cnb", "order.toml")} or ${join(root, "src", "cnb", "buildpacks")} is missing`,
      hint: expect.stringContaining("--isolation host"),
    });
    await writeFile(
      join(cnb, "order.toml"),
      '[[order]]\n[[order.group]]\nid = "acme/a"\nversion = "1.0.0"\n[[order-extensions]]\n[[order-extensions.group]]\nid = "e"\nversion = "1"\n',
    );
    await expect(openLocalBuilder({ root, user })).rejects.toMatchObject({
      message: expect.stringMatching(
        /^\/cnb\/order\.toml has \[\[order-extensions\]\]: image extensions need the sandbox/,
      ),
    });
  });

  it("a /cnb/run.toml linked out of the root is refused, not read", async () => {
    const outside = join(await tempDir("berth-cnb-outside-"), "run.toml");
    await writeFile(outside, '[[images]]\nimage = "stolen:1"\n');
    await symlink(outside, join(cnb, "run.toml"));
    await expect(openLocalBuilder({ root, user })).rejects.toMatchObject({ code: "UNSAFE_PATH" });
  });
});
