/**
 * Rootless runs need the kernel to let an unprivileged user create a user namespace. Where it does not, say so
 * in one sentence naming the setting, instead of the OCI runtime's raw text ("nsexec-1: failed to unshare user
 * namespace: Operation not permitted"). Also: the caller's subordinate id ranges (/etc/subuid, /etc/subgid),
 * which let a rootless container map more than its own id (and so run as a non-root image user).
 */
import { readFile } from "node:fs/promises";
import { BerthError } from "../errors.ts";
import { which } from "../util/which.ts";
import type { IdRange } from "./spec.ts";

const HINT_ENABLE =
  "as root: sysctl -w kernel.unprivileged_userns_clone=1 (Debian/Ubuntu kernels) and sysctl -w user.max_user_namespaces=15000, or run berth as root";

async function sysctl(path: string): Promise<string | undefined> {
  return (await readFile(path, "utf8").catch(() => undefined))?.trim();
}

/**
 * Why this kernel forbids an unprivileged user to create user namespaces, as a sentence; undefined when it
 * permits it (as far as the sysctls tell: a limit in an enclosing namespace or a security module may still
 * refuse, which `userNamespaceFailure` explains after the fact).
 */
export async function userNamespaceForbidden(proc = "/proc"): Promise<string | undefined> {
  if ((await sysctl(`${proc}/sys/kernel/unprivileged_userns_clone`)) === "0") {
    return "this kernel forbids unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone = 0), so berth cannot run containers rootless";
  }
  if ((await sysctl(`${proc}/sys/user/max_user_namespaces`)) === "0") {
    return "this kernel allows no user namespaces (sysctl user.max_user_namespaces = 0), so berth cannot run containers rootless";
  }
  return undefined;
}

/** Throw the clear error when the kernel forbids rootless runs. */
export async function assertUserNamespaces(proc = "/proc"): Promise<void> {
  const why = await userNamespaceForbidden(proc);
  if (why !== undefined) throw new BerthError("RUNTIME_FAILED", why, { hint: HINT_ENABLE });
}

/**
 * The runtime's messages (runc's JSON log, crun's stderr) when a rootless start failed because no user
 * namespace could be made, turned into one sentence; undefined for any other failure.
 */
export function userNamespaceFailure(messages: readonly string[]): BerthError | undefined {
  const text = messages.join("\n");
  const m =
    /unshare user namespace:\s*([^\n"]+)/i.exec(text) ??
    /(?:create|creating|clone).{0,40}user namespace.{0,20}:\s*([^\n"]+)/i.exec(text);
  if (!m) return undefined;
  const errno = m[1]!.trim().toLowerCase();
  if (errno.includes("no space left")) {
    return new BerthError(
      "RUNTIME_FAILED",
      "the kernel allows this user no more user namespaces (sysctl user.max_user_namespaces, here or in an enclosing namespace, is used up), so berth cannot run this container rootless",
      { hint: "as root: sysctl -w user.max_user_namespaces=15000", details: { runtime: text } },
    );
  }
  if (errno.includes("not permitted") || errno.includes("permission denied")) {
    return new BerthError(
      "RUNTIME_FAILED",
      "the kernel does not let this user create user namespaces (sysctl kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns or a security policy forbids it), so berth cannot run containers rootless",
      { hint: HINT_ENABLE, details: { runtime: text } },
    );
  }
  return new BerthError(
    "RUNTIME_FAILED",
    `the kernel refused to create a user namespace (${m[1]!.trim()}), so berth cannot run this container rootless`,
    { hint: HINT_ENABLE, details: { runtime: text } },
  );
}

/** One `name:start:count` file (/etc/subuid, /etc/subgid): the first range for the user's name or uid. */
export function parseSubIds(text: string, name: string | undefined, id: number): IdRange | undefined {
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (!who || start === undefined || count === undefined) continue;
    if (who !== name && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/**
 * The caller's subordinate uid and gid ranges, when both files give one and `newuidmap`/`newgidmap` exist on
 * `searchPath` (runc uses them to write maps beyond the caller's own id).
 */
export async function subordinateIds(
  name: string | undefined,
  uid: number,
  gid: number,
  searchPath: string,
  etc = "/etc",
): Promise<{ uids: IdRange; gids: IdRange } | undefined> {
  const [u, g] = await Promise.all([
    readFile(`${etc}/subuid`, "utf8").catch(() => ""),
    readFile(`${etc}/subgid`, "utf8").catch(() => ""),
  ]);
  const uids = parseSubIds(u, name, uid);
  const gids = parseSubIds(g, name, gid);
  if (!uids || !gids) return undefined;
  if (!(await which("newuidmap", searchPath)) || !(await which("newgidmap", searchPath))) return undefined;
  return { uids, gids };
}

/**
 * Whether this process is in a user namespace that maps a single uid or gid (berth rerun without root and
 * without subordinate ids: the caller as 0, nothing else).
 */
export async function singleIdNamespace(proc = "/proc"): Promise<boolean> {
  const size = async (file: string) =>
    (await readFile(`${proc}/self/${file}`, "utf8").catch(() => ""))
      .split("\n")
      .map((l) => Number(l.trim().split(/\s+/)[2] ?? 0))
      .reduce((a, b) => a + b, 0);
  const [u, g] = await Promise.all([size("uid_map"), size("gid_map")]);
  return u === 1 || g === 1;
}

/** Whether this process is in a user namespace other than the host's (its uid map is not the whole range). */
export async function inUserNamespace(proc = "/proc"): Promise<boolean> {
  const map = await readFile(`${proc}/self/uid_map`, "utf8").catch(() => "");
  return map !== "" && map.trim().split(/\s+/).join(" ") !== "0 0 4294967295";
}
