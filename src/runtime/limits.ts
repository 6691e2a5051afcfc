/**
 * The limits a build's commands run under, as docker's flags give them: `--ulimit TYPE=SOFT[:HARD]` (go-units'
 * ParseUlimit: the runtime spec's `process.rlimits`), `--shm-size` (go-units' RAMInBytes: the size of the
 * /dev/shm tmpfs) and `--cgroup-parent` (BuildKit's executor: the `linux.cgroupsPath` under that parent).
 */
import { BerthError } from "../errors.ts";

/** One `process.rlimits` entry of the runtime spec (`RLIMIT_NOFILE`…; -1 is unlimited, RLIM_INFINITY). */
export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

/** docker's ulimit names (go-units' ulimitNameMapping; `as` is left out there too). */
const ULIMIT_NAMES = [
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];

/** A whole number as Go's strconv.ParseInt reads it (base 10, an optional sign). */
function int64(text: string): number | undefined {
  return /^[+-]?\d+$/.test(text) ? Number(text) : undefined;
}

/**
 * One `--ulimit TYPE=SOFT[:HARD]` (HARD defaults to SOFT; -1: unlimited), refused with go-units' sentence
 * naming the flag: an unknown type, a value that is no number, a soft limit over the hard one.
 */
export function parseUlimit(text: string, flag = "--ulimit"): Rlimit {
  const fail = (why: string, hint?: string) =>
    new BerthError("USAGE", `${flag} ${JSON.stringify(text)}: ${why}`, hint ? { hint } : {});
  const eq = text.indexOf("=");
  if (eq < 0) throw fail(`invalid ulimit argument: ${text}`, "give TYPE=SOFT[:HARD], e.g. nofile=1024:2048");
  const name = text.slice(0, eq);
  if (!ULIMIT_NAMES.includes(name))
    throw fail(`invalid ulimit type: ${name}`, `give one of ${ULIMIT_NAMES.join(", ")}`);
  const values = text.slice(eq + 1).split(":");
  if (values.length > 2)
    throw fail(
      `too many limit value arguments - ${text.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``,
    );
  const [soft, hard = soft] = values.map((v) => {
    const n = int64(v);
    if (n === undefined) throw fail(`${JSON.stringify(v)} is not a whole number`);
    return n;
  }) as [number, number?];
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw fail(
      `ulimit soft limit must be less than or equal to hard limit: ${soft === -1 ? "soft: -1 (unlimited), hard: " : `${soft} > `}${hard}`,
    );
  }
  return { type: `RLIMIT_${name.toUpperCase()}`, soft, hard };
}

/**
 * Every `--ulimit`, a later one of a type replacing an earlier (docker's UlimitOpt is a map by name), in the
 * order of their names: the same flags in any order give the same limits (and the same cache key).
 */
export function parseUlimits(values: readonly string[], flag = "--ulimit"): Rlimit[] {
  const byType = new Map(values.map((v) => parseUlimit(v, flag)).map((r) => [r.type, r]));
  return [...byType.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** docker's RAMInBytes: `64m`, `1g`, `512k`, `1.5GiB`, `1048576` (binary units; undefined when not a size). */
export function ramInBytes(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text);
  if (!m) return undefined;
  const exp = m[2] ? "kmgtp".indexOf(m[2].toLowerCase()) + 1 : 0;
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

/**
 * `--shm-size`: the bytes of RUN's /dev/shm, undefined for 0 (buildx then sends none: the runtime's default
 * 64 MiB); a value that is no size is refused naming the flag.
 */
export function parseShmSize(text: string, flag = "--shm-size"): number | undefined {
  const n = ramInBytes(text.trim());
  if (n === undefined) {
    throw new BerthError("USAGE", `${flag} ${JSON.stringify(text)} is not a size`, {
      hint: "give bytes, or a number with k, m or g (binary units): --shm-size 128m",
    });
  }
  return n > 0 ? n : undefined;
}

/**
 * BuildKit's executor's `linux.cgroupsPath` of container `id` under `parent` (executor/oci/spec.go): a systemd
 * slice ending in `:` takes the id after it, any other parent `/PARENT/buildkit/ID`.
 */
export function cgroupsPath(parent: string, id: string): string {
  if (parent.includes(".slice") && parent.endsWith(":")) return `${parent}${id}`;
  // filepath.Join cleans `//`, `.` and `..` (never above the root)
  const parts: string[] = [];
  for (const p of `${parent}/buildkit/${id}`.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return `/${parts.join("/")}`;
}
