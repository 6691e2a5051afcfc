/**
 * The reference lifecycle (scripts/reference-lifecycle.sh) in the shapes pack takes a lifecycle in: the release
 * `.tgz`, served also over HTTP from 127.0.0.1, and a
 * lifecycle image whose last layer holds `/cnb/lifecycle` (as buildpacksio/lifecycle's images do).
 */
import { execFile } from "node:child_process";
import { createReadStream } from "node:fs";
import { cp, mkdir, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { referenceLifecycle } from "../reference/lifecycle.ts";

const pexec = promisify(execFile);

/**
 * `<dir>/lifecycle-v0.21.0+linux.x86-64.tgz`: the reference lifecycle in its release layout, `lifecycle.toml`
 * and `lifecycle/{analyzer,…,launcher,lifecycle.toml}`.
 */
export async function lifecycleTgz(dir: string): Promise<string> {
  const bin = await referenceLifecycle();
  const stage = join(dir, "lifecycle-stage");
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  await cp(bin, join(stage, "lifecycle"), { recursive: true, verbatimSymlinks: true });
  // As the lifecycle's packager (tools/packager) writes it: lifecycle.toml first, at the top.
  await cp(join(bin, "lifecycle.toml"), join(stage, "lifecycle.toml"));
  const out = join(dir, "lifecycle-v0.21.0+linux.x86-64.tgz");
  await pexec("tar", ["-C", stage, "--owner=0", "--group=0", "-czf", out, "lifecycle.toml", "lifecycle"]);
  await rm(stage, { recursive: true, force: true });
  return out;
}

/** A lifecycle image at `target` (any transport): one layer, /cnb/lifecycle/* (linux/amd64). */
export async function lifecycleImage(target: string, home: string): Promise<void> {
  const bin = await referenceLifecycle();
  await appendLayers(
    parseImageArgument("scratch", { allowScratch: true }),
    [{ source: bin, dest: "/cnb/lifecycle" }],
    parseImageArgument(target),
    { home, env: {} },
    { platform: { os: "linux", architecture: "amd64" } },
  );
}

/** An HTTP server on 127.0.0.1 serving `files` (URL path → host file). */
export async function serveFiles(
  files: Record<string, string>,
): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const file = files[req.url ?? ""];
    if (!file) {
      res.writeHead(404).end("not found\n");
      return;
    }
    stat(file).then(
      (st) => {
        res.writeHead(200, { "content-length": st.size, "content-type": "application/gzip" });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

let packBuilt: Promise<string> | undefined;

/** pack, built from the Go module proxy by scripts/pack.sh on first use (cached between runs). */
export function packBinary(): Promise<string> {
  packBuilt ??= (async () => {
    const script = resolve(import.meta.dirname, "../../../scripts/pack.sh");
    const { stdout } = await pexec("bash", [script], {
      env: process.env,
      maxBuffer: 64 * 1024 * 1024,
      timeout: 1_200_000,
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`building pack failed: ${err.stderr ?? err.message}`);
    });
    return stdout.trim().split("\n").pop()!;
  })();
  return packBuilt;
}
