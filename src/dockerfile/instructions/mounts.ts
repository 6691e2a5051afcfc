/**
 * RUN --mount: the option string parsed with BuildKit's keys, defaults and sentences (an unknown key, type or
 * value is an error), and what each mount needs on the host while the step runs: a cache directory (seeded
 * from another stage, shared, private or locked), a secret file with its own mode and owner, an SSH agent
 * socket of its own, a sized tmpfs.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  cp,
  chmod as fsChmod,
  chown as fsChown,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { BerthError } from "../../errors.ts";
import { ramInBytes } from "../../runtime/limits.ts";
import { LockTimeout, withOwnedLock } from "../../util/lock.ts";

export type MountType = "bind" | "cache" | "secret" | "ssh" | "tmpfs";
export type Sharing = "shared" | "private" | "locked";

export interface RunMountSpec {
  type: MountType;
  /** Absolute path in the container (a relative one is resolved against the working directory). */
  target: string;
  id?: string;
  source?: string;
  from?: string;
  readonly: boolean;
  required: boolean;
  sharing?: Sharing;
  mode?: number;
  uid?: number;
  gid?: number;
  /** tmpfs size in bytes. */
  size?: number;
  /** secret: also (or only) as this environment variable. */
  env?: string;
}

const TYPES: readonly MountType[] = ["bind", "cache", "tmpfs", "secret", "ssh"];
const SHARING: readonly Sharing[] = ["shared", "private", "locked"];

function parseBool(key: string, value: string, syntax: (msg: string) => BerthError): boolean {
  const v = value.toLowerCase();
  if (v === "true" || v === "1" || v === "t") return true;
  if (v === "false" || v === "0" || v === "f") return false;
  throw syntax(`invalid value for ${key}: ${value}`);
}

/** A `--mount=` value's fields as written: the type, target and flags, and the other options. */
interface MountFields {
  type: MountType;
  target: string | undefined;
  readonly: boolean | undefined;
  required: boolean | undefined;
  m: Partial<RunMountSpec>;
}

/**
 * Parse one `--mount=` value (already expanded) as BuildKit does. `workdir` resolves a relative target; the
 * default target of a secret is /run/secrets/ID, of an SSH socket /run/buildkit/ssh_agent.N (`sshIndex`).
 */
export function parseMount(text: string, workdir = "/", sshIndex = 0): RunMountSpec {
  const syntax = (msg: string) => new BerthError("DOCKERFILE_SYNTAX", `--mount=${text}: ${msg}`);
  const f: MountFields = { type: "bind", target: undefined, readonly: undefined, required: undefined, m: {} };
  for (const field of text.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) parseFlag(f, key, field, syntax);
    else parseOption(f, key, field.slice(eq + 1), field, syntax);
  }
  const { type, m } = f;
  let target = f.target;
  if (type !== "secret" && type !== "ssh" && type !== "cache") {
    for (const k of ["mode", "uid", "gid"] as const)
      if (m[k] !== undefined) throw syntax(`${k} not allowed for "${type}" type mounts`);
  }
  if (m.sharing !== undefined && type !== "cache")
    throw syntax(`invalid cache sharing set for ${type} mount`);
  if (type === "secret") {
    if (m.from !== undefined) throw syntax("secret mount should not have a from");
    if (m.source === undefined && target === undefined && m.id === undefined)
      throw syntax("invalid secret mount. one of source, target required");
    if (m.source !== undefined && m.id !== undefined) throw syntax("both source and id can't be set");
    // BuildKit: the id is source, else id, else the target's name; the file is at target, else /run/secrets/ID.
    m.id = m.source ?? m.id ?? posix.basename(target!);
    delete m.source;
    if (target === undefined && m.env === undefined) target = `/run/secrets/${posix.basename(m.id)}`;
  }
  if (type === "ssh") {
    if (m.source !== undefined) throw syntax("ssh does not support source");
    m.id ??= "default";
    target ??= `/run/buildkit/ssh_agent.${sshIndex}`;
  }
  if (target === undefined) {
    if (type === "secret") target = "";
    else throw syntax("needs target=");
  }
  // BuildKit's default cache id: the target as written (path.Clean), not resolved against WORKDIR, so
  // `target=cache` is one cache in every WORKDIR.
  if (type === "cache") m.id ??= cleanPath(target);
  if (target !== "") {
    target = posix.resolve(workdir || "/", target);
    if (target === "/") throw syntax(`invalid mount target ${JSON.stringify(target)}`);
  }
  const spec: RunMountSpec = {
    ...m,
    type,
    target,
    readonly: f.readonly ?? !(type === "cache" || type === "tmpfs"),
    required: f.required ?? false,
  };
  if (type === "bind" && spec.from === undefined && spec.source === undefined) spec.source = "/";
  return spec;
}

/** A field without a value: `ro`, `rw`, `required`. */
function parseFlag(f: MountFields, key: string, field: string, syntax: (msg: string) => BerthError): void {
  if (key === "readonly" || key === "ro") f.readonly = true;
  else if (key === "readwrite" || key === "rw") f.readonly = false;
  else if (key === "required" && (f.type === "secret" || f.type === "ssh")) f.required = true;
  else if (key === "required") throw syntax(`unexpected key '${key}' for mount type '${f.type}'`);
  else throw syntax(`invalid field '${field}' must be a key=value pair`);
}

/** A `key=value` field. */
function parseOption(
  f: MountFields,
  key: string,
  value: string,
  field: string,
  syntax: (msg: string) => BerthError,
): void {
  const m = f.m;
  switch (key) {
    case "type":
      if (!TYPES.includes(value.toLowerCase() as MountType))
        throw syntax(`unsupported mount type ${JSON.stringify(value)} (${TYPES.join(", ")} are)`);
      f.type = value.toLowerCase() as MountType;
      return;
    case "from":
      // an empty from is none, as BuildKit (the context for a bind, a fresh directory for a cache)
      if (value === "") delete m.from;
      else m.from = value;
      return;
    case "source":
    case "src":
      m.source = value;
      return;
    case "target":
    case "dst":
    case "destination":
      f.target = value;
      return;
    case "readonly":
    case "ro":
      f.readonly = parseBool(key, value, syntax);
      return;
    case "readwrite":
    case "rw":
      f.readonly = !parseBool(key, value, syntax);
      return;
    case "required":
      if (f.type !== "secret" && f.type !== "ssh")
        throw syntax(`unexpected key '${key}' for mount type '${f.type}'`);
      f.required = parseBool(key, value, syntax);
      return;
    case "size": {
      if (f.type !== "tmpfs") throw syntax(`unexpected key '${key}' for mount type '${f.type}'`);
      const size = ramInBytes(value);
      if (size === undefined) throw syntax(`invalid value for size: ${value}`);
      m.size = size;
      return;
    }
    case "id":
      m.id = value;
      return;
    case "sharing":
      if (!SHARING.includes(value.toLowerCase() as Sharing))
        throw syntax(`unsupported sharing value ${JSON.stringify(value)} (${SHARING.join(", ")} are)`);
      m.sharing = value.toLowerCase() as Sharing;
      return;
    case "mode":
      if (!/^[0-7]+$/.test(value)) throw syntax(`invalid value ${value} for mode`);
      m.mode = Number.parseInt(value, 8);
      return;
    case "uid":
    case "gid":
      if (!/^\d+$/.test(value)) throw syntax(`invalid value ${value} for ${key}`);
      m[key] = Number(value);
      return;
    case "env":
      m.env = value;
      return;
    default:
      throw syntax(`unexpected key '${key}' in '${field}'`);
  }
}

/** Go's path.Clean: no `.`, `..` resolved, no trailing slash. */
function cleanPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** The path a mount selects in its source: `source` made absolute and clean (Go's path.Join), "/" without one. */
export function mountSource(m: RunMountSpec): string {
  return cleanPath(posix.join("/", m.source ?? "/"));
}

/**
 * A cache mount with mode, uid or gid and no source: BuildKit's frontend mounts `/cache` of its source (`from`,
 * else scratch) after a mkdir of it with them, which keeps a `/cache` directory the source has.
 */
export function madeCacheDir(m: RunMountSpec): boolean {
  return m.type === "cache" && mountSource(m) === "/" && (m.mode ?? m.uid ?? m.gid) !== undefined;
}

/**
 * What of a mount's options its step's key holds, as BuildKit's exec op holds them. A cache mount: its target,
 * id (`parseMount`'s default: the target as written), sharing (default shared), readonly and source, and mode/uid/gid only without a
 * source (the frontend then makes the directory of them; with a source it drops them, and so does
 * `leaseCacheDir`). Any mount: no `from`, since what it reads is keyed on its own (the source's key, or the
 * content it selects), as BuildKit keys an input by its definition or content and not by its name.
 */
export function mountKey(m: RunMountSpec): Record<string, unknown> {
  if (m.type !== "cache") {
    const { from: _from, ...rest } = m;
    return rest;
  }
  const source = mountSource(m);
  return {
    type: m.type,
    target: m.target,
    id: m.id,
    sharing: m.sharing ?? "shared",
    readonly: m.readonly,
    source,
    ...(source === "/" ? { mode: m.mode, uid: m.uid, gid: m.gid } : {}),
  };
}

/** A directory a cache mount uses while the step runs, and how to give it back. */
export interface CacheLease {
  dir: string;
  release(): Promise<void>;
}

/** Hold `<path>.lock` (util/lock.ts) until `release`; with `waitMs` 0, undefined when another holds it. */
function hold(path: string, waitMs: number): Promise<(() => Promise<void>) | undefined> {
  return new Promise((resolve, reject) => {
    let done!: () => void;
    const held = new Promise<void>((r) => {
      done = r;
    });
    const finished = withOwnedLock(
      path,
      async () => {
        resolve(async () => {
          done();
          await finished;
        });
        await held;
      },
      { waitMs },
    ).catch((err) => {
      if (err instanceof LockTimeout) resolve(undefined);
      else reject(err);
    });
  });
}

/**
 * The host directory of a cache mount: one per id (default: the target) and seed (`from`+`source`, or the
 * mode and owner of a `madeCacheDir`), shared by every build; `sharing=locked` waits for other builds to give
 * it back, `private` takes another instance while it is in use. A new directory starts as a copy of `seed` (what it selects in the `from` stage: `source`,
 * or `/cache` for `madeCacheDir`), else empty with `mode`/`uid`/`gid` when the mount has no source (BuildKit's
 * frontend drops them with one).
 */
export async function leaseCacheDir(
  home: string,
  m: RunMountSpec,
  seed: { id: string; path: string | undefined } | undefined,
): Promise<CacheLease> {
  const name = createHash("sha256")
    // a made directory is a source of its own (BuildKit's mkdir snapshot): one cache per mode and owner
    .update(
      JSON.stringify([m.id ?? m.target, seed?.id ?? "", ...(madeCacheDir(m) ? [m.mode, m.uid, m.gid] : [])]),
    )
    .digest("hex")
    .slice(0, 32);
  const base = join(home, "cache", "dockerfile", "mounts");
  await mkdir(base, { recursive: true });
  const sharing = m.sharing ?? "shared";
  let dir = join(base, name);
  let release: (() => Promise<void>) | undefined;
  if (sharing === "locked") release = await hold(dir, Number.POSITIVE_INFINITY);
  else if (sharing === "private") {
    for (let i = 0; release === undefined; i++) {
      const d = i === 0 ? dir : `${dir}-${i}`;
      release = await hold(d, 0);
      if (release) dir = d;
    }
  }
  const existed = await lstat(dir).then(
    () => true,
    () => false,
  );
  if (!existed) {
    const fresh = `${dir}.new-${randomBytes(4).toString("hex")}`;
    if (seed?.path !== undefined) {
      await cp(seed.path, fresh, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    } else {
      // mode/uid/gid only without a source, as BuildKit's frontend (and `mountKey`); a seed stays as it is.
      await mkdir(fresh);
      const asked = mountSource(m) === "/";
      await fsChmod(fresh, (asked ? m.mode : undefined) ?? 0o755);
      if (asked) await chownAsked(fresh, m);
    }
    // Another build may have made it meanwhile: theirs stays.
    await rename(fresh, dir).catch(() => rm(fresh, { recursive: true, force: true }));
  }
  return {
    dir,
    release: async () => {
      await release?.();
    },
  };
}

/** Give a file the mount's uid/gid when it asks for them (files berth makes are its own, root's, otherwise). */
async function chownAsked(path: string, m: RunMountSpec): Promise<void> {
  if (m.uid !== undefined || m.gid !== undefined) await fsChown(path, m.uid ?? 0, m.gid ?? 0);
}

/**
 * Where a `--secret` comes from (docker buildx's sources): a host file, or an environment variable's value
 * (read by the CLI; `env` is its name, for messages, never the value).
 */
export type SecretSource = { file: string } | { env: string; value: string };

/** A secret's bytes. */
export async function secretValue(src: SecretSource): Promise<Buffer> {
  return "file" in src ? readFile(src.file) : Buffer.from(src.value);
}

/** A secret as a file of its own (mode default 0400, owner uid:gid default 0:0) for a bind mount. */
export async function secretFile(dir: string, value: Buffer, m: RunMountSpec): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `secret-${randomBytes(6).toString("hex")}`);
  await writeFile(path, value, { mode: 0o600 });
  await chownAsked(path, m);
  await fsChmod(path, m.mode ?? 0o400);
  return path;
}

/**
 * An SSH agent socket of the step's own (owner uid:gid, mode default 0600) that forwards each connection
 * to the agent the user gave (`--ssh default=$SSH_AUTH_SOCK`), as BuildKit forwards it.
 */
export async function sshProxy(
  agent: string,
  m: RunMountSpec,
): Promise<{ path: string; close(): Promise<void> }> {
  // A socket's path must fit in 108 bytes: a short private folder of its own, not the build's.
  // 0700: no host user reaches the agent through it (the step reaches it by its bind mount).
  const own = await mkdtemp(join(tmpdir(), "berth-ssh-"));
  const path = join(own, "agent.sock");
  // node:net (and the 30 of Node's modules it loads) only for a step that forwards an agent
  const { createConnection, createServer } = await import("node:net");
  const server: Server = createServer((c) => {
    const up = createConnection(agent);
    up.on("error", () => c.destroy());
    c.on("error", () => up.destroy());
    c.pipe(up).pipe(c);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  await chownAsked(path, m);
  await fsChmod(path, m.mode ?? 0o600);
  return {
    path,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await rm(own, { recursive: true, force: true });
    },
  };
}
