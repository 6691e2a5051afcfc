/**
 * Attack: a builder image whose /cnb/order.toml (or a buildpack's buildpack.toml) is a symlink to a host path:
 * berth extracts the builder's /cnb and read those files on the host, as root, following the link.
 */
import { mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, it } from "vitest";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { type Attack, expectRefused, setupAttack } from "./helpers.ts";

let a: Attack;
beforeAll(async () => {
  a = await setupAttack("builder-file", {});
});

async function evilBuilder(tag: string, path: string): Promise<string> {
  const tree = join(a.dir, `evil-${tag}`);
  const at = join(tree, path);
  await mkdir(join(at, ".."), { recursive: true });
  await symlink(a.secretFile, at);
  const ref = `${a.builder.replace(/:builder$/, "")}:${tag}`;
  await appendLayers(
    parseImageArgument(a.builder),
    [{ source: tree, dest: "/" }],
    parseImageArgument(ref),
    { home: a.home, env: {} },
    {},
  );
  return ref;
}

it("a builder whose /cnb/order.toml links to a host file fails the build naming the builder and the file", async () => {
  const builder = await evilBuilder("order", "cnb/order.toml");
  const r = await berth(["build", a.app, "-t", `oci:${join(a.dir, "out")}:order`, "--builder", builder], {
    home: a.home,
  });
  expectRefused(
    r,
    /builder \S+:order: \/cnb\/order\.toml is a symlink to "[^"]*\/secret\/shadow", which does not exist in the builder image/,
  );
  await a.assertSecretNowhere(r);
});

it("a builder whose buildpack.toml links to a host file fails the build naming the buildpack and the file", async () => {
  const builder = await evilBuilder("bptoml", "cnb/buildpacks/test_next/1.0.0/buildpack.toml");
  const r = await berth(["build", a.app, "-t", `oci:${join(a.dir, "out")}:bptoml`, "--builder", builder], {
    home: a.home,
  });
  expectRefused(r, /buildpack\.toml is a symlink to "[^"]*\/secret\/shadow"/);
  await a.assertSecretNowhere(r);
});
