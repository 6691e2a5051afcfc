/**
 * ADD from a git repository, as BuildKit: `https://host/repo.git#ref:subdir`, `git@host:repo#ref`,
 * `git://host/repo`, `ssh://…`, with `?ref=…&subdir=…&checksum=…&keep-git-dir=…` too. The system's git clones
 * it (file:// and ext:: transports refused, no prompts), checks out the ref's commit with its submodules, and
 * `--checksum` must be a prefix of that commit's hash (or the annotated tag's), as BuildKit's git source checks.
 */
import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { BerthError } from "../../errors.ts";

export interface GitRef {
  remote: string;
  ref: string | undefined;
  subdir: string | undefined;
  checksum: string | undefined;
  keepGitDir: boolean | undefined;
}

/** Split a git source into its remote and the ref, subdir and options its fragment or query gives. */
export function parseGitRef(src: string): GitRef {
  let remote = src;
  let fragment: string | undefined;
  const hash = remote.indexOf("#");
  if (hash >= 0) {
    fragment = remote.slice(hash + 1);
    remote = remote.slice(0, hash);
  }
  const out: GitRef = {
    remote,
    ref: undefined,
    subdir: undefined,
    checksum: undefined,
    keepGitDir: undefined,
  };
  const q = /^(?:https?|git|ssh):\/\//.test(remote) ? remote.indexOf("?") : -1;
  if (q >= 0) {
    const params = new URLSearchParams(remote.slice(q + 1));
    out.remote = remote.slice(0, q);
    for (const [k, v] of params) {
      if (k === "ref" || k === "branch" || k === "tag") out.ref = v;
      else if (k === "subdir") out.subdir = v;
      else if (k === "checksum" || k === "commit") out.checksum = v;
      else if (k === "keep-git-dir") out.keepGitDir = v === "true" || v === "1";
      else if (k !== "submodules")
        throw new BerthError(
          "DOCKERFILE_SYNTAX",
          `git source ${src}: unexpected query key ${JSON.stringify(k)}`,
        );
    }
  }
  if (fragment !== undefined && fragment !== "") {
    const colon = fragment.indexOf(":");
    const ref = colon < 0 ? fragment : fragment.slice(0, colon);
    if (ref !== "") out.ref = ref;
    if (colon >= 0 && fragment.slice(colon + 1) !== "") out.subdir = fragment.slice(colon + 1);
  }
  if (out.ref?.startsWith("-") || out.remote.startsWith("-"))
    throw new BerthError("DOCKERFILE_SYNTAX", `git source ${JSON.stringify(src)} is invalid`);
  return out;
}

/** Run git with transports limited and prompts off; its stdout, or an error carrying its stderr. */
function git(args: string[], env: Record<string, string | undefined>, signal?: AbortSignal): Promise<string> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  childEnv.GIT_TERMINAL_PROMPT = "0";
  const full = ["-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never", ...args];
  return new Promise((resolve, reject) => {
    const child = spawn("git", full, { env: childEnv, stdio: ["ignore", "pipe", "pipe"], signal });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        e.code === "ENOENT"
          ? new BerthError("DOCKERFILE_UNSUPPORTED", "ADD of a git repository needs the git command", {
              hint: "apt-get install git",
            })
          : e,
      ),
    );
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString("utf8"));
      else
        reject(
          new BerthError(
            "DOCKERFILE_SOURCE_NOT_FOUND",
            `git ${args[0]} failed: ${Buffer.concat(err).toString("utf8").trim() || `exit code ${code}`}`,
          ),
        );
    });
  });
}

/**
 * Clone `ref.remote` into `dir` and check out the ref (default: the remote's HEAD); returns the commit. The
 * `.git` folder is removed unless `keepGitDir`.
 */
export async function fetchGit(
  ref: GitRef,
  dir: string,
  o: {
    checksum: string | undefined;
    keepGitDir: boolean;
    env: Record<string, string | undefined>;
    signal?: AbortSignal | undefined;
    /** What messages start with, before the repository (default `ADD `). */
    who?: string;
  },
): Promise<{ commit: string }> {
  const checksum = o.checksum ?? ref.checksum;
  if (checksum !== undefined && !/^[a-fA-F0-9]+$/.test(checksum))
    throw new BerthError(
      "DOCKERFILE_SYNTAX",
      `invalid checksum ${checksum} for Git URL, expected hex commit hash`,
    );
  const where = `${ref.remote}${ref.ref ? `#${ref.ref}` : ""}`;
  try {
    await git(["clone", "--quiet", "--no-checkout", "--", ref.remote, dir], o.env, o.signal);
    let commit: string | undefined;
    let tag = "";
    const candidates = ref.ref
      ? [`refs/remotes/origin/${ref.ref}`, `refs/tags/${ref.ref}`, ref.ref]
      : ["HEAD"];
    for (const c of candidates) {
      try {
        commit = (await git(["-C", dir, "rev-parse", "--verify", "--quiet", `${c}^{commit}`], o.env)).trim();
        tag = (await git(["-C", dir, "rev-parse", "--verify", "--quiet", c], o.env)).trim();
        break;
      } catch {
        // the next way to read the ref
      }
    }
    if (!commit)
      throw new BerthError(
        "DOCKERFILE_SOURCE_NOT_FOUND",
        `repository does not contain ref ${ref.ref ?? "HEAD"}`,
      );
    if (checksum !== undefined) {
      const c = checksum.toLowerCase();
      if (!commit.startsWith(c) && !(tag !== commit && tag.startsWith(c)))
        throw new BerthError(
          "DIGEST_MISMATCH",
          `expected checksum to match ${checksum}, got ${commit}${tag !== commit ? ` or ${tag}` : ""}`,
          { hint: "the ref moved, or the checksum is wrong" },
        );
    }
    await git(["-C", dir, "checkout", "--quiet", "--detach", commit], o.env, o.signal);
    await git(["-C", dir, "submodule", "update", "--init", "--recursive", "--quiet"], o.env, o.signal);
    if (!o.keepGitDir) await rm(`${dir}/.git`, { recursive: true, force: true });
    return { commit };
  } catch (err) {
    if (err instanceof BerthError)
      throw new BerthError(err.code, `${o.who ?? "ADD "}${where}: ${err.message}`, { cause: err });
    throw err;
  }
}
