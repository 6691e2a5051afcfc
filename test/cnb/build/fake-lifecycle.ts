/**
 * A builder made by `berth builder create` whose lifecycle binaries are sh scripts (busybox build image), for
 * the mirror tests of the `--lifecycle builder` drivers (lifecycle-detect, lifecycle-rebase): what berth
 * mounts, passes and reads back, without the reference lifecycle. The reference itself is test/cnb/lifecycle/.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { berth } from "../../helpers/cli.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

const pexec = promisify(execFile);

/**
 * `scripts`: lifecycle binary name → its sh body. Returns the builder's store name, its build image and the
 * folder of the lifecycle's binaries (lifecycle.toml and all).
 */
export async function fakeLifecycleBuilder(
  dir: string,
  home: string,
  scripts: Record<string, string>,
): Promise<{ builder: string; buildImage: string; lifecycleDir: string }> {
  const layout = join(dir, "images");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  const stage = join(dir, "fake-lifecycle");
  await mkdir(join(stage, "lifecycle"), { recursive: true });
  for (const bin of [
    "detector",
    "analyzer",
    "restorer",
    "builder",
    "exporter",
    "launcher",
    "creator",
    "rebaser",
  ]) {
    const file = join(stage, "lifecycle", bin);
    await writeFile(file, `#!/bin/sh\n${scripts[bin] ?? "exit 99"}\n`);
    await chmod(file, 0o755);
  }
  const toml = `[apis]\n[apis.buildpack]\n  supported = ["0.10"]\n[apis.platform]\n  supported = ["0.13"]\n\n[lifecycle]\n  version = "9.9.9"\n`;
  await writeFile(join(stage, "lifecycle.toml"), toml);
  await writeFile(join(stage, "lifecycle", "lifecycle.toml"), toml);
  await pexec("tar", ["-C", stage, "-czf", `${stage}.tgz`, "lifecycle.toml", "lifecycle"]);
  const bp = await writeBuildpack(join(dir, "bps"), { id: "test/bp" });
  const config = join(dir, "builder.toml");
  await writeFile(
    config,
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/bp"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${layout}:build"\n\n[lifecycle]\nuri = "${stage}.tgz"\n`,
  );
  const name = "test/fake-lc:1";
  const bc = await berth(["builder", "create", name, "--config", config], { home });
  if (bc.code !== 0) throw new Error(`builder create: ${bc.stderr}`);
  return { builder: name, buildImage: `oci:${layout}:build`, lifecycleDir: join(stage, "lifecycle") };
}
