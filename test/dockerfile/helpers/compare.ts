/**
 * Build a context with berth and with buildah (`buildah bud`, vfs storage, chroot isolation) and compare the
 * results: the final filesystems unpacked by umoci (paths, types, contents, modes, owners) and the config
 * fields a Dockerfile sets.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";

export interface TreeEntry {
  type: string;
  mode: string;
  owner: string;
  content?: string;
}

/** Files a RUN sandbox or the builder injects, left out of the comparison. */
const INJECTED = new Set(["etc/hosts", "etc/resolv.conf", "etc/hostname", "run/.containerenv"]);

const MOUNT_POINTS = new Set(["dev", "proc", "sys", "run"]);

export async function readTree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      if (INJECTED.has(p)) continue;
      const host = join(dir, name);
      const st = await lstat(host);
      // Empty mount points a RUN sandbox leaves (buildah's chroot isolation keeps them; berth drops them).
      if (MOUNT_POINTS.has(p) && st.isDirectory() && (await readdir(host)).length === 0) continue;
      const type = st.isDirectory()
        ? "dir"
        : st.isSymbolicLink()
          ? "symlink"
          : st.isFile()
            ? "file"
            : "other";
      const e: TreeEntry = { type, mode: (st.mode & 0o7777).toString(8), owner: `${st.uid}:${st.gid}` };
      if (type === "file")
        e.content = createHash("sha256")
          .update(await readFile(host))
          .digest("hex")
          .slice(0, 16);
      if (type === "symlink") e.content = await readlink(host);
      out[p] = e;
      if (type === "dir") await walk(host, p);
    }
  };
  await walk(root, "");
  return out;
}

export interface ConfigView {
  Env: string[];
  Entrypoint: string[] | null;
  Cmd: string[] | null;
  WorkingDir: string;
  User: string;
  ExposedPorts: string[];
  Labels: Record<string, string>;
}

async function configOf(layout: string, tag: string): Promise<ConfigView> {
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const desc = index.manifests.find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === tag,
  );
  const blob = (d: string) => join(layout, "blobs", "sha256", d.slice(7));
  const manifest = JSON.parse(await readFile(blob(desc.digest), "utf8"));
  const config = JSON.parse(await readFile(blob(manifest.config.digest), "utf8")).config ?? {};
  const labels = { ...(config.Labels ?? {}) };
  delete labels["io.buildah.version"];
  return {
    Env: config.Env ?? [],
    Entrypoint: config.Entrypoint?.length ? config.Entrypoint : null,
    Cmd: config.Cmd?.length ? config.Cmd : null,
    WorkingDir: config.WorkingDir ?? "",
    User: config.User ?? "",
    ExposedPorts: Object.keys(config.ExposedPorts ?? {}).sort(),
    Labels: labels,
  };
}

export interface BothResult {
  berth: { tree: Record<string, TreeEntry>; config: ConfigView; stderr: string };
  buildah: { tree: Record<string, TreeEntry>; config: ConfigView };
}

export async function buildBoth(o: {
  work: string;
  context: string;
  home: string;
  buildArgs?: string[] | undefined;
  dockerfile?: string;
  env?: Record<string, string>;
  /** More flags both builders take (`--build-context`, `--add-host`). */
  extra?: string[];
}): Promise<BothResult> {
  const args = [...(o.buildArgs ?? []).flatMap((a) => ["--build-arg", a]), ...(o.extra ?? [])];
  const df = o.dockerfile ?? join(o.context, "Dockerfile");
  const b = await berth(["build", o.context, "--dockerfile", df, "-t", `oci:${o.work}/berth:img`, ...args], {
    home: o.home,
    env: { BERTH_INSECURE_REGISTRIES: "127.0.0.1", ...(o.env ?? {}) },
  });
  if (b.code !== 0) throw new Error(`berth build failed (${b.code}):\n${b.stderr}`);
  const store = [
    "--storage-driver",
    "vfs",
    "--root",
    `${o.work}/bh-root`,
    "--runroot",
    `${o.work}/bh-runroot`,
  ];
  await run("buildah", [
    ...store,
    "bud",
    "--isolation",
    "chroot",
    "--tls-verify=false",
    "--format",
    "oci",
    "-f",
    df,
    ...args,
    "-t",
    "localhost/corpus:latest",
    o.context,
  ]);
  await run("buildah", [...store, "push", "localhost/corpus:latest", `oci:${o.work}/buildah:img`]);
  await run("umoci", ["unpack", "--image", `${o.work}/berth:img`, `${o.work}/berth-bundle`]);
  await run("umoci", ["unpack", "--image", `${o.work}/buildah:img`, `${o.work}/buildah-bundle`]);
  return {
    berth: {
      tree: await readTree(`${o.work}/berth-bundle/rootfs`),
      config: await configOf(`${o.work}/berth`, "img"),
      stderr: b.stderr,
    },
    buildah: {
      tree: await readTree(`${o.work}/buildah-bundle/rootfs`),
      config: await configOf(`${o.work}/buildah`, "img"),
    },
  };
}
