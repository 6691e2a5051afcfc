/**
 * RUN: the command in the runtime's sandbox on the stage's filesystem, with the stage's env (plus the build
 * args in scope), user and working directory, the mounts `mounts.ts` prepares and `--network`; the changes
 * it leaves become the step's layer. /etc/hosts, /etc/resolv.conf and /etc/hostname are always there and never
 * in the layer. A failing command is an error carrying its exit code and output.
 */
import { lstatSync, readdirSync, rmdirSync, rmSync, type Stats } from "node:fs";
import { chmod, cp, mkdir, rm, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import type { Writable } from "node:stream";
import { BerthError } from "../../errors.ts";
import type { XattrReader } from "../../layer/walk.ts";
import type { Image } from "../../oci/image.ts";
import type { Compression } from "../../oci/mediatype.ts";
import type { HostEntry, NetworkMode, RuntimeContext, SpecMount } from "../../runtime/index.ts";
import { expandWord } from "../expand.ts";
import type { BuildInputs } from "../inputs.ts";
import { heredocName, type Instruction } from "../parse.ts";
import { lstatOrUndefined, resolveInRoot, unpackingLine } from "../rootfs.ts";
import { matchSources, sourcesDigest } from "../sources.ts";
import type { SourceRoot, StepContext } from "../step.ts";
import {
  leaseCacheDir,
  madeCacheDir,
  mountKey,
  mountSource,
  parseMount,
  type RunMountSpec,
  secretFile,
  secretValue,
  sshProxy,
} from "./mounts.ts";

export interface RunStepOptions extends Pick<RuntimeContext, "runtime" | "searchPath"> {
  home: string;
  image: Image;
  args: string[];
  env: string[];
  user: string | undefined;
  cwd: string;
  network: NetworkMode;
  /** `--add-host`'s lines in /etc/hosts. */
  extraHosts: readonly HostEntry[];
  /** BUILDKIT_SANDBOX_HOSTNAME (default BuildKit's `buildkitsandbox`). */
  hostname: string | undefined;
  /** `--shm-size`'s /dev/shm, `--ulimit`'s process rlimits and `--cgroup-parent`. */
  limits?: Pick<BuildInputs, "shmSize" | "ulimits" | "cgroupParent">;
  mounts: SpecMount[];
  /** Image paths of mount targets, removed from the changes when the command's root lacked them. */
  mountTargets: string[];
  upperDir: string;
  layerPath: string;
  /** Also give the layer's tar to this stream as it is written (`LayerOutputOptions.tee`). */
  tee?: Writable | undefined;
  mtime: number | undefined;
  compression: Compression;
  /** The command's process started; `ended` settles when it ends (`StepContext.waiting`). */
  onSpawn?: (ended: Promise<unknown>) => void;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal | undefined;
  /** Called before the stage's image is unpacked from its first layer on (a base image's first use). */
  onUnpack?: (layers: number) => void;
  /** For messages: `Dockerfile:12`. */
  where: string;
}

/** The files every RUN gets (bound over, or on mount points made for them and removed afterwards). */
const ETC_FILES = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"];

/**
 * Remove mount points the runtime made in the upper dir, when no lower layer has them. Synchronous calls (a
 * few paths' lstat, readdir, rmdir): after each RUN's exit, on the build's path, where each asynchronous call
 * was a trip through libuv's pool (2-5 ms in all for the /etc files).
 */
async function dropMountPoints(
  upper: string,
  lowers: string[],
  targets: string[],
  overlay: boolean,
  attrs: XattrReader | undefined,
): Promise<void> {
  const lstatOf = (p: string) => {
    try {
      return lstatSync(p);
    } catch {
      return undefined;
    }
  };
  for (const t of targets) {
    for (let p = posix.normalize(t).replace(/^\/+/, ""); p !== "." && p !== ""; p = posix.dirname(p)) {
      let lower: Stats | undefined;
      for (const l of lowers) {
        lower = lstatOf(join(l, p));
        if (lower) break;
      }
      const host = join(upper, p);
      const st = lstatOf(host);
      if (lower) {
        // A directory overlayfs copied up only to hold the mount point (now empty, not opaque, as the lower
        // one) is no change of the command's: BuildKit's differ leaves it out too.
        if (overlay && st?.isDirectory() && lower.isDirectory() && readdirSync(host).length === 0) {
          const same = st.mode === lower.mode && st.uid === lower.uid && st.gid === lower.gid;
          if (same && attrs && (await attrs(host)) === undefined) rmdirSync(host);
        }
        break;
      }
      if (!st) continue;
      if (st.isDirectory()) {
        if (readdirSync(host).length > 0) break;
        rmdirSync(host);
      } else if (st.isFile() && st.size === 0) rmSync(host);
      else break;
    }
  }
}

/** The runtime, loaded when a RUN runs: a build whose RUN steps are all cached does not load it. */
const loadRuntime = () => import("../../runtime/index.ts");

async function runStep(o: RunStepOptions) {
  const { captureChanges, runInSandbox, upperXattrReader } = await loadRuntime();
  await mkdir(o.upperDir, { recursive: true });
  const result = await runInSandbox({
    home: o.home,
    image: o.image,
    upperDir: o.upperDir,
    args: o.args,
    env: o.env,
    user: o.user || undefined,
    cwd: o.cwd,
    runtime: o.runtime,
    searchPath: o.searchPath,
    network: o.network,
    mounts: o.limits?.shmSize !== undefined ? [...o.mounts, shmMount(o.limits.shmSize)] : o.mounts,
    etcAlways: true,
    buildkit: true,
    ...(o.hostname ? { hostname: o.hostname } : {}),
    extraHosts: o.extraHosts,
    rlimits: o.limits?.ulimits,
    cgroupParent: o.limits?.cgroupParent,
    ...(o.onUnpack ? { onApply: (i: number, n: number) => (i === 0 ? o.onUnpack!(n) : undefined) } : {}),
    onSpawn: o.onSpawn,
    onStdout: o.onStdout,
    onStderr: o.onStderr,
    signal: o.signal,
  });
  if (result.exitCode !== 0) {
    const output = `${result.stdoutTail}${result.stderrTail}`.trim();
    throw new BerthError(
      "DOCKERFILE_RUN_FAILED",
      `${o.where}: RUN ${JSON.stringify(result.command)} exited with code ${result.exitCode}${result.signal ? ` (${result.signal})` : ""}${output ? `; its output ended with:\n${output}` : ""}`,
      {
        details: {
          exitCode: result.exitCode,
          signal: result.signal,
          stdout: result.stdoutTail,
          stderr: result.stderrTail,
          command: result.command,
        },
      },
    );
  }
  const upper = result.root.upperDir;
  const overlay = result.root.mode !== "full";
  // One read of the upper dir's overlay attributes (a getfattr process, where a directory may be opaque) serves
  // both the mount points' check and the layer: the mount points only lose entries, never gain attributes.
  const attrs = overlay
    ? await upperXattrReader(upper, result.root.lowerDirs, result.root.premade)
    : undefined;
  await dropMountPoints(upper, result.root.lowerDirs, [...o.mountTargets, ...ETC_FILES], overlay, attrs);
  const desc = await captureChanges(upper, o.layerPath, {
    fresh: true,
    readXattrs: attrs,
    compression: o.compression,
    mtime: o.mtime,
    tee: o.tee,
    ...(result.root.mode === "full"
      ? { lowerDir: result.root.lowerDirs[result.root.lowerDirs.length - 1]! }
      : {}),
  });
  return desc;
}

/**
 * RUN's network: `--network=default|none|host`, else the build's (`inputs.network`, default: a private
 * namespace with outbound access). As BuildKit, the host's network asked for by the Dockerfile needs the
 * caller's `network.host` entitlement (`--allow network.host`): whoever wrote the Dockerfile does not get
 * the host's loopback services by writing a flag.
 */
function runNetwork(c: StepContext): NetworkMode {
  const { ins, vars, where } = c;
  const flag = ins.flags.network?.[0];
  if (flag === undefined) return c.inputs.network ?? "default";
  const text = expandWord(flag, vars, c.escape).value;
  if (text !== "default" && text !== "none" && text !== "host") {
    throw new BerthError(
      "DOCKERFILE_SYNTAX",
      `${where}: RUN --network must be default, none or host, not ${JSON.stringify(text)}`,
    );
  }
  if (text === "host" && !(c.inputs.allow ?? []).includes("network.host")) {
    throw new BerthError(
      "USAGE",
      `${where}: RUN --network=host asks for the host's network (its loopback services too), which this build does not allow`,
      { hint: "allow it with berth build --allow network.host, as BuildKit's entitlement" },
    );
  }
  return text;
}

/**
 * Each mount's part of the key: its options (`mountKey`) and what it reads. A bind from the context by its
 * content; a bind or cache from a stage or an image by that source's key (a stage's key, an image's digest),
 * and also by content (`content`, tried when the definition's key misses; BuildKit's content checksum of a
 * mount's input, for read-only binds and every cache mount): the digest of the selected `source` in the built
 * source, whatever the source is named or holds outside it.
 */
async function mountParts(c: StepContext, mountSpecs: readonly RunMountSpec[]) {
  const parts: unknown[] = [];
  const byContent: (() => Promise<unknown>)[] = [];
  const roots = new Map<RunMountSpec, SourceRoot>();
  for (const m of mountSpecs) {
    const key = mountKey(m);
    if ((m.type === "bind" || m.type === "cache") && m.from !== undefined) {
      const src = await c.sourceRoot(m.from);
      roots.set(m, src);
      parts.push({ ...key, from: src.id });
      byContent.push(async () => ({
        ...key,
        fromContent: await selectedDigest(await src.root(), m, src.what),
      }));
    } else if (m.type === "bind") {
      const context = "the build context";
      const sources = await matchSources(c.inputs.contextDir, [literal(mountSource(m))], undefined, context);
      const part = { ...key, context: await c.contextDigest(sources) };
      parts.push(part);
      byContent.push(async () => part);
    } else {
      parts.push(key);
      // a made cache directory from scratch has the content of one made in a stage without /cache
      byContent.push(async () => (madeCacheDir(m) ? { ...key, fromContent: madeDir(m) } : key));
    }
  }
  const keyed = roots.size || mountSpecs.some(madeCacheDir);
  const content = keyed ? () => Promise.all(byContent.map((f) => f())) : undefined;
  return { parts, content, roots };
}

/** A path as a pattern that matches only itself (a mount selects a path, never a wildcard). */
const literal = (path: string) => path.replace(/[*?[\\]/g, "\\$&");

/** The path a mount selects in its source: `source`, or `/cache` for a made cache directory. */
const selection = (m: RunMountSpec) => (madeCacheDir(m) ? "/cache" : mountSource(m));

/** A made cache directory's content: empty, with the mount's mode and owner. */
const madeDir = (m: RunMountSpec) => ({ made: [m.mode ?? 0o755, m.uid ?? 0, m.gid ?? 0] });

/**
 * Where on the host a mount's selection is in its source's files (links followed inside them); none for a made
 * cache directory whose source has no `/cache` directory (it is made, empty).
 */
async function selectedIn(root: string, m: RunMountSpec): Promise<string | undefined> {
  const rel = await resolveInRoot(root, selection(m), true);
  const path = rel === "" ? root : `${root}/${rel}`;
  if (madeCacheDir(m) && !(await lstatOrUndefined(path))?.isDirectory()) return undefined;
  return path;
}

/** The digest of what a mount selects in another stage's or image's files (owners too). */
async function selectedDigest(root: string, m: RunMountSpec, what: string): Promise<unknown> {
  if ((await selectedIn(root, m)) === undefined) return madeDir(m);
  const sources = await matchSources(root, [literal(selection(m))], undefined, what);
  return sourcesDigest(sources, undefined, true);
}

/** A RUN's one heredoc that starts with `#!`: BuildKit runs it as a file of its own, /dev/pipes/NAME. */
interface Script {
  name: string;
  content: string;
}

/** The command RUN runs: its exec form, else the shell's (`shell`) with the line (and its heredocs). */
export function commandArgv(
  ins: Instruction,
  shell: readonly string[] = ["/bin/sh", "-c"],
): { argv: string[]; script?: Script } {
  if (ins.json) return { argv: ins.json };
  const only = heredocName(ins.args.trim()) !== undefined && !/\s/.test(ins.args.trim());
  const doc = ins.heredocs[0];
  if (only && ins.heredocs.length === 1 && doc) {
    if (!doc.shebang) return { argv: [...shell, doc.content] };
    return {
      argv: [...shell, posix.join(PIPES, doc.name)],
      script: { name: doc.name, content: doc.content },
    };
  }
  if (ins.heredocs.length)
    return {
      argv: [...shell, `${ins.args}\n${ins.heredocs.map((h) => `${h.content}${h.name}`).join("\n")}`],
    };
  return { argv: [...shell, ins.args] };
}

const PIPES = "/dev/pipes";

/** The script's file (0755) in a folder of its own, mounted read-only at /dev/pipes as BuildKit does. */
async function scriptMount(script: Script, privateDir: string): Promise<SpecMount> {
  const dir = join(privateDir, "pipes");
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, script.name), script.content, { mode: 0o755 });
  await chmod(join(dir, script.name), 0o755);
  return { destination: PIPES, type: "bind", source: dir, options: ["rbind", "ro"] };
}

/**
 * `--shm-size`'s /dev/shm: the tmpfs mount BuildKit's Dockerfile frontend adds to each RUN (its tmpfs options:
 * nosuid and the size), in place of the runtime's default (64 MiB).
 */
function shmMount(bytes: number): SpecMount {
  return { destination: "/dev/shm", type: "tmpfs", source: "tmpfs", options: ["nosuid", `size=${bytes}`] };
}

/**
 * `--shm-size`, `--ulimit` and `--cgroup-parent` as the step's input: BuildKit keys an ExecOp on its whole
 * definition, the /dev/shm mount and the Meta's ulimits and cgroup parent with it (solver/llbsolver/ops/exec.go
 * CacheMap). No part without them, so a build that gives none keeps its cache.
 */
function limitsPart(i: BuildInputs): unknown[] {
  const { shmSize, ulimits, cgroupParent } = i;
  if (shmSize === undefined && !ulimits?.length && !cgroupParent) return [];
  return [{ shmSize, ulimits, cgroupParent }];
}

/** RUN --security: sandbox (berth's only way) or an error naming the line. */
function checkSecurity(c: StepContext): void {
  const security = c.ins.flags.security?.[0];
  if (security === undefined || security === "sandbox") return;
  throw new BerthError(
    security === "insecure" ? "DOCKERFILE_UNSUPPORTED" : "DOCKERFILE_SYNTAX",
    security === "insecure"
      ? `${c.where}: RUN --security=insecure is not supported (berth runs every step sandboxed)`
      : `${c.where}: RUN --security must be sandbox or insecure, not ${JSON.stringify(security)}`,
  );
}

/**
 * The `|N k=v … ` BuildKit's history of a RUN starts with (runCommandString): every ARG of the stage in the
 * order declared, valued as the command's environment has it (ENV wins), else as the ARG (empty without a value).
 */
function historyArgs(args: ReadonlyMap<string, string | undefined>, env: readonly string[]): string {
  if (!args.size) return "";
  const envValues = new Map(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  const pairs = [...args].map(([k, v]) => `${k}=${envValues.get(k) ?? v ?? ""}`);
  return `|${pairs.length} ${pairs.join(" ")} `;
}

/**
 * RUN's `--mount`s, each expanded and read; the secrets and SSH agents noted for the provenance; a cache's id
 * `NS/ID` under BUILDKIT_CACHE_MOUNT_NS (dockerfile2llb's AsPersistentCacheDir).
 */
function runMountSpecs(c: StepContext, workdir: string): RunMountSpec[] {
  let sshIndex = 0;
  const ns = c.inputs.cacheMountNamespace;
  return (c.ins.flags.mount ?? []).map((m) => {
    const spec = parseMount(expandWord(m, c.vars, c.escape).value, workdir, sshIndex);
    if (spec.type === "ssh") sshIndex++;
    if (spec.type === "secret" || spec.type === "ssh")
      c.mounted?.({ kind: spec.type, id: spec.id ?? "default", optional: !spec.required });
    return spec.type === "cache" && ns ? { ...spec, id: `${ns}/${spec.id}` } : spec;
  });
}

/** RUN: the command, its mounts and network; the changes it leaves are the layer. */
export async function runInstruction(c: StepContext): Promise<void> {
  const { where } = c;
  const config = c.config;
  const { argv, script } = commandArgv(c.ins, c.config.Shell);
  checkSecurity(c);
  // Build args in scope reach the command as env, unless ENV sets the same name.
  const envNames = new Set((config.Env ?? []).map((e) => e.slice(0, e.indexOf("="))));
  const argEnv = [...c.args]
    .filter(([k, v]) => v !== undefined && !envNames.has(k))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const workdir = config.WorkingDir || "/";
  const mountSpecs = runMountSpecs(c, workdir);
  const network = runNetwork(c);
  const { parts, content, roots } = await mountParts(c, mountSpecs);
  // --add-host's lines are the step's input, as BuildKit's ExecOp's extra hosts (no part without them)
  const hosts = c.inputs.extraHosts?.length ? [c.inputs.extraHosts.map((e) => `${e.ip} ${e.host}`)] : [];
  // BUILDKIT_SANDBOX_HOSTNAME is the exec op's hostname, so a part of its key (none for the default)
  if (c.inputs.hostname) hosts.push([`hostname ${c.inputs.hostname}`]);
  const keyParts = (mounts: unknown[]) => [
    argv,
    argEnv,
    mounts,
    network,
    config.User,
    config.WorkingDir,
    ...hosts,
    ...(script ? [script.content] : []),
    ...limitsPart(c.inputs),
  ];
  await c.cached(
    keyParts(parts),
    async () => {
      const mounts: SpecMount[] = [];
      const env: string[] = [];
      const cleanups: (() => Promise<void>)[] = [];
      const secretDir = c.temp("secrets-");
      try {
        // a foreign platform's step runs under qemu-user-static (runtime/binfmt.ts)
        const platform = c.image.platform();
        if (platform) {
          const { ensureEmulation, emulationOptions } = await loadRuntime();
          await ensureEmulation(platform, emulationOptions(c.env, c.inputs.log));
        }
        for (const m of mountSpecs) await mountFor(c, m, roots.get(m), mounts, env, cleanups, secretDir);
        if (script) mounts.push(await scriptMount(script, secretDir));
        await c.warmed;
        const upperDir = c.temp("upper-");
        const layerPath = c.temp("layer-");
        const write = (tee: Writable | undefined) =>
          runStep({
            home: c.home,
            image: c.image,
            args: argv,
            env: [...argEnv, ...env],
            user: config.User || undefined,
            cwd: workdir,
            runtime: c.inputs.runtime,
            searchPath: c.inputs.searchPath,
            network,
            extraHosts: c.inputs.extraHosts ?? [],
            hostname: c.inputs.hostname,
            limits: c.inputs,
            mounts,
            // Mount points of --mount are not the command's changes; /dev, /proc and /sys that the runtime
            // makes in a root without them stay, as in BuildKit's layers.
            mountTargets: mountSpecs.filter((m) => m.target !== "").map((m) => m.target),
            upperDir,
            layerPath,
            mtime: c.inputs.sourceDateEpoch,
            compression: c.compression,
            onUnpack: (n) => c.inputs.log?.(unpackingLine(n)),
            ...(c.inputs.onOutput
              ? {
                  onStdout: (chunk: Buffer) => c.inputs.onOutput!(chunk, "stdout"),
                  onStderr: (chunk: Buffer) => c.inputs.onOutput!(chunk, "stderr"),
                }
              : {}),
            signal: c.inputs.signal,
            onSpawn: c.waiting,
            where,
            tee,
          });
        const desc = await (c.snapshotting ? c.snapshotting(write) : write(undefined));
        // the layer is written: the command's changes go while the build goes on (2-4 ms here before the next step)
        c.later(rm(upperDir, { recursive: true, force: true }).catch(() => undefined));
        return { config, layer: { path: layerPath, ...desc } };
      } finally {
        for (const c of cleanups.reverse()) await c().catch(() => undefined);
        await rm(secretDir, { recursive: true, force: true });
      }
    },
    {
      createdBy: `RUN ${historyArgs(c.args, config.Env ?? [])}${argv.join(" ")} # buildkit`,
      content: content ? async () => keyParts(await content()) : undefined,
    },
  );
}

/** What one RUN --mount needs on the host while the step runs. */
async function mountFor(
  c: StepContext,
  m: RunMountSpec,
  from: SourceRoot | undefined,
  mounts: SpecMount[],
  env: string[],
  cleanups: (() => Promise<void>)[],
  privateDir: string,
): Promise<void> {
  switch (m.type) {
    case "cache": {
      let seed: { id: string; path: string | undefined } | undefined;
      if (from) {
        const selected = selection(m);
        seed = { id: `${from.id}:${selected}`, path: await selectedIn(await from.root(), m) };
      }
      const lease = await leaseCacheDir(c.home, m, seed);
      cleanups.push(lease.release);
      mounts.push({
        destination: m.target,
        type: "bind",
        source: lease.dir,
        options: ["rbind", m.readonly ? "ro" : "rw"],
      });
      return;
    }
    case "secret": {
      const id = m.id!;
      const src = c.inputs.secrets?.[id];
      if (!src) {
        if (m.required)
          throw new BerthError("USAGE", `secret ${JSON.stringify(id)} is required but was not given`, {
            hint: `pass it with --secret id=${id},src=FILE or --secret id=${id},env=VARIABLE`,
          });
        return;
      }
      const value = await secretValue(src);
      if (m.env !== undefined) env.push(`${m.env}=${value.toString("utf8")}`);
      if (m.target === "") return;
      const file = await secretFile(privateDir, value, m);
      mounts.push({ destination: m.target, type: "bind", source: file, options: ["rbind", "ro"] });
      return;
    }
    case "ssh": {
      const agent = c.inputs.ssh?.[m.id!];
      if (!agent) {
        if (m.required)
          throw new BerthError("USAGE", `ssh agent ${JSON.stringify(m.id)} is required but was not given`, {
            hint: `forward one with --ssh ${m.id === "default" ? "default" : `${m.id}=SOCKET`}`,
          });
        return;
      }
      const proxy = await sshProxy(agent, m);
      cleanups.push(proxy.close);
      mounts.push({ destination: m.target, type: "bind", source: proxy.path, options: ["rbind", "rw"] });
      if (!env.some((e) => e.startsWith("SSH_AUTH_SOCK="))) env.push(`SSH_AUTH_SOCK=${m.target}`);
      return;
    }
    case "tmpfs":
      mounts.push({
        destination: m.target,
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", ...(m.size !== undefined ? [`size=${m.size}`] : [])],
      });
      return;
    case "bind": {
      const base = from ? await from.root() : c.inputs.contextDir;
      const rel = await resolveInRoot(base, m.source ?? "/", true);
      let source = rel === "" ? base : `${base}/${rel}`;
      if (!m.readonly) {
        // rw, as BuildKit: the command writes to a copy that is thrown away after the step (links are copied
        // as links, never followed).
        const copy = join(privateDir, `bind-${mounts.length}`);
        await cp(source, copy, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
        cleanups.push(() => rm(copy, { recursive: true, force: true }));
        source = copy;
      }
      mounts.push({
        destination: m.target,
        type: "bind",
        source,
        options: ["rbind", m.readonly ? "ro" : "rw"],
      });
      return;
    }
  }
}
