/**
 * Resolve an image's `User` (`name`, `uid`, `name:group`, `uid:gid`, …) through the root filesystem's
 * `/etc/passwd` and `/etc/group`, as Docker does: numeric ids work without the files, a name that is not in
 * them is USER_NOT_FOUND, supplementary groups are the groups that list the user. The files are read
 * confined to the root: symlinks are followed inside it (securejoin's rule), never out of it.
 */
import { lstat, readFile, readlink } from "node:fs/promises";
import { BerthError } from "../errors.ts";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The home directory from /etc/passwd, when the user has an entry. */
  home?: string;
  /** The name from /etc/passwd, when the user has an entry. */
  name?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_LINKS = 40;
const MAX_SIZE = 4 * 1024 * 1024;

/** The host path of `path` inside `root`, following symlinks inside the root; undefined when missing. */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const queue = path.split("/").filter((c) => c !== "" && c !== ".");
  const cur: string[] = [];
  let links = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === "..") {
      cur.pop();
      continue;
    }
    const host = `${root}/${[...cur, c].join("/")}`;
    const st = await lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = await readlink(host);
      if (target.startsWith("/")) cur.length = 0;
      queue.unshift(...target.split("/").filter((s) => s !== "" && s !== "."));
      continue;
    }
    cur.push(c);
  }
  return cur.length === 0 ? root : `${root}/${cur.join("/")}`;
}

/**
 * Where a root's path is on the host, links followed inside the root (undefined when missing): a directory
 * (`resolveInRoot`), or layer directories read as a union (`unionFinder`) when the root is not mounted.
 */
export type RootFinder = (path: string) => Promise<string | undefined>;

/** A root directory on the host as a `RootFinder`. */
export const dirFinder =
  (root: string): RootFinder =>
  (path) =>
    resolveInRoot(root, path);

async function readEtc(find: RootFinder, path: string): Promise<string | undefined> {
  const host = await find(path);
  if (!host) return undefined;
  const st = await lstat(host);
  if (!st.isFile() || st.size > MAX_SIZE) return undefined;
  return readFile(host, "utf8");
}

/** A decimal uid or gid (an empty field is none, not 0). */
const isId = (s: string) => /^\d+$/.test(s) && Number(s) < 2 ** 32;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    if (!isId(f[2]!) || !isId(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(":");
    if (f.length < 3) continue;
    if (!isId(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) });
  }
  return out;
}

/**
 * Resolve `spec` (empty: root) in the root `rootDir` (a directory or a `RootFinder`). `image` names the
 * image in errors.
 * Supplementary groups come from /etc/group for a user with a passwd entry, unless a group was given.
 */
export async function resolveUser(
  rootDir: string | RootFinder,
  spec: string | undefined,
  image: string,
): Promise<ResolvedUser> {
  const text = (spec ?? "").trim();
  const colon = text.indexOf(":");
  const userPart = colon < 0 ? text : text.slice(0, colon);
  const groupPart = colon < 0 ? undefined : text.slice(colon + 1);
  const find = typeof rootDir === "string" ? dirFinder(rootDir) : rootDir;
  const [passwdText, groupText] = await Promise.all([
    readEtc(find, "/etc/passwd"),
    readEtc(find, "/etc/group"),
  ]);
  const passwd = parsePasswd(passwdText ?? "");
  const groups = parseGroup(groupText ?? "");

  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === "" || isId(userPart)) {
    uid = userPart === "" ? 0 : Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new BerthError(
        "USER_NOT_FOUND",
        `user ${JSON.stringify(userPart)} is not in /etc/passwd of ${image}`,
        {
          hint: "give a numeric uid[:gid], or a user the image defines",
          details: { user: userPart, image },
        },
      );
    }
    uid = entry.uid;
  }

  let gid: number;
  if (groupPart === undefined || groupPart === "") {
    gid = entry?.gid ?? 0;
  } else if (isId(groupPart)) {
    gid = Number(groupPart);
  } else {
    const g = groups.find((x) => x.name === groupPart);
    if (!g) {
      throw new BerthError(
        "USER_NOT_FOUND",
        `group ${JSON.stringify(groupPart)} is not in /etc/group of ${image}`,
        {
          hint: "give a numeric gid, or a group the image defines",
          details: { group: groupPart, image },
        },
      );
    }
    gid = g.gid;
  }

  const additionalGids: number[] = [];
  // No group given (`user` or `user:`): the groups that list the user, as Docker's GetExecUser.
  if ((groupPart === undefined || groupPart === "") && entry) {
    for (const g of groups) {
      if (g.members.includes(entry.name) && g.gid !== gid && !additionalGids.includes(g.gid)) {
        additionalGids.push(g.gid);
      }
    }
  }
  const out: ResolvedUser = { uid, gid, additionalGids };
  if (entry) {
    out.home = entry.home;
    out.name = entry.name;
  }
  return out;
}
