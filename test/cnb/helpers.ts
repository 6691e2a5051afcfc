/**
 * Test fixtures for CNB: POSIX sh buildpacks written by the tests, and a tiny build image made with
 * berth's own `appendLayers`/`mutateImage` from Debian's static busybox, /etc/passwd with a CNB user,
 * CNB_USER_ID/CNB_GROUP_ID and the stack/base labels.
 */
import { chmod, chown, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { PhaseLogger } from "../../src/cnb/index.ts";
import { appendLayers, mutateImage } from "../../src/image/index.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { berth } from "../helpers/cli.ts";
import { putBlob, readIndex, writeIndex } from "../helpers/layout.ts";

const BUSYBOX = "/usr/bin/busybox";
const APPLETS = [
  "sh",
  "echo",
  "cat",
  "id",
  "ls",
  "env",
  "pwd",
  "true",
  "false",
  "touch",
  "mkdir",
  "rm",
  "test",
  "printf",
  "grep",
  "cp",
  "chmod",
  "sed",
  "tr",
  "wc",
  "head",
  "ln",
  "mkfifo",
];

export interface BpSpec {
  id: string;
  version?: string;
  api?: string;
  /** Body of bin/detect (after `#!/bin/sh`); default `exit 0`. */
  detect?: string;
  /** Body of bin/build; default `exit 0`. */
  build?: string;
  /** Extra buildpack.toml text. */
  extra?: string;
  /** Composite: order groups of [id, version, optional?]. */
  order?: [string, string, boolean?][][];
}

/** Write a buildpack folder under `root` and return its path. */
export async function writeBuildpack(root: string, s: BpSpec): Promise<string> {
  const dir = join(root, `${s.id.replaceAll("/", "_")}-${s.version ?? "0.0.1"}`);
  await mkdir(join(dir, "bin"), { recursive: true });
  let toml = `api = "${s.api ?? "0.10"}"\n\n[buildpack]\nid = "${s.id}"\nversion = "${s.version ?? "0.0.1"}"\nname = "Test ${s.id}"\n`;
  if (s.order) {
    for (const g of s.order) {
      toml += "\n[[order]]\n";
      for (const [id, version, optional] of g) {
        toml += `[[order.group]]\nid = "${id}"\nversion = "${version}"\n${optional ? "optional = true\n" : ""}`;
      }
    }
  }
  toml += s.extra ?? "";
  await writeFile(join(dir, "buildpack.toml"), toml);
  if (!s.order) {
    await writeFile(join(dir, "bin", "detect"), `#!/bin/sh\n${s.detect ?? "exit 0"}\n`, { mode: 0o755 });
    await writeFile(join(dir, "bin", "build"), `#!/bin/sh\nset -e\n${s.build ?? "exit 0"}\n`, {
      mode: 0o755,
    });
  }
  return dir;
}

/**
 * `examples/arch@1.0.0` packaged twice, for linux/amd64 and linux/arm64 (its `[[targets]]` say which), behind one
 * index: returns `oci:<dir>/arch-packages:both`.
 */
export async function multiPlatformBuildpackage(dir: string, home: string): Promise<string> {
  const pkgs = join(dir, "arch-packages");
  for (const arch of ["amd64", "arm64"]) {
    const bp = await writeBuildpack(join(dir, `arch-${arch}`), {
      id: "examples/arch",
      version: "1.0.0",
      extra: `[[targets]]\nos = "linux"\narch = "${arch}"\n`,
    });
    await writeFile(join(dir, `package-${arch}.toml`), `[buildpack]\nuri = "${bp}"\n`);
    const p = await berth(
      ["buildpack", "package", `oci:${pkgs}:${arch}`, "--config", join(dir, `package-${arch}.toml`)],
      { home },
    );
    if (p.code !== 0) throw new Error(`buildpack package failed: ${p.stderr}`);
  }
  await platformIndex(pkgs, ["amd64", "arm64"], "both");
  return `oci:${pkgs}:both`;
}

/** In an OCI layout, an index tagged `tag` over the linux images tagged by their architecture (`amd64`, …). */
export async function platformIndex(layout: string, arches: readonly string[], tag: string): Promise<void> {
  const idx = await readIndex(layout);
  const manifests = arches.map((arch) => {
    const m = idx.manifests.find((d) => d.annotations?.["org.opencontainers.image.ref.name"] === arch)!;
    return {
      mediaType: m.mediaType,
      digest: m.digest,
      size: m.size,
      platform: { os: "linux", architecture: arch },
    };
  });
  const index = await putBlob(
    layout,
    JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests }),
    "application/vnd.oci.image.index.v1+json",
  );
  await writeIndex(layout, [
    ...idx.manifests,
    { ...index, annotations: { "org.opencontainers.image.ref.name": tag } },
  ]);
}

/** A tiny image (one file, `/arch`, saying which) for linux/amd64 and linux/arm64 behind one index: `oci:<dir>/two-platforms:both`. */
export async function twoPlatformImage(dir: string, home: string): Promise<string> {
  const layout = join(dir, "two-platforms");
  const arches = ["amd64", "arm64"];
  for (const arch of arches) {
    await mkdir(join(dir, `tree-${arch}`), { recursive: true });
    await writeFile(join(dir, `tree-${arch}`, "arch"), arch);
    await appendLayers(
      parseImageArgument("scratch", { allowScratch: true }),
      [{ source: join(dir, `tree-${arch}`), dest: "/" }],
      parseImageArgument(`oci:${layout}:${arch}`),
      { home, env: {} },
      { platform: { os: "linux", architecture: arch } },
    );
  }
  await platformIndex(layout, arches, "both");
  return `oci:${layout}:both`;
}

/** Collects what a phase logs. */
export function memoryLogger(): PhaseLogger & { lines: string[]; text(): string; outputText(): string } {
  const lines: string[] = [];
  const out: Buffer[] = [];
  return {
    lines,
    info: (l) => lines.push(l),
    warn: (l) => lines.push(`WARN ${l}`),
    debug: (l) => lines.push(`DEBUG ${l}`),
    output: (c) => out.push(c),
    text: () => lines.join("\n"),
    outputText: () => Buffer.concat(out).toString("utf8"),
  };
}

/**
 * A build image at `target` (any transport): busybox (and `extraApplets`), /etc/passwd with `cnb` (1000:1000), a writable
 * /home/cnb, /etc/os-release, env CNB_USER_ID/CNB_GROUP_ID, user cnb, stack and base labels.
 */
export async function makeBuildImage(
  work: string,
  target: string,
  home: string,
  extraApplets: readonly string[] = [],
  o: {
    osReleaseLink?: string;
    distroLabels?: boolean;
    /** Another architecture's image: its static busybox (default this machine's amd64 one). */
    foreign?: { architecture: string; busybox: string };
    /** A file put at /cnb/lifecycle/launcher (the launcher export takes from the builder). */
    launcher?: string;
  } = {},
): Promise<void> {
  const tree = join(work, "build-image-root");
  await mkdir(join(tree, "bin"), { recursive: true });
  await mkdir(join(tree, "etc"), { recursive: true });
  await mkdir(join(tree, "tmp"), { recursive: true, mode: 0o1777 });
  await chmod(join(tree, "tmp"), 0o1777);
  await copyFile(o.foreign?.busybox ?? BUSYBOX, join(tree, "bin", "busybox"));
  if (o.launcher) {
    await mkdir(join(tree, "cnb", "lifecycle"), { recursive: true });
    await copyFile(o.launcher, join(tree, "cnb", "lifecycle", "launcher"));
  }
  await chmod(join(tree, "bin", "busybox"), 0o755);
  for (const a of [...APPLETS, ...extraApplets]) await symlink("busybox", join(tree, "bin", a));
  await writeFile(
    join(tree, "etc", "passwd"),
    "root:x:0:0:root:/root:/bin/sh\ncnb:x:1000:1000:cnb:/home/cnb:/bin/sh\n",
  );
  await writeFile(join(tree, "etc", "group"), "root:x:0:\ncnb:x:1000:\n");
  if (o.osReleaseLink) await symlink(o.osReleaseLink, join(tree, "etc", "os-release"));
  else await writeFile(join(tree, "etc", "os-release"), 'ID=testos\nVERSION_ID="1.2"\n');
  const homeTree = join(work, "build-image-home");
  await mkdir(join(homeTree, "home", "cnb"), { recursive: true });
  await chown(join(homeTree, "home", "cnb"), 1000, 1000).catch(() => undefined);
  const ctx = { home, env: {} };
  const base = `oci:${join(work, "base-layout")}:base`;
  await appendLayers(
    parseImageArgument("scratch", { allowScratch: true }),
    [{ source: tree, dest: "/" }],
    parseImageArgument(base),
    ctx,
    {
      platform: { os: "linux", architecture: o.foreign?.architecture ?? "amd64" },
    },
  );
  const withHome = `oci:${join(work, "base-layout")}:home`;
  await appendLayers(
    parseImageArgument(base),
    [{ source: homeTree, dest: "/" }],
    parseImageArgument(withHome),
    ctx,
    { uid: 1000, gid: 1000 },
  );
  await mutateImage(
    parseImageArgument(withHome),
    parseImageArgument(target),
    {
      env: ["PATH=/bin", "CNB_USER_ID=1000", "CNB_GROUP_ID=1000", "CNB_STACK_ID=io.berth.test"],
      user: "cnb",
      labels: {
        "io.buildpacks.stack.id": "io.berth.test",
        "io.buildpacks.base.id": "io.berth.test",
        ...(o.distroLabels === false
          ? {}
          : { "io.buildpacks.base.distro.name": "testos", "io.buildpacks.base.distro.version": "1.2" }),
      },
    },
    ctx,
  );
}

/** The spec's directories of one phase run under `dir` (buildpacks in `dir/<buildpacks>`), made empty. */
export async function phasePaths(dir: string, buildpacks = "bps") {
  const paths = {
    app: join(dir, "app"),
    layers: join(dir, "layers"),
    platform: join(dir, "platform"),
    buildpacks: join(dir, buildpacks),
    buildConfig: join(dir, "build-config"),
  };
  for (const p of Object.values(paths)) await mkdir(p, { recursive: true });
  return paths;
}
