/**
 * overlayfs mounts through mount(8) (Node has no mount(2)), and reading overlay xattrs through getfattr(1).
 * Lower directories are passed relative to a working directory so that long chains fit the kernel's
 * one-page limit on mount options; a chain longer still, by links with short names made for the mount.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { mkdir, rm, symlink } from "node:fs/promises";
import { release, tmpdir, userInfo } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { BerthError } from "../errors.ts";
import type { XattrReader } from "../layer/index.ts";
import { writeFileAtomicSync } from "../util/fs.ts";
import { ownerTag } from "../util/owner.ts";
import { refusedFolder } from "../util/user-cache.ts";
import type { SpecMount } from "./spec.ts";
import { inUserNamespace } from "./userns.ts";

const pexec = promisify(execFile);

/** Mount-option characters overlayfs cannot take in a path. */
const BAD = /[,:\\]/;

export interface OverlayMount {
  /** Top first (the overlayfs order). */
  lowerDirs: readonly string[];
  /**
   * Where changes land, with its work dir (same filesystem). Without them the mount is read-only: overlayfs
   * then needs at least two lower dirs.
   */
  upperDir?: string | undefined;
  workDir?: string | undefined;
  target: string;
  /** Directory the lower paths are made relative to (keeps the options short). */
  base?: string;
  /**
   * Mount with overlayfs' `volatile` (Linux 5.10+): its unmount does not sync the upper dir's whole
   * filesystem (measured: 280–400 ms on this machine's busy disk, against 4 ms), and the upper dir is not
   * crash-safe: for upper dirs read back and dropped at once, or trusted only in the boot that made them
   * (snapshots, `currentBootId`). A kernel that refuses it gets a plain mount.
   */
  volatile?: boolean | undefined;
}

/** Whether this kernel refused `volatile` once (then every later mount goes without it). */
let volatileRefused = false;

/** overlayfs' limit on lower dirs (`OVL_MAX_STACK`). */
const MAX_LOWER = 500;

/** What fits in the kernel's one page of mount options, with room for mount(8)'s own. */
const MAX_OPTIONS = 4000;

/** Whether this process runs in a user namespace (asked once). */
let inNamespace: Promise<boolean> | undefined;

/**
 * The mount options of an overlay after the lower dirs (the upper and work dirs, `userxattr` where needed),
 * the lower dirs checked: without `volatile`, which `mountOverlay` adds where asked, and `rootMount` where
 * the kernel took it.
 */
async function overlayOptions(
  m: Omit<OverlayMount, "target" | "volatile">,
): Promise<{ lower: string[]; rest: string }> {
  const lower = m.lowerDirs.map((d) => (m.base ? relative(m.base, d) : d));
  const rw = m.upperDir !== undefined && m.workDir !== undefined ? [m.upperDir, m.workDir] : undefined;
  if (!rw && (m.upperDir !== undefined || m.workDir !== undefined || lower.length < 2)) {
    throw new BerthError(
      "INTERNAL",
      "an overlay mount needs an upper dir with a work dir, or (read-only) two lower dirs or more",
    );
  }
  for (const p of [...lower, ...(rw ?? [])]) {
    if (BAD.test(p)) {
      throw new BerthError(
        "RUNTIME_FAILED",
        `cannot use ${JSON.stringify(p)} in an overlay mount (it has , : or \\)`,
      );
    }
  }
  if (m.lowerDirs.length > MAX_LOWER) {
    throw new BerthError(
      "RUNTIME_FAILED",
      `too many layers for one overlay mount (${m.lowerDirs.length}; overlayfs takes ${MAX_LOWER})`,
    );
  }
  // In a user namespace (berth rerun without root) overlayfs cannot use `trusted.` xattrs: without
  // `userxattr` it cannot make an opaque directory (removing a lower one fails with EIO); with it, it uses
  // `user.overlay.*`.
  inNamespace ??= inUserNamespace();
  const userxattr = (await inNamespace) ? ",userxattr" : "";
  return { lower, rest: `${rw ? `,upperdir=${rw[0]},workdir=${rw[1]}` : ""}${userxattr}` };
}

/**
 * The overlay as the spec's mount at `/`, for the runtime to make inside the container's mount namespace
 * (absolute paths: the runtime's working directory is not berth's); `volatile` unless this kernel refused it.
 * A chain too long for the options' page is an error (the caller mounts it itself).
 */
export async function rootMount(m: Omit<OverlayMount, "target" | "volatile" | "base">): Promise<SpecMount> {
  const { lower, rest } = await overlayOptions(m);
  const options = `lowerdir=${lower.join(":")}${rest}`;
  if (options.length > MAX_OPTIONS) {
    throw new BerthError("RUNTIME_FAILED", `too many layers for one overlay mount (${m.lowerDirs.length})`);
  }
  return {
    destination: "/",
    type: "overlay",
    source: "overlay",
    options: volatileRefused ? options.split(",") : [...options.split(","), "volatile"],
  };
}

export async function mountOverlay(m: OverlayMount): Promise<void> {
  const { lower, rest } = await overlayOptions(m);
  if (`lowerdir=${lower.join(":")}${rest}`.length <= MAX_OPTIONS) {
    await mountWith(`lowerdir=${lower.join(":")}${rest}`, m, m.base);
    return;
  }
  // Too long for the options' page: the lower dirs by short names.
  const links = await linkLowerDirs(m);
  try {
    await mountWith(`lowerdir=${lower.map((_, i) => i).join(":")}${rest}`, m, links);
  } finally {
    await rm(links, { recursive: true, force: true });
  }
}

/**
 * The lower dirs of `m` as links named 0, 1, … in a new folder beside its target: the kernel follows them when
 * it mounts, so the folder may go right after.
 */
async function linkLowerDirs(m: OverlayMount): Promise<string> {
  const dir = join(dirname(m.target), `.lower-${randomBytes(6).toString("hex")}`);
  await mkdir(dir);
  await Promise.all(m.lowerDirs.map((d, i) => symlink(resolve(m.base ?? "/", d), join(dir, String(i)))));
  return dir;
}

/** mount(8) an overlay with `options` (relative lower dirs from `cwd`), `volatile` first where asked. */
async function mountWith(options: string, m: OverlayMount, cwd: string | undefined): Promise<void> {
  const rw = m.upperDir !== undefined;
  // A kernel that refuses `volatile` is asked once, then never again.
  const tries = rw && m.volatile && !volatileRefused ? [`${options},volatile`, options] : [options];
  for (const [i, o] of tries.entries()) {
    try {
      await pexec("mount", ["-t", "overlay", "overlay", "-o", o, m.target], cwd ? { cwd } : {});
      return;
    } catch (err) {
      if (i + 1 < tries.length) {
        volatileRefused = true;
        continue;
      }
      const e = err as { stderr?: string; message: string };
      throw new BerthError(
        "RUNTIME_FAILED",
        `mounting ${rw ? "the container root" : "a read-only root"} at ${m.target}: ${(e.stderr || e.message).trim()}`,
        { cause: err },
      );
    }
  }
}

export async function unmount(target: string): Promise<void> {
  try {
    await pexec("umount", [target]);
  } catch {
    // Busy (a process still holds it): detach it now, the kernel frees it when the last user goes.
    await pexec("umount", ["-l", target]).catch(() => undefined);
  }
}

/**
 * Undo several mounts with one umount(8) (a process each costs the parent a fork): where it fails (one busy,
 * or not mounted), each again through `unmount`, the busy ones detached.
 */
export async function unmountAll(targets: readonly string[]): Promise<void> {
  if (targets.length === 0) return;
  try {
    await pexec("umount", [...targets]);
  } catch {
    await Promise.all(targets.map((t) => unmount(t)));
  }
}

let bootId: string | undefined;

/**
 * This boot's id (`/proc/sys/kernel/random/boot_id`; "" where there is none), read once, synchronously: a
 * procfs file, whose read costs less than a trip through libuv's pool.
 */
export function currentBootId(): Promise<string> {
  if (bootId === undefined) {
    try {
      bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    } catch {
      bootId = "";
    }
  }
  return Promise.resolve(bootId);
}

const probes = new Map<string, Promise<boolean>>();

/** The file remembering, per kernel, that overlayfs worked under a snapshots root. */
const PROBE_FILE = "overlay-probe.json";

/**
 * Whether this process may mount overlayfs with upper and lower dirs under `root` (a snapshots root, whose
 * `tmp/` is used for the trial). A success is remembered in `root/overlay-probe.json` for this kernel
 * release, and for this boot in the user's folder of the temp folder (`machineProbe`: a new BERTH_HOME on the same
 * filesystem skips the trial mount too); `forgetOverlaySupport` drops both when a mount fails.
 */
export function overlaySupported(root: string, isRoot: boolean): Promise<boolean> {
  if (!isRoot) return Promise.resolve(false);
  let p = probes.get(root);
  if (!p) {
    p = (async () => {
      // The memos are read and written synchronously, without fsync: a handful of small calls, each of which
      // would otherwise wait its turn on a main thread busy with the key pass (a cold build's first RUN waits
      // for this); a memo a crash loses only makes the next build try the mount again.
      const memo = join(root, PROBE_FILE);
      const kernel = release();
      if (readMemo(memo)?.kernel === kernel) return true;
      const machine = machineProbe(root, await currentBootId());
      const ok = (machine !== undefined && existsSync(machine)) || (await probeOverlay(join(root, "tmp")));
      if (ok) writeFileAtomicSync(memo, `${JSON.stringify({ kernel, overlay: true })}\n`);
      if (ok && machine !== undefined) writeMachineMemo(machine);
      return ok;
    })();
    probes.set(root, p);
  }
  return p;
}

/** The snapshots root's memo, undefined when it is missing or not JSON. */
function readMemo(path: string): { kernel?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as { kernel?: unknown };
  } catch {
    return undefined;
  }
}

function writeMachineMemo(path: string): void {
  try {
    writeFileAtomicSync(path, "");
  } catch {
    // only a memo: the next BERTH_HOME tries the mount
  }
}

/** Drop what `overlaySupported` remembered about `root` (an overlay mount failed after all). */
export async function forgetOverlaySupport(root: string): Promise<void> {
  probes.delete(root);
  const machine = machineProbe(root, await currentBootId());
  await Promise.all([
    rm(join(root, PROBE_FILE), { force: true }),
    machine !== undefined ? rm(machine, { force: true }) : undefined,
  ]);
}

/**
 * The file that says overlayfs worked on `root`'s filesystem in this boot, kernel, mount and user namespace:
 * in `berth-<uid>` of the temp folder, made `0700`.
 * Undefined when someone else could have made that file (the folder is not the user's own, or others may write
 * in it: `refusedFolder`, the rule of the user's code caches), or there is no boot id.
 */
function machineProbe(root: string, boot: string): string | undefined {
  if (!boot) return undefined;
  const { uid } = userInfo();
  const dir = join(tmpdir(), `berth-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch {
    // there already, or not ours to make: checked below
  }
  const ask = <T>(f: () => T) => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  const own = ask(() => lstatSync(dir));
  const st = ask(() => statSync(root));
  if (!own || refusedFolder(dir, own, uid) !== undefined || !st) return undefined;
  const ns = (name: string) => ask(() => readlinkSync(`/proc/self/ns/${name}`)) ?? "";
  const key = createHash("sha256")
    .update(JSON.stringify([boot, release(), st.dev, ns("mnt"), ns("user")]))
    .digest("hex");
  return join(dir, `overlay-${key.slice(0, 32)}`);
}

async function probeOverlay(dir: string): Promise<boolean> {
  const t = join(dir, `probe-${ownerTag()}-${randomBytes(6).toString("hex")}`);
  try {
    await Promise.all(["l", "u", "w", "m"].map((d) => mkdir(join(t, d), { recursive: true })));
    await mountOverlay({
      lowerDirs: [join(t, "l")],
      upperDir: join(t, "u"),
      workDir: join(t, "w"),
      target: join(t, "m"),
    });
    await unmount(join(t, "m"));
    return true;
  } catch {
    return false;
  } finally {
    await rm(t, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The xattrs matching `pattern` of every file under `root` (not following symlinks), from one `getfattr -R`:
 * file → name → value (with `values`; else an empty buffer). Undefined when getfattr is not installed. Its
 * output is read byte for byte (latin1), as it prints names: raw bytes, or `\NNN` octal escapes for some.
 */
async function getfattrTree(
  root: string,
  pattern: string,
  values: boolean,
): Promise<Map<string, Map<string, Buffer>> | undefined> {
  let stdout: string;
  try {
    ({ stdout } = await pexec(
      "getfattr",
      ["-R", "-P", "--absolute-names", "-m", pattern, ...(values ? ["-d"] : []), root],
      { maxBuffer: 256 * 1024 * 1024, encoding: "latin1" },
    ));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string };
    if (e.code === "ENOENT") return undefined;
    stdout = e.stdout ?? "";
  }
  const found = new Map<string, Map<string, Buffer>>();
  let file: Map<string, Buffer> | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      file = new Map();
      found.set(unescapeGetfattr(line.slice("# file: ".length)), file);
      continue;
    }
    // A value getfattr cannot print as text comes encoded (`0x…`, `0s…`): kept as printed.
    const m = values ? /^([^=]+)=(?:"(.*)"|(\S+))$/.exec(line) : /^(\S+)$/.exec(line);
    if (m && file) file.set(m[1]!, Buffer.from(m[2] ?? m[3] ?? "", "latin1"));
  }
  return found;
}

/**
 * An XattrReader answering from one `getfattr -R` over `root` (the overlay opaque markers), or undefined
 * when getfattr is not installed.
 */
export async function overlayXattrReader(root: string): Promise<XattrReader | undefined> {
  const found = await getfattrTree(root, "^(trusted|user)\\.overlay\\.opaque$", true);
  if (!found) return undefined;
  return async (hostPath) => {
    const attrs = found.get(hostPath);
    return attrs?.size ? Object.fromEntries(attrs) : undefined;
  };
}

/** getfattr's escaping of a file name (read as latin1): `\NNN` octal bytes (and `\\`), then UTF-8. */
function unescapeGetfattr(name: string): string {
  return Buffer.from(
    name.replace(/\\([0-7]{3})|\\\\/g, (_m, oct: string | undefined) =>
      oct ? String.fromCharCode(Number.parseInt(oct, 8)) : "\\",
    ),
    "latin1",
  ).toString("utf8");
}

/**
 * Remove the overlay-private xattrs that point at other inodes (`origin`, and `impure`/`nlink` which go
 * with it) from an upper dir that becomes a snapshot: a snapshot must not depend on the identity of the
 * inodes it was made over, or a later mount may fail to decode them ("stale file handle"). Opaque markers
 * and whiteouts, which are the layer's content, stay. From the same getfattr: the tree's opaque directories
 * (`overlayUnionDirs`).
 */
export async function stripOverlayOrigins(root: string): Promise<string[] | undefined> {
  const found = await getfattrTree(root, UNION_XATTRS, true);
  for (const [file, attrs] of found ?? []) {
    for (const name of attrs.keys()) {
      if (/^(trusted|user)\.overlay\.(origin|impure|nlink)$/.test(name)) {
        await pexec("setfattr", ["-h", "-x", name, file]).catch(() => undefined);
      }
    }
  }
  return found && unionDirs(root, found);
}

/**
 * The overlay xattrs a snapshot's union read (`union.ts`) depends on, with those stripped from it: `trusted.`,
 * or `user.` where overlayfs was mounted `userxattr` (in a user namespace).
 */
const UNION_XATTRS = "^(trusted|user)\\.overlay\\.(origin|impure|nlink|opaque|redirect|metacopy)$";

/**
 * The opaque directories of an overlay upper-form tree (relative to `root`, "" for itself), for reading it as
 * a union without mounting it; undefined when getfattr is missing or the tree has `redirect` or `metacopy`
 * xattrs (a renamed directory, a metadata-only copy up: a union read does not follow them). `trusted.` and
 * `user.` count alike, as for the diff (`layer/diff.ts`): overlayfs writes `user.` in a user namespace.
 */
export async function overlayUnionDirs(root: string): Promise<string[] | undefined> {
  const found = await getfattrTree(root, UNION_XATTRS, true);
  return found && unionDirs(root, found);
}

function unionDirs(root: string, found: Map<string, Map<string, Buffer>>): string[] | undefined {
  const opaque: string[] = [];
  for (const [file, attrs] of found) {
    const attr = (name: string) => attrs.get(`trusted.overlay.${name}`) ?? attrs.get(`user.overlay.${name}`);
    if (attr("redirect") || attr("metacopy")) return undefined;
    if (attr("opaque")?.toString("latin1") === "y") opaque.push(relative(root, file));
  }
  return opaque.sort();
}
