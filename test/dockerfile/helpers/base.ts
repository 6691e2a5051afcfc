/**
 * The base image every corpus Dockerfile builds FROM: Debian's busybox-static with its applet links, an
 * /etc/passwd and /etc/group with an `app` user, made with berth's appendLayers and pushed with copyImage to
 * a local docker-registry as `127.0.0.1:PORT/base:1`.
 */
import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { appendLayers } from "../../../src/image/index.ts";
import { copyImage } from "../../../src/transport/copy.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";

const APPLETS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "mkdir",
  "rm",
  "touch",
  "chmod",
  "chown",
  "id",
  "env",
  "true",
  "false",
  "ln",
  "cp",
  "mv",
  "tar",
  "printf",
  "test",
  "sleep",
  "whoami",
  "stat",
  "find",
  "sort",
];

export async function makeBaseRootfs(dir: string): Promise<void> {
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "etc"), { recursive: true });
  await mkdir(join(dir, "tmp"), { recursive: true });
  await mkdir(join(dir, "home", "app"), { recursive: true });
  await mkdir(join(dir, "var", "lib", "old"), { recursive: true });
  await copyFile("/bin/busybox", join(dir, "bin", "busybox"));
  await chmod(join(dir, "bin", "busybox"), 0o755);
  for (const a of APPLETS) await symlink("busybox", join(dir, "bin", a));
  await writeFile(
    join(dir, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  );
  await writeFile(join(dir, "etc", "group"), "root:x:0:\napp:x:1000:\n");
  await writeFile(join(dir, "var", "lib", "old", "data"), "old data\n");
  await writeFile(join(dir, "etc", "motd"), "welcome\n");
  await chmod(join(dir, "tmp"), 0o1777);
}

/** Build the base image and push it to the registry at `host`; returns its reference. */
export async function pushBase(home: string, rootfs: string, host: string): Promise<string> {
  await makeBaseRootfs(rootfs);
  const ctx = { home, env: {} };
  await appendLayers(
    parseImageArgument("scratch", { allowScratch: true }),
    [{ source: rootfs, dest: "/" }],
    parseImageArgument("base:1"),
    ctx,
    { sourceDateEpoch: 0 },
  );
  // The config's Env gets a PATH, as base images have.
  const { mutateImage } = await import("../../../src/image/index.ts");
  await mutateImage(parseImageArgument("base:1"), parseImageArgument("base:2"), { env: ["PATH=/bin"] }, ctx);
  const ref = `${host}/base:1`;
  await copyImage(parseImageArgument("base:2"), parseImageArgument(`docker://${ref}`), ctx);
  return ref;
}
