/**
 * Root filesystems for stacks: a minimal Debian (or Ubuntu) tree made by `debootstrap --variant=minbase` with
 * extra packages, cleaned of what differs from run to run or only takes space (logs, package lists and caches,
 * documentation, the host's resolv.conf and hostname), kept in a cache keyed by distribution and packages.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { BerthError } from "../../errors.ts";
import { inUserNamespace } from "../../runtime/index.ts";
import { exists } from "../../util/fs.ts";
import { SYSTEM_PATH, which } from "../../util/which.ts";
import type { Distro } from "./distro.ts";

/** Bump when the cleaning or the recipe changes, so that old cached trees are not reused. */
const RECIPE = "3";

export interface RootfsOptions {
  distro: Distro;
  packages: readonly string[];
  /** The folder caches live in: `$BERTH_HOME/cache/stack`. */
  cacheDir: string;
  mirror?: string;
  /** Whether this process runs as root (debootstrap needs it). */
  isRoot: boolean;
  /** PATH to find debootstrap on. */
  searchPath?: string;
  /** Each line debootstrap prints. */
  onLine?: (line: string) => void;
  /** SOURCE_DATE_EPOCH, for the password ages in /etc/shadow. */
  sourceDateEpoch?: number;
  signal?: AbortSignal | undefined;
}

export interface Rootfs {
  /** The tree (owned by root, ready to become a layer). */
  dir: string;
  /** The cache key. */
  key: string;
  /** Whether it came from the cache. */
  cached: boolean;
  /** Packages installed, `name version` sorted (from dpkg's status file). */
  installed: string[];
}

export function rootfsKey(distro: Distro, packages: readonly string[], mirror: string | undefined): string {
  const spec = JSON.stringify({
    recipe: RECIPE,
    distro: distro.codename,
    mirror: mirror ?? distro.mirror,
    packages: [...new Set(packages)].sort(),
  });
  return createHash("sha256").update(spec).digest("hex").slice(0, 24);
}

/** Check that debootstrap can run here, or say what is missing. */
export async function checkDebootstrap(
  options: Pick<RootfsOptions, "isRoot" | "searchPath">,
): Promise<string> {
  const tool = await which("debootstrap", options.searchPath ?? SYSTEM_PATH, { emptyIsCwd: true });
  if (!tool) {
    throw new BerthError("RUNTIME_NOT_FOUND", "creating a stack needs debootstrap, which is not installed", {
      hint: "install it (Debian/Ubuntu: apt-get install debootstrap), or use existing images as build and run images",
    });
  }
  // root of a user namespace (a build without root, as berth's CLI runs it) cannot make device nodes either
  if (!options.isRoot || (await inUserNamespace())) {
    throw new BerthError(
      "USAGE",
      "creating a stack runs debootstrap, which needs root (it makes device nodes, which a user namespace cannot); berth is not running as root",
      {
        hint: "run berth stack create as root (sudo), or use build and run images made elsewhere (berth build -B BUILDER takes any builder image)",
      },
    );
  }
  return tool;
}

/** A cached tree for these packages, or a new one made with debootstrap. */
export async function bootstrapRootfs(options: RootfsOptions): Promise<Rootfs> {
  const key = rootfsKey(options.distro, options.packages, options.mirror);
  const dir = join(options.cacheDir, `rootfs-${key}`);
  if (await exists(join(dir, "etc", "os-release"))) {
    return { dir, key, cached: true, installed: await installedPackages(dir) };
  }
  const tool = await checkDebootstrap(options);
  await mkdir(options.cacheDir, { recursive: true });
  // One debootstrap per tree at a time (two berths sharing a cache wait for each other's).
  const release = await lockfile.lock(options.cacheDir, {
    lockfilePath: `${dir}.lock`,
    realpath: false,
    stale: 60_000,
    update: 10_000,
    retries: { retries: 1000, minTimeout: 500, maxTimeout: 2000 },
  });
  try {
    if (await exists(join(dir, "etc", "os-release"))) {
      return { dir, key, cached: true, installed: await installedPackages(dir) };
    }
    return await debootstrap(tool, dir, key, options);
  } finally {
    await release().catch(() => {});
  }
}

async function debootstrap(tool: string, dir: string, key: string, options: RootfsOptions): Promise<Rootfs> {
  const tmp = `${dir}.tmp-${uniqueSuffix()}`;
  await rm(tmp, { recursive: true, force: true });
  // Packages downloaded per tree (two debootstraps may run at once and must not share a download folder).
  const debs = join(options.cacheDir, "debs", `${options.distro.codename}-${key}`);
  await mkdir(debs, { recursive: true });
  const args = [
    "--variant=minbase",
    `--components=${options.distro.components.join(",")}`,
    `--cache-dir=${debs}`,
    ...(options.packages.length ? [`--include=${[...new Set(options.packages)].sort().join(",")}`] : []),
    options.distro.codename,
    tmp,
    options.mirror ?? options.distro.mirror,
  ];
  try {
    await runTool(tool, args, options);
    await cleanRootfs(tmp, options.sourceDateEpoch ?? 0);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  return { dir, key, cached: false, installed: await installedPackages(dir) };
}

let counter = 0;
function uniqueSuffix(): string {
  counter++;
  return `${Date.now().toString(36)}-${counter}`;
}

function runTool(tool: string, args: string[], options: RootfsOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8" },
      signal: options.signal,
    });
    const tail: string[] = [];
    let partial = "";
    const onData = (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 30) tail.shift();
        options.onLine?.(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) =>
      reject(new BerthError("RUNTIME_FAILED", `running debootstrap: ${err.message}`, { cause: err })),
    );
    child.on("close", (code) => {
      if (code === 0) return resolve();
      reject(
        new BerthError(
          "RUNTIME_FAILED",
          `debootstrap ${options.distro.codename} exited with code ${code}:\n${tail.join("\n")}`,
          {
            hint: "check that the package mirror is reachable and the package names exist in this distribution",
          },
        ),
      );
    });
  });
}

const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/** Remove what differs between runs or only takes space; make host-derived files neutral. */
async function cleanRootfs(dir: string, sourceDateEpoch: number): Promise<void> {
  const emptyDirs = [
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/log",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/lintian",
    "usr/share/linda",
    "tmp",
    "var/tmp",
    "run",
  ];
  for (const d of emptyDirs) await emptyDir(join(dir, d));
  // Locales: keep only what C.UTF-8 needs (it lives in /usr/lib/locale).
  await emptyDir(join(dir, "usr/share/locale"));
  for (const f of [
    "etc/resolv.conf",
    "etc/machine-id",
    "var/cache/ldconfig/aux-cache",
    "var/lib/dbus/machine-id",
    "etc/apt/apt.conf.d/01autoremove-kernels",
  ]) {
    await rm(join(dir, f), { force: true });
  }
  for (const d of ["var/lib/dpkg", "var/cache/debconf", "etc"]) {
    for (const name of await readdir(join(dir, d)).catch(() => [] as string[])) {
      if (name.endsWith("-old") || name.endsWith("-")) await rm(join(dir, d, name), { force: true });
    }
  }
  await rm(join(dir, "debootstrap"), { recursive: true, force: true });
  await writeFile(join(dir, "etc/hostname"), "localhost\n");
  await writeFile(join(dir, "etc/hosts"), HOSTS);
  await writeFile(join(dir, "etc/machine-id"), "");
  await writeFile(join(dir, "etc/resolv.conf"), "");
  // Password ages count days since the epoch: make them SOURCE_DATE_EPOCH's day.
  const day = String(Math.floor(sourceDateEpoch / 86400));
  const shadow = join(dir, "etc/shadow");
  if (await exists(shadow)) {
    const text = await readFile(shadow, "utf8");
    await writeFile(
      shadow,
      text.replace(/^([^:\n]*:[^:\n]*:)\d*(:)/gm, (_m, a: string, b: string) => `${a}${day}${b}`),
    );
  }
  // Ask dpkg not to install documentation in images built on this tree later on.
  await mkdir(join(dir, "etc/dpkg/dpkg.cfg.d"), { recursive: true });
  await writeFile(
    join(dir, "etc/dpkg/dpkg.cfg.d/01-berth-nodoc"),
    [
      "path-exclude /usr/share/doc/*",
      "path-exclude /usr/share/man/*",
      "path-exclude /usr/share/info/*",
      "path-exclude /usr/share/locale/*",
      "",
    ].join("\n"),
  );
  await writeFile(
    join(dir, "etc/apt/apt.conf.d/01-berth-clean"),
    'APT::Install-Recommends "false";\nDPkg::Post-Invoke { "rm -rf /var/cache/apt/archives/*.deb"; };\n',
  );
}

async function emptyDir(path: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch {
    return;
  }
  for (const n of names) {
    // apt needs its partial folders and dpkg's lock files to exist.
    if (n === "partial" || n === "lock") continue;
    await rm(join(path, n), { recursive: true, force: true });
  }
}

/** `name version` of each installed package, sorted. */
export async function installedPackages(dir: string): Promise<string[]> {
  const text = await readFile(join(dir, "var/lib/dpkg/status"), "utf8").catch(() => "");
  const out: string[] = [];
  for (const para of text.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(para)?.[1];
    const version = /^Version: (.+)$/m.exec(para)?.[1];
    const status = /^Status: (.+)$/m.exec(para)?.[1];
    if (name && version && status?.endsWith(" installed")) out.push(`${name} ${version}`);
  }
  return out.sort();
}
