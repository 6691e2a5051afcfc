/**
 * What runs in the app image. Where the builder carries a CNB lifecycle launcher at /cnb/lifecycle/launcher,
 * export places that very binary at the same path (pack's images, exactly). Otherwise berth supplies its own:
 * `launcher.c` in this folder, compiled static by the host's gcc (`gcc -static -Os`) when first needed and
 * kept in the per-user programs cache (util/compile.ts) under `cnb/launcher/<hash of source and compiler>/`
 * — unless the package carries it prebuilt (`dist/launcher/<arch>`, made at prepack by scripts/build.ts) — so
 * the app image needs nothing of berth, no shell and no libc at run time. See ARCHITECTURE.md §Launch.
 */
import { createWriteStream, existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { BerthError } from "../../errors.ts";
import { readTar } from "../../layer/index.ts";
import { encodedOf } from "../../oci/digest.ts";
import type { Image } from "../../oci/image.ts";
import { formatPlatform, hostPlatform, type Platform, platformMatches } from "../../oci/platform.ts";
import {
  type CompileOptions,
  compiledProgram,
  compileStatic,
  sourceHash,
  uniqueSuffix,
} from "../../util/compile.ts";
import { makePrivateHome } from "../../util/home.ts";
import { parseJson } from "../../util/json.ts";
import { packagePath } from "../../util/package.ts";

export const BERTH_LAUNCHER_VERSION = "berth-0.1.0";

/** launcher.c in berth's package (shipped as source: it is compiled on the machine that builds). */
export function launcherSourcePath(): string {
  const path = packagePath("src", "cnb", "launch", "launcher.c");
  if (!existsSync(path)) {
    throw new BerthError(
      "CNB_LAUNCHER_UNAVAILABLE",
      `berth's launcher source is missing (looked for ${path})`,
    );
  }
  return path;
}

export interface LauncherOptions extends CompileOptions {
  /** The run image's platform: berth's launcher is built for this machine only. */
  platform?: Platform;
  /** Where prebuilt launchers are (default: the package's `dist/launcher`). */
  prebuiltDir?: string;
}

/** The launcher placed at /cnb/lifecycle/launcher. */
export interface LauncherInput {
  /** "lifecycle": the builder's CNB launcher; "berth": berth's own. Both read `<layers>/config/metadata.toml`. */
  kind: "lifecycle" | "berth";
  /** A host file holding the binary. */
  path: string;
  version: string;
  source?: { repository: string; commit: string };
}

/** The hash `dist/launcher/source.sha256` holds: launcher.c's bytes and the compiler flags. */
export function launcherSourceHash(source: Buffer): string {
  return sourceHash(source);
}

/** Where the package keeps the launcher prebuilt for an architecture (`dist/launcher/<arch>`, scripts/build.ts). */
export function prebuiltLauncherPath(architecture?: string): string {
  return architecture ? packagePath("dist", "launcher", architecture) : packagePath("dist", "launcher");
}

/**
 * Compile launcher.c statically into `out` with `cc` (gcc, or a cross compiler such as
 * aarch64-linux-gnu-gcc): what `berthLauncher` does on first use, and scripts/build.ts at prepack.
 */
export async function compileLauncher(
  cc: string,
  out: string,
  env?: Record<string, string | undefined>,
): Promise<void> {
  await compileStatic(cc, launcherSourcePath(), out, env);
}

/**
 * berth's launcher: the one prebuilt for the run image's architecture when the package carries it (no
 * compiler needed: inside a build step), else compiled once per source and compiler.
 */
export async function berthLauncher(o: LauncherOptions): Promise<LauncherInput> {
  const host = hostPlatform();
  const source = await readFile(launcherSourcePath());
  // Only a launcher built from this very source (scripts/build.ts writes its hash beside it).
  const prebuiltDir = o.prebuiltDir ?? prebuiltLauncherPath();
  const prebuilt = join(prebuiltDir, o.platform?.architecture ?? host.architecture);
  const builtFrom = await readFile(join(prebuiltDir, "source.sha256"), "utf8").catch(() => "");
  // BERTH_HOME private first, whichever launcher is taken (as when it is compiled into its cache).
  await makePrivateHome(o.home);
  if (
    (o.platform?.os ?? "linux") === "linux" &&
    builtFrom.trim() === launcherSourceHash(source) &&
    existsSync(prebuilt)
  )
    return { kind: "berth", path: prebuilt, version: BERTH_LAUNCHER_VERSION };
  if (o.platform && !platformMatches(host, { os: o.platform.os, architecture: o.platform.architecture })) {
    throw new BerthError(
      "CNB_LAUNCHER_UNAVAILABLE",
      `berth's launcher is compiled for this machine (${formatPlatform(host)}), not the run image's ${formatPlatform(o.platform)}`,
      { hint: "use a builder that carries a CNB lifecycle (/cnb/lifecycle/launcher) for other platforms" },
    );
  }
  const path = await compiledProgram(
    {
      source: launcherSourcePath(),
      folder: "cnb/launcher",
      file: "launcher",
      what: "berth's launcher",
      code: "CNB_LAUNCHER_UNAVAILABLE",
      hint: "install gcc and libc6-dev (apt-get install gcc libc6-dev), or use a builder that carries a CNB lifecycle",
    },
    o,
  );
  return { kind: "berth", path, version: BERTH_LAUNCHER_VERSION };
}

const LAUNCHER_PATH = "cnb/lifecycle/launcher";

/**
 * The builder's lifecycle launcher, copied out of its layers (top layer first; a whiteout hides it) into
 * `$BERTH_HOME/cache/cnb/lifecycle/<builder config digest>/launcher`; undefined when the builder has none.
 */
export async function lifecycleLauncher(builder: Image, home: string): Promise<LauncherInput | undefined> {
  const dir = join(home, "cache", "cnb", "lifecycle", encodedOf(builder.manifest.config.digest));
  const path = join(dir, "launcher");
  const versionLabel = builder.config?.config?.Labels?.["io.buildpacks.builder.metadata"];
  let version = "";
  try {
    version =
      (
        parseJson(versionLabel ?? "{}", "builder metadata label", "CONFIG_INVALID") as {
          lifecycle?: { version?: string };
        }
      ).lifecycle?.version ?? "";
  } catch {
    version = "";
  }
  if (existsSync(path)) return { kind: "lifecycle", path, version };
  if (existsSync(join(dir, "none"))) return undefined;
  const layers = builder.layers();
  for (let k = layers.length - 1; k >= 0; k--) {
    const stream = await layers[k]!.uncompressed();
    let found: "file" | "gone" | undefined;
    try {
      for await (const entry of readTar(stream)) {
        const p = entry.header.path.replace(/^\.?\/+/, "");
        if (p === LAUNCHER_PATH && entry.header.type === "file") {
          await mkdir(dir, { recursive: true });
          const tmp = `${path}.tmp-${uniqueSuffix()}`;
          await pipeline(entry.body, createWriteStream(tmp, { mode: 0o755 }));
          await chmod(tmp, 0o755);
          await rename(tmp, path);
          found = "file";
          break;
        }
        if (p === "cnb/lifecycle/.wh.launcher" || p === "cnb/.wh.lifecycle" || p === ".wh.cnb")
          found = "gone";
      }
    } finally {
      stream.destroy();
    }
    if (found === "file") return { kind: "lifecycle", path, version };
    if (found === "gone") break;
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "none"), "");
  return undefined;
}
