/**
 * The tiny run image, distroless-style: only what programs need at run time, taken from a bootstrapped tree by
 * its dpkg file lists: the C and C++ runtimes (libc6's libraries and loader, libgcc-s1, libstdc++6), zlib1g,
 * libssl3, the CA bundle, tzdata's zones, base-files (os-release), plus /etc/passwd and /etc/group with root,
 * nobody and the CNB run user, /etc/nsswitch.conf, /etc/hosts, an empty /etc/resolv.conf, /tmp (1777) and the
 * user's home. No shell, no coreutils, no apt or dpkg: a program that needs any of them belongs on the Debian
 * run image. Each package kept has its status paragraph in `/var/lib/dpkg/status.d/<name>` (as distroless
 * does), so that scanners (Trivy, Grype, Syft) see the packages and their versions.
 */
import { randomBytes } from "node:crypto";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { BerthError, wrapError } from "../../errors.ts";
import { writeEntries } from "../../layer/build.ts";
import { planLayer, writeLayer } from "../../layer/index.ts";
import type { CnbUser, ExtraCa, StackLayer } from "./layer.ts";

/** The packages whose files the tiny run image keeps. */
export const TINY_RUN_PACKAGES = [
  "base-files",
  "ca-certificates",
  "libc6",
  "libgcc-s1",
  "libssl3",
  "libstdc++6",
  "tzdata",
  "zlib1g",
] as const;

/** Bump when what the tiny tree keeps changes, so that cached layers are not reused. */
export const TINY_RECIPE = "2";

/**
 * Files of the kept packages that no program needs at run time: executables (ldconfig, iconv, getconf,
 * update-ca-certificates…), gconv charset modules (8 MiB; UTF-8 and ASCII need none), the individual CA files
 * (the bundle has them), tzdata's leap-second `right/` copies, documentation.
 */
const DROP = [
  /^(usr\/)?s?bin\//,
  /^usr\/libexec\//,
  /^usr\/lib\/[^/]+\/gconv\//,
  /^usr\/share\/(doc|man|info|locale|lintian|bug|menu)\//,
  /^usr\/share\/ca-certificates\//,
  /^usr\/share\/zoneinfo\/right\//,
  /^etc\/(profile|bash\.bashrc|skel|update-motd\.d|default|init\.d|dpkg|ca-certificates)(\/|$)/,
  /^etc\/(issue|issue\.net|motd|ca-certificates\.conf)$/,
  /^var\//,
];

const NSSWITCH = [
  "passwd:         files",
  "group:          files",
  "shadow:         files",
  "hosts:          files dns",
  "networks:       files",
  "protocols:      files",
  "services:       files",
  "ethers:         files",
  "rpc:            files",
  "",
].join("\n");

const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

export interface TinyTree {
  layer: StackLayer;
  /** `name version` of each package kept, sorted. */
  packages: string[];
}

/** dpkg's status paragraph of each package, by name. */
async function statusParagraphs(rootfs: string): Promise<Map<string, string>> {
  const text = await readFile(join(rootfs, "var/lib/dpkg/status"), "utf8");
  const out = new Map<string, string>();
  for (const para of text.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(para)?.[1];
    if (name) out.set(name, `${para.trim()}\n`);
  }
  return out;
}

async function fileList(rootfs: string, pkg: string, arch: string): Promise<string[]> {
  for (const name of [`${pkg}:${arch}.list`, `${pkg}.list`]) {
    const text = await readFile(join(rootfs, "var/lib/dpkg/info", name), "utf8").catch(() => undefined);
    if (text !== undefined) return text.split("\n").filter((l) => l.startsWith("/"));
  }
  throw new BerthError("CNB_CONFIG_INVALID", `the package ${pkg} has no dpkg file list there`, {
    hint: `add ${pkg} to the build image's packages`,
  });
}

/**
 * Make the tiny run image's one layer from the tree at `rootfs` (a bootstrapped Debian tree that has every
 * package of TINY_RUN_PACKAGES): a staging copy of the kept files at `staging`, then a layer of it at `dest`
 * with each entry owned as in the tree and every mtime `mtime`.
 */
export async function tinyLayer(
  rootfs: string,
  opts: {
    dest: string;
    staging: string;
    user: CnbUser;
    debianArch: string;
    mtime: number;
    extraCas: readonly ExtraCa[];
  },
): Promise<TinyTree> {
  await rm(opts.staging, { recursive: true, force: true });
  await mkdir(opts.staging, { recursive: true });
  try {
    const st = new Staging(rootfs, opts.staging);
    await st.linkLibraryDirs();
    const packages = await copyPackages(st, opts.debianArch);
    await copyLocale(st);
    await writeOwnFiles(st, opts.user, opts.extraCas);
    for (const [pkg, para] of packages.records) await st.write(`var/lib/dpkg/status.d/${pkg}`, para);
    const entries = await planLayer([{ source: opts.staging, dest: "/" }], { mtime: opts.mtime });
    for (const e of entries) {
      const o = st.owners.get(e.header.path);
      e.header.uid = o?.uid ?? 0;
      e.header.gid = o?.gid ?? 0;
    }
    const desc = await writeLayer(opts.dest, { compression: "gzip", level: 9 }, (w) =>
      writeEntries(w, entries),
    );
    return { layer: { ...desc, path: opts.dest }, packages: packages.kept.sort() };
  } catch (err) {
    throw wrapError(`making the tiny run image's layer from ${rootfs}`, err);
  } finally {
    await rm(opts.staging, { recursive: true, force: true }).catch(() => {});
  }
}

/** The staging copy of a tree: what is copied or written, and the owner each path gets in the layer. */
class Staging {
  readonly rootfs: string;
  readonly dir: string;
  /** Owner of each staged path (relative, no leading slash), as in the tree unless written here. */
  readonly owners = new Map<string, { uid: number; gid: number }>();
  /** The merged-/usr library links kept (`lib` -> `usr/lib`, …). */
  readonly #topLinks = new Map<string, string>();

  constructor(rootfs: string, dir: string) {
    this.rootfs = rootfs;
    this.dir = dir;
  }

  /**
   * The merged-/usr library links (lib -> usr/lib, lib64 -> usr/lib64, where the loader is): kept, and the
   * lists' paths through them read as their /usr paths.
   */
  async linkLibraryDirs(): Promise<void> {
    for (const name of ["lib", "lib32", "lib64", "libx32"]) {
      const st = await lstat(join(this.rootfs, name)).catch(() => undefined);
      if (!st?.isSymbolicLink()) continue;
      const target = await readlink(join(this.rootfs, name));
      if (!/^usr\/[a-z0-9]+$/.test(target)) continue;
      this.#topLinks.set(name, target);
      await symlink(target, join(this.dir, name));
    }
  }

  /** A dpkg list's path, relative and through the library links. */
  canonical(p: string): string {
    const rel = p.replace(/^\/+/, "");
    const [head, ...rest] = rel.split("/");
    const to = this.#topLinks.get(head ?? "");
    return to ? [to, ...rest].join("/") : rel;
  }

  /** Make `rel` and its parents, owned as in the tree. */
  async ensureDir(rel: string): Promise<void> {
    const parts = rel.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      if (this.owners.has(sub)) continue;
      const st = await lstat(join(this.rootfs, sub)).catch(() => undefined);
      await mkdir(join(this.dir, sub), { recursive: true, mode: 0o755 });
      this.owners.set(sub, { uid: st?.uid ?? 0, gid: st?.gid ?? 0 });
    }
  }

  /** Copy a directory, symlink or file of the tree (once), with its mode and owner. */
  async copy(rel: string): Promise<void> {
    const src = join(this.rootfs, rel);
    const st = await lstat(src).catch(() => undefined);
    if (!st || this.owners.has(rel)) return;
    await this.ensureDir(dirname(rel) === "." ? "" : dirname(rel));
    const to = join(this.dir, rel);
    if (st.isDirectory()) {
      await mkdir(to, { recursive: true });
    } else if (st.isSymbolicLink()) {
      await symlink(await readlink(src), to);
    } else if (st.isFile()) {
      await copyFile(src, to);
    } else {
      return;
    }
    this.owners.set(rel, { uid: st.uid, gid: st.gid });
    if (!st.isSymbolicLink()) {
      await chmod(to, st.mode & 0o7777);
    }
  }

  /** A file of our own, owned by root. */
  async write(rel: string, body: string, mode = 0o644): Promise<void> {
    await this.ensureDir(dirname(rel));
    await writeFile(join(this.dir, rel), body, { mode });
    await chmod(join(this.dir, rel), mode);
    this.owners.set(rel, { uid: 0, gid: 0 });
  }
}

/** The files of TINY_RUN_PACKAGES (DROP left out); `kept` is `name version` of each, `records` their status. */
async function copyPackages(
  st: Staging,
  debianArch: string,
): Promise<{ kept: string[]; records: [string, string][] }> {
  const status = await statusParagraphs(st.rootfs);
  const kept: string[] = [];
  const records: [string, string][] = [];
  for (const pkg of TINY_RUN_PACKAGES) {
    const para = status.get(pkg);
    if (!para || !/^Status: .* installed$/m.test(para)) {
      throw new BerthError("CNB_CONFIG_INVALID", `the package ${pkg} is not installed there`, {
        hint: `add ${pkg} to the build image's packages (the tiny run image takes its files from that tree)`,
      });
    }
    kept.push(`${pkg} ${/^Version: (.+)$/m.exec(para)?.[1] ?? ""}`);
    records.push([pkg, para]);
    for (const p of await fileList(st.rootfs, pkg, debianArch)) {
      const rel = st.canonical(p);
      if (rel === "" || rel === "." || DROP.some((re) => re.test(rel))) continue;
      const info = await lstat(join(st.rootfs, rel)).catch(() => undefined);
      // Directories come with the files under them (an empty one of a package is not needed).
      if (!info || info.isDirectory()) continue;
      await st.copy(rel);
    }
  }
  return { kept, records };
}

/** The C.UTF-8 locale (libc-bin's), so that LANG=C.UTF-8 programs get UTF-8. */
async function copyLocale(st: Staging): Promise<void> {
  const locale = "usr/lib/locale/C.utf8";
  if (!(await lstat(join(st.rootfs, locale)).catch(() => undefined))?.isDirectory()) return;
  await st.ensureDir(locale);
  for (const e of await readdir(join(st.rootfs, locale), { recursive: true }))
    await st.copy(`${locale}/${e}`);
}

/** The CA bundle (with the extra CAs), users and groups, name service files, /tmp, /root and the user's home. */
async function writeOwnFiles(st: Staging, user: CnbUser, extraCas: readonly ExtraCa[]): Promise<void> {
  const bundle = await readFile(join(st.rootfs, "etc/ssl/certs/ca-certificates.crt"), "utf8").catch(() => "");
  await st.write(
    "etc/ssl/certs/ca-certificates.crt",
    `${[bundle.trimEnd(), ...extraCas.map((c) => c.pem.trim())].filter(Boolean).join("\n")}\n`,
  );
  await st.write(
    "etc/passwd",
    [
      "root:x:0:0:root:/root:/sbin/nologin",
      "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin",
      `${user.name}:x:${user.uid}:${user.gid}:CNB user:${user.home}:/sbin/nologin`,
      "",
    ].join("\n"),
  );
  await st.write(
    "etc/group",
    ["root:x:0:", "tty:x:5:", "staff:x:50:", "nogroup:x:65534:", `${user.group}:x:${user.gid}:`, ""].join(
      "\n",
    ),
  );
  await st.write("etc/nsswitch.conf", NSSWITCH);
  await st.write("etc/hosts", HOSTS);
  await st.write("etc/hostname", "localhost\n");
  // Empty: runtimes bind the host's (or their own) over it, and only over a file that exists.
  await st.write("etc/resolv.conf", "");
  await st.ensureDir("etc");
  await symlink("/usr/share/zoneinfo/Etc/UTC", join(st.dir, "etc/localtime"));
  st.owners.set("etc/localtime", { uid: 0, gid: 0 });
  for (const [rel, mode, uid, gid] of [
    ["tmp", 0o1777, 0, 0],
    ["root", 0o700, 0, 0],
    [user.home.replace(/^\/+|\/+$/g, ""), 0o750, user.uid, user.gid],
  ] as const) {
    await st.ensureDir(dirname(rel));
    await mkdir(join(st.dir, rel), { recursive: true });
    await chmod(join(st.dir, rel), mode);
    st.owners.set(rel, { uid, gid });
  }
}

/** A private staging folder name under `dir`. */
export function tinyStaging(dir: string): string {
  return join(dir, `tiny-staging-${randomBytes(6).toString("hex")}`);
}
