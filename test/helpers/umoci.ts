import { chmod, link, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { run } from "./exec.ts";

export interface FileSpec {
  path: string;
  content?: string;
  mode?: number;
  symlink?: string;
  hardlink?: string;
  dir?: boolean;
  delete?: boolean;
}

/**
 * Make an image with umoci in an OCI layout: one layer per entry of `layers`, each a list of changes to the
 * root filesystem (files, directories, links, deletions, which umoci records as whiteouts).
 */
export async function umociImage(
  layout: string,
  tag: string,
  layers: FileSpec[][],
  config: {
    env?: string[];
    cmd?: string[];
    entrypoint?: string[];
    workdir?: string;
    user?: string;
    labels?: Record<string, string>;
  } = {},
): Promise<void> {
  const bundle = `${layout}.bundle-${tag}`;
  await run("umoci", ["init", "--layout", layout]).catch(async (err) => {
    if (!String(err).includes("exist")) throw err;
  });
  await run("umoci", ["new", "--image", `${layout}:${tag}`]);
  for (const files of layers) {
    await rm(bundle, { recursive: true, force: true });
    await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${tag}`, bundle]);
    const root = join(bundle, "rootfs");
    for (const f of files) {
      const p = join(root, f.path);
      await mkdir(dirname(p), { recursive: true });
      if (f.delete) await rm(p, { recursive: true, force: true });
      else if (f.dir) await mkdir(p, { recursive: true, mode: f.mode ?? 0o755 });
      else if (f.symlink !== undefined) await symlink(f.symlink, p);
      else if (f.hardlink !== undefined) await link(join(root, f.hardlink), p);
      else {
        await writeFile(p, f.content ?? "");
        if (f.mode !== undefined) await chmod(p, f.mode);
      }
    }
    await run("umoci", ["repack", "--image", `${layout}:${tag}`, bundle]);
  }
  await rm(bundle, { recursive: true, force: true });
  const args = ["config", "--image", `${layout}:${tag}`];
  for (const e of config.env ?? []) args.push("--config.env", e);
  for (const c of config.cmd ?? []) args.push("--config.cmd", c);
  for (const c of config.entrypoint ?? []) args.push("--config.entrypoint", c);
  if (config.workdir) args.push("--config.workingdir", config.workdir);
  if (config.user) args.push("--config.user", config.user);
  for (const [k, v] of Object.entries(config.labels ?? {})) args.push("--config.label", `${k}=${v}`);
  if (args.length > 3) await run("umoci", args);
}
