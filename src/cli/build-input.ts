/**
 * What people type after `docker build` for the context and the Dockerfile, as docker/cli's build command reads
 * them (cli/command/image/build.go, build/context.go): `-f -` (the Dockerfile from standard input), the context
 * `-` (standard input: a Dockerfile alone, or a tar of the context, plain or compressed), a git repository
 * (`https://host/repo.git#ref:subdir`, `git@…`, `git://…`) and an http(s) URL of a tarball or a Dockerfile.
 * Whatever is not a folder of the user's is made into a temporary folder of berth's own (under BERTH_HOME/tmp): tars are extracted by
 * berth's layer reader (confined: no entry lands outside it), git repositories and URLs fetched as ADD does.
 */
import { createWriteStream, statSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../errors.ts";
import { ownedTempDir } from "../util/fs.ts";

/** Where the context comes from, in docker's order: `-`, a folder, a git repository, a URL. */
export type ContextInput =
  | { kind: "dir"; dir: string }
  | { kind: "stdin" }
  | { kind: "git"; url: string }
  | { kind: "url"; url: string };

/** The context argument as docker build reads it (a folder of that name wins over the URL forms). */
export async function contextInput(arg: string, cwd: string): Promise<ContextInput> {
  if (arg === "-") return { kind: "stdin" };
  const dir = resolve(cwd, arg);
  if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return { kind: "dir", dir };
  // ADD's module, loaded only for a context that is no folder
  const { isGitSource } = await import("../dockerfile/instructions/copy.ts");
  if (isGitSource(arg)) return { kind: "git", url: arg };
  if (/^https?:\/\//i.test(arg)) return { kind: "url", url: arg };
  return { kind: "dir", dir };
}

/** A context ready to build: its folder, the Dockerfile when the input fixed it, and what to remove after. */
export interface PreparedContext {
  contextDir: string;
  /** Set when the Dockerfile came from standard input or from the remote context (its path inside). */
  dockerfile: string | undefined;
  /** Why this is a Dockerfile build, when the input says so (a remote or standard-input context, or `-f -`). */
  reason: string | undefined;
  /** How the build's first line names the Dockerfile when the input gave it. */
  shown: string | undefined;
  /** The context is berth's own folder (standard input, git, a URL): no `.dockerignore`, as BuildKit's. */
  remote: boolean;
  /** The Dockerfile lies inside the context (a remote or standard-input one): it is read confined to it. */
  inContext: boolean;
  cleanup: () => Promise<void>;
}

/** What preparing a context reads: standard input, the environment git runs in, and the Dockerfile flag. */
export interface InputHost {
  stdin: () => NodeJS.ReadableStream;
  /** Asked only when standard input is read (making Node's stdin stream costs ~0.6 ms). */
  stdinIsTerminal: () => boolean;
  env: Record<string, string | undefined>;
  /** `-f`/`--dockerfile` as given (true: --dockerfile without a path). */
  dockerfile: string | boolean | undefined;
  /** The flag's spelling, for messages. */
  flag: string;
  /** Where the temporary context goes (BERTH_HOME/tmp: a killed berth's is swept by the next command). */
  tmp: string;
  /** `--build-arg BUILDKIT_CONTEXT_KEEP_GIT_DIR=1`: a git context keeps its `.git` (as `#…:keep-git-dir=true`). */
  keepGitDir: boolean;
}

/**
 * Make the context a folder: a folder is used as it is (with `-f -`, the Dockerfile is read from standard input
 * into a temporary file); standard input, a git repository or a URL become a temporary folder.
 */
export async function prepareContext(input: ContextInput, h: InputHost): Promise<PreparedContext> {
  const dfStdin = h.dockerfile === "-";
  if (input.kind === "dir" && !dfStdin)
    return {
      contextDir: input.dir,
      dockerfile: undefined,
      reason: undefined,
      shown: undefined,
      remote: false,
      inContext: false,
      cleanup: async () => {},
    };
  if (input.kind === "stdin" && dfStdin) {
    throw new BerthError("USAGE", `${h.flag} - and the context - both read standard input`, {
      hint: "give the Dockerfile as a file (-f PATH) or the context as a folder",
    });
  }
  const tmp = await ownedTempDir(h.tmp, "context-");
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  try {
    if (input.kind === "dir") {
      const file = await readStdin(h, join(tmp, "Dockerfile"), `${h.flag} -`);
      return {
        contextDir: input.dir,
        dockerfile: file,
        reason: `${h.flag} -`,
        shown: "from standard input",
        remote: false,
        inContext: false,
        cleanup,
      };
    }
    const root = join(tmp, "context");
    // -f - with a remote context: the Dockerfile from standard input, the context from its URL
    let dockerfile = dfStdin ? await readStdin(h, join(tmp, "Dockerfile"), `${h.flag} -`) : undefined;
    if (input.kind === "git") {
      const { fetchGitTree } = await import("../dockerfile/named-context.ts");
      await fetchGitTree(input.url, tmp, root, {
        env: h.env,
        signal: undefined,
        who: "the build context ",
        keepGitDir: h.keepGitDir,
      });
    } else {
      const file =
        input.kind === "stdin"
          ? await readStdin(h, join(tmp, "input"), "the context -")
          : (await downloadContext(input.url, tmp)).path;
      const inside = await unpackContext(file, root, h, input.kind === "stdin" ? "-" : input.url);
      dockerfile ??= inside;
    }
    dockerfile ??= typeof h.dockerfile === "string" ? join(root, h.dockerfile) : join(root, "Dockerfile");
    const from = input.kind === "stdin" ? "standard input" : input.url;
    const inContext = dockerfile.startsWith(`${root}/`);
    return {
      contextDir: root,
      dockerfile,
      reason: `the context is ${from}`,
      shown: inContext ? relative(root, dockerfile) : `from ${dfStdin ? "standard input" : from}`,
      remote: true,
      inContext,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Standard input into `file`; a terminal is refused (nothing to read from a person typing). */
async function readStdin(h: InputHost, file: string, what: string): Promise<string> {
  if (h.stdinIsTerminal()) {
    throw new BerthError("USAGE", `${what} reads standard input, which is a terminal`, {
      hint: "pipe it in: berth build - < Dockerfile, berth build - < context.tar.gz, or … -f - . < Dockerfile",
    });
  }
  await pipeline(h.stdin(), createWriteStream(file, { mode: 0o600 }));
  return file;
}

/** An http(s) URL's body (ADD's download), its failure naming the context. */
async function downloadContext(url: string, tmp: string): Promise<{ path: string }> {
  const { download } = await import("../dockerfile/instructions/copy.ts");
  return download(url, join(tmp, "download"), undefined, "the build context");
}

/**
 * docker's GetContextFromReader: a tar (plain, gzip, bzip2, xz, zstd) is the context, extracted into `root`;
 * anything else is a Dockerfile alone, with an empty context (then `-f` is not read: docker's
 * DefaultDockerfileName). Returns the Dockerfile when the input was one.
 */
async function unpackContext(
  file: string,
  root: string,
  h: InputHost,
  from: string,
): Promise<string | undefined> {
  const { archiveCompression, extractArchive } = await import("../dockerfile/instructions/copy.ts");
  const compression = await archiveCompression(file);
  if (compression !== undefined) {
    try {
      await extractArchive(file, compression, root);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      throw new BerthError(err.code, `the build context ${from}: ${err.message}`, { cause: err });
    }
    return undefined;
  }
  if (h.dockerfile === "-") {
    throw new BerthError(
      "USAGE",
      `the context ${from} is not a tar archive, and ${h.flag} - reads the Dockerfile`,
      {
        hint: "give the context as a tar (plain, gzip, bzip2, xz or zstd)",
      },
    );
  }
  // the Dockerfile is no file of the context, as BuildKit's (docker's client sends it apart)
  await mkdir(root);
  const dockerfile = join(dirname(root), "Dockerfile");
  await rename(file, dockerfile);
  return dockerfile;
}
