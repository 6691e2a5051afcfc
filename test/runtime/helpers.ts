/**
 * Test images for the runtime: made with umoci (init, new, unpack --rootless, copy files in, repack,
 * config), holding a static busybox so that containers have a shell, plus /etc/passwd and /etc/group.
 */
import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { run } from "../helpers/exec.ts";

const pexec = promisify(execFile);

export const BUSYBOX = "/usr/bin/busybox";
export const APPLETS = [
  "sh",
  "echo",
  "cat",
  "id",
  "ls",
  "env",
  "pwd",
  "sleep",
  "true",
  "false",
  "touch",
  "mkdir",
  "rm",
  "kill",
  "wc",
  "hostname",
  "ip",
  "stat",
  "test",
  "printf",
  "nc",
  "wget",
  "readlink",
  "grep",
  "unshare",
];

export const PASSWD =
  "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app user:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
export const GROUP = "root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:root,app\nnogroup:x:65534:\n";

export interface ImageConfigSpec {
  env?: string[];
  cmd?: string[];
  entrypoint?: string[];
  workdir?: string;
  user?: string;
  labels?: Record<string, string>;
  volumes?: string[];
}

export type ExtraFile = {
  path: string;
  content?: string;
  mode?: number;
  dir?: boolean;
  symlink?: string;
  delete?: boolean;
  /** Copy this host file (mode included) instead of writing `content`. */
  source?: string;
};

/**
 * An image in the OCI layout `layout` under `tag`: layer 1 busybox + /etc, then one layer per entry of
 * `extra` (files to add or delete).
 */
export async function busyboxImage(
  layout: string,
  tag: string,
  config: ImageConfigSpec = {},
  extra: ExtraFile[][] = [],
): Promise<void> {
  const bundle = `${layout}.bundle-${tag}`;
  await run("umoci", ["init", "--layout", layout]).catch((err) => {
    if (!String(err).includes("exist")) throw err;
  });
  await run("umoci", ["new", "--image", `${layout}:${tag}`]);
  const layers: ((root: string) => Promise<void>)[] = [
    async (root) => {
      await mkdir(join(root, "bin"), { recursive: true });
      await copyFile(BUSYBOX, join(root, "bin/busybox"));
      await chmod(join(root, "bin/busybox"), 0o755);
      for (const a of APPLETS) await symlink("busybox", join(root, "bin", a));
      await mkdir(join(root, "etc"), { recursive: true });
      await writeFile(join(root, "etc/passwd"), PASSWD);
      await writeFile(join(root, "etc/group"), GROUP);
      for (const d of ["tmp", "root", "home/app", "proc", "sys", "dev"])
        await mkdir(join(root, d), { recursive: true });
      await chmod(join(root, "tmp"), 0o1777);
    },
    ...extra.map((files) => async (root: string) => {
      for (const f of files) {
        const p = join(root, f.path);
        await mkdir(dirname(p), { recursive: true });
        if (f.delete) await rm(p, { recursive: true, force: true });
        else if (f.dir) await mkdir(p, { recursive: true, mode: f.mode ?? 0o755 });
        else if (f.symlink !== undefined) await symlink(f.symlink, p);
        else if (f.source !== undefined) {
          await copyFile(f.source, p);
          await chmod(p, f.mode ?? 0o755);
        } else {
          await writeFile(p, f.content ?? "");
          if (f.mode !== undefined) await chmod(p, f.mode);
        }
      }
    }),
  ];
  for (const make of layers) {
    await rm(bundle, { recursive: true, force: true });
    await run("umoci", ["unpack", "--rootless", "--image", `${layout}:${tag}`, bundle]);
    await make(join(bundle, "rootfs"));
    await run("umoci", ["repack", "--image", `${layout}:${tag}`, bundle]);
  }
  await rm(bundle, { recursive: true, force: true });
  const args = ["config", "--image", `${layout}:${tag}`];
  for (const e of config.env ?? []) args.push("--config.env", e);
  for (const c of config.cmd ?? []) args.push("--config.cmd", c);
  for (const c of config.entrypoint ?? []) args.push("--config.entrypoint", c);
  if (config.workdir) args.push("--config.workingdir", config.workdir);
  if (config.user) args.push("--config.user", config.user);
  for (const [k, v] of Object.entries(config.labels ?? {})) args.push("--config.label", `${k}=${v}`);
  for (const v of config.volumes ?? []) args.push("--config.volume", v);
  if (args.length > 3) await run("umoci", args);
}

/**
 * Whether crun can start containers here: it runs a minimal bundle (busybox `true`). crun 1.8 refuses this
 * host's hybrid cgroup layout ("cgroups in hybrid mode not supported") whatever the bundle says.
 */
export async function crunUsable(): Promise<{ ok: boolean; reason: string }> {
  try {
    await pexec("crun", ["--version"]);
  } catch {
    return { ok: false, reason: "crun is not installed" };
  }
  const dir = await mkdtemp(join(tmpdir(), "berth-crun-probe-"));
  try {
    await mkdir(join(dir, "rootfs", "bin"), { recursive: true });
    await copyFile(BUSYBOX, join(dir, "rootfs", "bin", "true"));
    await chmod(join(dir, "rootfs", "bin", "true"), 0o755);
    const config = {
      ociVersion: "1.0.2",
      root: { path: "rootfs" },
      process: { cwd: "/", args: ["/bin/true"], env: ["PATH=/bin"], user: { uid: 0, gid: 0 } },
      mounts: [{ destination: "/proc", type: "proc", source: "proc" }],
      linux: { namespaces: [{ type: "pid" }, { type: "mount" }] },
    };
    await writeFile(join(dir, "config.json"), JSON.stringify(config));
    await pexec("crun", ["--root", join(dir, "state"), "run", "-b", dir, "berth-crun-probe"]);
    return { ok: true, reason: "" };
  } catch (err) {
    const msg = String((err as { stderr?: string }).stderr || err).trim();
    return { ok: false, reason: `crun cannot start containers on this host: ${msg}` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

/**
 * What a server behind a published port sends, retried until it says something: before the server listens,
 * slirp4netns accepts on the host port and closes at once. "" when it never answers (or `stop()` says so).
 */
export async function readPublished(port: number, stop: () => boolean = () => false): Promise<string> {
  let got = "";
  for (let i = 0; i < 300 && !got && !stop(); i++) {
    got = await new Promise<string>((res) => {
      const s = createConnection({ host: "127.0.0.1", port });
      let data = "";
      s.on("data", (d) => {
        data += d;
      });
      s.on("end", () => (data ? res(data) : setTimeout(() => res(""), 50)));
      s.on("error", () => setTimeout(() => res(""), 50));
    });
  }
  return got;
}

/**
 * An OCI runtime for `--runtime PATH` (named `runc` or `crun`, as berth tells them apart) that appends each
 * invocation's arguments to `log`, a line each, then runs the real one: which runtime ran, and how, is
 * observable. crun 1.8 refuses this host's hybrid cgroup layout (see crunUsable); as root the wrapper then runs
 * it in a mount namespace of its own without the cgroup2 mount at /sys/fs/cgroup/unified, where crun finds
 * cgroup v1 only. undefined: that runtime cannot start containers here.
 */
export async function recordingRuntime(
  dir: string,
  name: "runc" | "crun",
): Promise<{ path: string; log: string } | undefined> {
  const real = (await pexec("sh", ["-c", `command -v ${name}`]).catch(() => ({ stdout: "" }))).stdout.trim();
  if (!real) return undefined;
  let exec = `exec ${real} "$@"`;
  if (name === "crun" && !(await crunUsable()).ok) {
    if (process.geteuid?.() !== 0) return undefined;
    exec = `exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec ${real} "$@"' ${name} "$@"`;
  }
  const bin = join(dir, `${name}-recorded`);
  await mkdir(bin, { recursive: true });
  const log = join(bin, "invocations.log");
  const path = join(bin, name);
  await writeFile(path, `#!/bin/sh\necho "$*" >>${log}\n${exec}\n`, { mode: 0o755 });
  return { path, log };
}

/**
 * runc, refusing (as a runtime without it would) a spec whose root is an overlay the runtime mounts: its log
 * says runc's words, `error mounting "overlay" to rootfs at "/"`, and it exits 1 without starting anything.
 * Other specs run with the real runc. Each invocation's arguments are appended to `log`.
 */
export function rootMountRefusingRunc(dir: string): Promise<RootMountRunc> {
  return rootMountRunc(dir, "refuse");
}

/**
 * runc, recording who mounts each container's root: for each `run`, a line in `roots`, `runtime` where the
 * spec has the overlay at `/` for runc to mount (`rootMount`), `host` where berth mounted it; then the real
 * runc runs it. Each invocation's arguments are appended to `log`.
 */
export function rootRecordingRunc(dir: string): Promise<RootMountRunc> {
  return rootMountRunc(dir, "record");
}

interface RootMountRunc {
  path: string;
  log: string;
  roots: string;
}

async function rootMountRunc(dir: string, mode: "refuse" | "record"): Promise<RootMountRunc> {
  const real = (await pexec("sh", ["-c", "command -v runc"])).stdout.trim();
  const bin = join(dir, `runc-${mode}`);
  await mkdir(bin, { recursive: true });
  const log = join(bin, "invocations.log");
  const roots = join(bin, "roots.log");
  const path = join(bin, "runc");
  const msg = String.raw`runc run failed: unable to start container process: error during container init: error mounting \"overlay\" to rootfs at \"/\": mount overlay:/: invalid argument`;
  const onOverlay =
    mode === "refuse"
      ? `printf '%s\\n' '{"level":"error","msg":"${msg}"}' >>"$runlog"; exit 1`
      : `echo runtime >>${roots}`;
  await writeFile(
    path,
    `#!/bin/sh
echo "$*" >>${log}
prev=; runlog=; bundle=
for a in "$@"; do
  case "$prev" in --log) runlog=$a ;; --bundle) bundle=$a ;; esac
  prev=$a
done
if [ -n "$bundle" ]; then
  if grep -q '"type": "overlay"' "$bundle/config.json"; then ${onOverlay}; else echo host >>${roots}; fi
fi
exec ${real} "$@"
`,
    { mode: 0o755 },
  );
  return { path, log, roots };
}

/**
 * Remove the cgroups `--cgroup-parent PARENT` left under each hierarchy of /sys/fs/cgroup (PARENT/buildkit and
 * PARENT: the runtime removes only the container's own, as under BuildKit). Best effort.
 */
export async function removeCgroupParent(parent: string): Promise<void> {
  const roots = [
    "/sys/fs/cgroup",
    ...(await readdir("/sys/fs/cgroup").catch(() => [])).map((d) => `/sys/fs/cgroup/${d}`),
  ];
  for (const root of roots) {
    await rmdir(`${root}/${parent}/buildkit`).catch(() => undefined);
    await rmdir(`${root}/${parent}`).catch(() => undefined);
  }
}
