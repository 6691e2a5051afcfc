/**
 * berth as one self-contained executable (scripts/executable.ts), for tests that run berth where there is no
 * checkout and no node_modules: built once per content of its inputs (src/, builders/, the build scripts, the
 * lockfile, this Node) into /tmp/berth-test-executable/<hash>/berth, a folder holding only it.
 *
 * For a build step: mount `berthExecutableFolder()` read-only (at /berth, say) and run `/berth/berth`; it needs
 * glibc (the build image's, or the host's /lib/x86_64-linux-gnu and /lib64 mounted read-only), no Node, no
 * gcc. As a layer: `berth image self --base BUILD_IMAGE TARGET --executable <this>` (test/executable/).
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { berth } from "./cli.ts";

const pexec = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../..");
const CACHE = "/tmp/berth-test-executable";
const INPUTS = ["src", "builders", "scripts/executable.ts", "scripts/lib", "package-lock.json"];

async function hashTree(hash: ReturnType<typeof createHash>, path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => undefined);
  if (!entries) {
    hash.update(`${path}\0`).update(await readFile(path));
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1)))
    await hashTree(hash, join(path, e.name));
}

/** The folder holding only `berth`, the executable built from this checkout. */
export async function berthExecutableFolder(): Promise<string> {
  const hash = createHash("sha256").update(process.version);
  for (const input of INPUTS) await hashTree(hash, join(REPO, input));
  const dir = join(CACHE, hash.digest("hex").slice(0, 16));
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  await mkdir(tmp, { recursive: true });
  try {
    await pexec(process.execPath, [join(REPO, "scripts", "executable.ts"), "--out", join(tmp, "berth")]);
    await rename(tmp, dir).catch((err) => {
      if (!existsSync(dir)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** The executable's path. */
export async function berthExecutable(): Promise<string> {
  return join(await berthExecutableFolder(), "berth");
}

/**
 * A step image: `base` (a build image, any transport) with berth's executable added as one layer at
 * /usr/local/bin/berth (`berth image self --base`), written to `target`. Its entrypoint is berth; the base must
 * have glibc (or the step mounts the host's).
 */
export async function berthStepImage(base: string, target: string, home: string): Promise<void> {
  const r = await berth(["image", "self", "--base", base, target, "--executable", await berthExecutable()], {
    home,
  });
  if (r.code !== 0) throw new Error(`berth image self --base ${base} ${target} failed:\n${r.stderr}`);
}
