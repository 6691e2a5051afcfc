import { BerthError } from "../errors.ts";

/** A failure as the CLI prints it: one sentence and, where something can be done, a hint. */
export interface Rendered {
  message: string;
  hint: string | undefined;
}

type Errno = NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string; dest?: string };

/** The system error (errno) at the bottom of a failure, if any: a BerthError's causes are followed. */
function errnoOf(err: unknown): Errno | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 10 && e && typeof e === "object"; depth++) {
    const x = e as Errno;
    if (
      !(e instanceof BerthError) &&
      typeof x.code === "string" &&
      /^E[A-Z0-9_]+$/.test(x.code) &&
      (typeof x.syscall === "string" || typeof x.hostname === "string")
    ) {
      return x;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

const VERBS: Record<string, string> = {
  open: "open",
  mkdir: "make the folder",
  mkdtemp: "make a folder in",
  rmdir: "remove the folder",
  unlink: "remove",
  rename: "rename",
  chown: "change the owner of",
  lchown: "change the owner of",
  chmod: "change the mode of",
  symlink: "make a link at",
  link: "make a link at",
  copyfile: "copy",
  write: "write",
  read: "read",
  scandir: "list",
  mount: "mount",
};

/** One sentence and a hint for a system error: what failed, on which path or host. */
export function explainErrno(e: Errno, home: string): Rendered | undefined {
  const path = e.path ? `${e.path}${e.dest ? ` (to ${e.dest})` : ""}` : undefined;
  const at = e.address ? `${e.address}${e.port ? `:${e.port}` : ""}` : undefined;
  switch (e.code) {
    case "ENOENT":
      return {
        message: path ? `no such file or folder: ${path}` : "a file or folder berth needs does not exist",
        hint: "check the path (a relative one is taken from the current folder)",
      };
    case "ENOTDIR":
      return { message: `${path ?? "a path"}: a part of it is a file, not a folder`, hint: "check the path" };
    case "EISDIR":
      return { message: `${path ?? "a path"} is a folder, where a file was expected`, hint: "name a file" };
    case "ENOSPC":
    case "EDQUOT":
      return {
        message: `no space left on the disk${path ? ` holding ${path}` : ""}${e.code === "EDQUOT" ? " (quota reached)" : ""}`,
        hint: `free space (berth store gc removes blobs no image uses), or point BERTH_HOME (${home}) at a larger disk`,
      };
    case "EACCES":
    case "EPERM":
      return {
        message: `not permitted to ${VERBS[e.syscall ?? ""] ?? e.syscall ?? "use"} ${path ?? "a file"}`,
        hint: "run berth as a user allowed to do this there (or as root), or choose another path",
      };
    case "EROFS":
      return { message: `${path ?? "a path"} is on a read-only file system`, hint: "choose a writable path" };
    case "ESPIPE":
      return {
        message: `${path ?? "the input"} is a pipe or terminal, which berth cannot read at a position`,
        hint: "save it to a file first, or give - to read standard input where the command takes it",
      };
    case "EMFILE":
    case "ENFILE":
      return { message: "too many open files", hint: "raise the limit (ulimit -n) or use fewer --jobs" };
    case "ECONNREFUSED":
      return {
        message: `the connection to ${at ?? "the server"} was refused: nothing listens there`,
        hint: "check that the registry runs at that host and port (a plain-HTTP one needs --insecure-registry HOST)",
      };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        message: `cannot resolve the host name ${e.hostname ?? "of the registry"}`,
        hint: "check the registry's name, and this machine's DNS and network",
      };
    case "ETIMEDOUT":
    case "ECONNRESET":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return {
        message: `${at ?? "the server"} ${e.code === "ETIMEDOUT" ? "did not answer in time" : e.code === "ECONNRESET" ? "closed the connection" : "cannot be reached from this machine"}`,
        hint: "check the network and the registry, then try again",
      };
    default:
      return undefined;
  }
}

/**
 * The sentence the CLI prints for a failure: a raw system error (`ENOENT: no such file or directory, lstat
 * '/x'`, `connect ECONNREFUSED 127.0.0.1:1`) becomes a sentence naming the path or host, after the steps
 * that led to it.
 */
export function renderError(err: BerthError | Errno, home: string): Rendered {
  const own = err instanceof BerthError ? err : undefined;
  const errno = errnoOf(err);
  const explained = errno ? explainErrno(errno, home) : undefined;
  if (!explained || !errno) return { message: err.message, hint: own?.hint };
  if (!own) return explained;
  // the steps before the system's words ("reading docker://h/x:1: reaching registry h: URL: ECONNREFUSED …")
  const raw = [errno.message, `${errno.code} `, `${errno.code}:`]
    .map((s) => own.message.indexOf(s))
    .filter((i) => i >= 0);
  const cut = raw.length ? Math.min(...raw) : -1;
  const steps = cut >= 0 ? own.message.slice(0, cut).replace(/[:\s]+$/, "") : own.message;
  return {
    message: steps ? `${steps}: ${explained.message}` : explained.message,
    hint: own.hint ?? explained.hint,
  };
}
