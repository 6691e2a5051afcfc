/**
 * Attacks on berth through what buildpacks and apps leave for it to read. Each test plants a root-only secret
 * on the host (mode 0600 in a 0700 folder the CNB user cannot enter), has a buildpack (or the app) link a file
 * berth reads to it, runs the real `berth build`, and checks that the build fails naming the culprit and that
 * the secret is nowhere: not in berth's output, not in any later buildpack's env (it prints it), not in any
 * file or (gunzipped) blob under BERTH_HOME or the output layout.
 */
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { expect } from "vitest";
import { exitCodeFor } from "../../../src/cli/exit.ts";
import { buildWithBuildpacks } from "../../../src/cnb/build.ts";
import { BerthError } from "../../../src/errors.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth, type RunResult } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

export interface Attack extends Secret {
  app: string;
  builder: string;
  build(isolation: "sandbox" | "host", extra?: string[]): Promise<RunResult>;
  /** The secret appears in none of the output, files or blobs berth wrote. */
  assertSecretNowhere(r: RunResult): Promise<void>;
}

export interface AttackOptions {
  /** bin/build of the attacking buildpack `test/evil` (gets `$SECRET_FILE` in its script). */
  build?: (secretFile: string) => string;
  /** bin/detect of the attacking buildpack. */
  detect?: (secretFile: string) => string;
  /** The build image's /etc/os-release is this symlink (the run and build images carry no distro labels). */
  osReleaseLink?: (secretFile: string) => string;
  /** Prepare the app directory. */
  app?: (app: string, secretFile: string) => Promise<void>;
}

export interface Secret {
  dir: string;
  home: string;
  secretDir: string;
  secretFile: string;
  secret: string;
  /** The secret appears in none of the output, nor in any file or blob under these roots (and BERTH_HOME). */
  assertSecretNowhere(r: RunResult, roots?: string[]): Promise<void>;
}

/** A temp dir (0755) with a root-only secret in `secret/shadow` (0600, folder 0700) and a BERTH_HOME. */
export async function plantSecret(prefix: string): Promise<Secret> {
  const dir = await tempDir(`berth-attack-${prefix}-`);
  // The CNB user (host isolation) must reach the build dirs under dir, never the secret.
  await chmod(dir, 0o755);
  const secretDir = join(dir, "secret");
  await mkdir(secretDir, { mode: 0o700 });
  await chmod(secretDir, 0o700);
  const secret = `BERTHSECRET${randomBytes(12).toString("hex")}`;
  const secretFile = join(secretDir, "shadow");
  await writeFile(secretFile, `ID="${secret}"\n`, { mode: 0o600 });
  const home = join(dir, "home");
  return {
    dir,
    home,
    secretDir,
    secretFile,
    secret,
    async assertSecretNowhere(r, roots = []) {
      expect(r.stdout).not.toContain(secret);
      expect(r.stderr).not.toContain(secret);
      // Still root's, still secret, unchanged, alone in its folder.
      for (const p of [secretDir, secretFile]) {
        const st = await stat(p);
        expect([st.uid, st.gid]).toEqual([0, 0]);
        expect(st.mode & 0o777).toBe(p === secretDir ? 0o700 : 0o600);
      }
      expect(await readdir(secretDir)).toEqual(["shadow"]);
      expect(await readFile(secretFile, "utf8")).toBe(`ID="${secret}"\n`);
      for (const root of [home, ...roots]) {
        const hits = await filesContaining(root, Buffer.from(secret));
        expect(hits, `the secret was copied to ${hits.join(", ")}`).toEqual([]);
      }
    },
  };
}

/**
 * The builder: `test/evil` (the attack: its scripts see the secret's path; `$ATTACK` from `-e ATTACK=…`
 * picks a variant), then `test/next`, which prints its environment and plan.
 */
export async function setupAttack(prefix: string, o: AttackOptions): Promise<Attack> {
  const s = await plantSecret(prefix);
  const { dir, home, secretFile } = s;
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home, [], {
    ...(o.osReleaseLink ? { osReleaseLink: o.osReleaseLink(secretFile), distroLabels: false } : {}),
  });
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bps = join(dir, "bps");
  const variant = 'ATTACK=$(cat "$CNB_PLATFORM_DIR/env/ATTACK" 2>/dev/null || true)';
  const evil = await writeBuildpack(bps, {
    id: "test/evil",
    version: "6.6.6",
    detect: `${variant}\n${o.detect?.(secretFile) ?? "exit 0"}`,
    build: `${variant}\n${o.build?.(secretFile) ?? "exit 0"}`,
  });
  const next = await writeBuildpack(bps, {
    id: "test/next",
    version: "1.0.0",
    build: 'echo "next buildpack env:"; env; echo "next buildpack plan:"; cat "$3"',
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${evil}"\n[[buildpacks]]\nuri = "${next}"\n\n[[order]]\n[[order.group]]\nid = "test/evil"\n[[order.group]]\nid = "test/next"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  const builder = `oci:${layout}:builder`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  const app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, "hello.txt"), "the app");
  await o.app?.(app, secretFile);
  const out = join(dir, "out");
  return {
    ...s,
    app,
    builder,
    build: async (isolation, extra = []) => {
      if (isolation === "sandbox") {
        return berth(["build", app, "-t", `oci:${out}:${isolation}`, "--builder", builder, ...extra], {
          home,
        });
      }
      // `berth build` always uses the sandbox; host isolation (buildpacks on this machine) is the library's.
      // Its buildpacks run as berth's own user here: run as the CNB user they could not enter the build's
      // 0700 work dir under BERTH_HOME. What berth reads is the same either way. Its failure is turned into
      // what the CLI would print.
      const lines: string[] = [];
      const env = extra.filter((_, i) => extra[i - 1] === "-e");
      try {
        await buildWithBuildpacks({
          appDir: app,
          image: parseImageArgument(`oci:${out}:${isolation}`),
          builder,
          env,
          isolation: "host",
          asRoot: false,
          ctx: { home, env: {} },
          hostEnv: { PATH: process.env.PATH },
          logger: {
            info: (l) => lines.push(l),
            warn: (l) => lines.push(l),
            debug: () => {},
            output: (c) => lines.push(c.toString("utf8")),
          },
        });
        return { code: 0, stdout: "", stderr: lines.join("\n"), stdoutBytes: Buffer.alloc(0) };
      } catch (err) {
        const code = err instanceof BerthError ? exitCodeFor(err.code) : 1;
        lines.push(`berth: ${(err as Error).message}`);
        return { code, stdout: "", stderr: lines.join("\n"), stdoutBytes: Buffer.alloc(0) };
      }
    },
    assertSecretNowhere: (r) => s.assertSecretNowhere(r, [out]),
  };
}

/** Files under `root` (symlinks not followed) whose bytes, or gunzipped bytes, contain `needle`. */
async function filesContaining(root: string, needle: Buffer): Promise<string[]> {
  const hits: string[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) {
      for (const n of await readdir(p)) await walk(join(p, n));
      return;
    }
    if (!st.isFile()) return;
    const bytes = await readFile(p);
    let found = bytes.includes(needle);
    if (!found && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        found = gunzipSync(bytes).includes(needle);
      } catch {
        // not gzip after all
      }
    }
    if (found) hits.push(p);
  };
  await walk(root);
  return hits;
}

/** The failure every attack must produce: exit 4, one sentence naming the buildpack (or tree) and path. */
export function expectRefused(r: RunResult, ...parts: (string | RegExp)[]): void {
  expect(r.code, r.stderr).toBe(4);
  for (const p of parts) {
    if (typeof p === "string") expect(r.stderr).toContain(p);
    else expect(r.stderr).toMatch(p);
  }
}
