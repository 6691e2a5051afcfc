/**
 * BuildKit as the oracle (issue 20 point 6): one private Docker Engine (Debian's docker.io, test/helpers/dockerd.ts)
 * per test file, the busybox base image of test/dockerfile loaded into it from a docker-archive that skopeo
 * writes from the same OCI layout berth builds FROM (same config digest, so the same image), and BuildKit's
 * Dockerfile frontend v0.26.2 (scripts/dockerfile-frontend.sh) loaded as an image and named with `# syntax=`:
 * the engine's built-in frontend is Dockerfile 1.2, without heredocs. A case is built by both, BuildKit's
 * result taken with `docker save`, and the two compared with diffImages.
 */
import { execFile, execFileSync } from "node:child_process";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { appendLayers, mutateImage } from "../../../../src/image/index.ts";
import { parseImageArgument } from "../../../../src/transport/parse.ts";
import { berth } from "../../../helpers/cli.ts";
import { type Dockerd, startDockerd } from "../../../helpers/dockerd.ts";
import { run } from "../../../helpers/exec.ts";
import { localBase, writeContext } from "../../helpers/local.ts";
import { diffImages } from "./diff.ts";
import { flatten } from "./flatten.ts";

export interface OracleCase {
  name: string;
  /** Context files; a string is a 0644 file. */
  files?: Record<string, string | { content: string; mode: number }>;
  /**
   * The Dockerfile; `{{BASE}}` is the base image (a different name for each builder, the same image), `{{URL}}`
   * a local HTTP server for ADD (`{{URL}}/tool.txt`).
   */
  dockerfile: string;
  buildArgs?: string[];
  /** Secrets by id: the content is written to a file outside the context. */
  secrets?: Record<string, string>;
  target?: string;
  /** More context preparation (hard links, symlinks, tar archives). */
  setup?: (ctx: string) => Promise<void>;
}

export interface Oracle {
  /** Build the case with both and return diffImages(berth, BuildKit). */
  compare(c: OracleCase): Promise<string[]>;
  stop(): Promise<void>;
}

const FRONTEND_VERSION = "v0.26.2";
export const FRONTEND_IMAGE = `berth-test/dockerfile-frontend:${FRONTEND_VERSION}`;
const BUILDKIT_BASE = "berth-test/base:1";

/** The frontend binary, built from the Go module proxy on first use (scripts/dockerfile-frontend.sh). */
function frontendBinary(): string {
  const script = resolve(import.meta.dirname, "../../../../scripts/dockerfile-frontend.sh");
  const dir = execFileSync("bash", [script], {
    encoding: "utf8",
    env: { ...process.env, DOCKERFILE_FRONTEND_VERSION: FRONTEND_VERSION },
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
  return join(dir, "dockerfile-frontend");
}

/** A gateway frontend image: the binary as its entrypoint, and the labels BuildKit reads from it. */
async function frontendArchive(dir: string): Promise<string> {
  const ctx = { home: join(dir, "home"), env: {} };
  await mkdir(join(dir, "rootfs", "bin"), { recursive: true });
  await copyFile(frontendBinary(), join(dir, "rootfs", "bin", "dockerfile-frontend"));
  await chmod(join(dir, "rootfs", "bin", "dockerfile-frontend"), 0o755);
  await appendLayers(
    parseImageArgument("scratch", { allowScratch: true }),
    [{ source: join(dir, "rootfs"), dest: "/" }],
    parseImageArgument(`oci:${dir}/layout:raw`),
    ctx,
    { sourceDateEpoch: 0 },
  );
  await mutateImage(
    parseImageArgument(`oci:${dir}/layout:raw`),
    parseImageArgument(`oci:${dir}/layout:frontend`),
    {
      entrypoint: ["/bin/dockerfile-frontend"],
      labels: {
        "moby.buildkit.frontend.network.none": "true",
        "moby.buildkit.frontend.caps":
          "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
      },
    },
    ctx,
  );
  const archive = join(dir, "frontend.tar");
  await run("skopeo", [
    "copy",
    "-q",
    `oci:${dir}/layout:frontend`,
    `docker-archive:${archive}:${FRONTEND_IMAGE}`,
  ]);
  return archive;
}

export interface Engine {
  engine: Dockerd;
  /** The base image as berth names it (`oci:DIR:base`). */
  base: string;
  /** The same image in the engine (`berth-test/base:1`). */
  buildkitBase: string;
}

/**
 * Start a private engine with the busybox base loaded (the same image berth reads, checked by config digest)
 * and, with `frontend`, BuildKit's Dockerfile frontend image for `# syntax=`.
 */
export async function startEngine(work: string, options: { frontend: boolean }): Promise<Engine> {
  const base = await localBase(join(work, "base"));
  const archive = join(work, "base.tar");
  await run("skopeo", ["copy", "-q", base, `docker-archive:${archive}:${BUILDKIT_BASE}`]);
  const frontend = options.frontend ? await frontendArchive(join(work, "frontend")) : undefined;
  const engine: Dockerd = await startDockerd();
  try {
    await engine.docker(["load", "-i", archive]);
    if (frontend) await engine.docker(["load", "-i", frontend]);
    // The same image on both sides: the engine's image ID is the config digest of the layout berth reads.
    const layout = base.slice("oci:".length, base.lastIndexOf(":"));
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
    const desc = index.manifests.find(
      (m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === "base",
    );
    const manifest = JSON.parse(
      await readFile(join(layout, "blobs", "sha256", desc.digest.slice("sha256:".length)), "utf8"),
    );
    const id = (await engine.docker(["image", "inspect", "--format", "{{.Id}}", BUILDKIT_BASE])).trim();
    if (id !== manifest.config.digest)
      throw new Error(`base image differs: engine ${id}, layout ${manifest.config.digest}`);
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return { engine, base, buildkitBase: BUILDKIT_BASE };
}

export async function startOracle(work: string): Promise<Oracle> {
  const { engine, base } = await startEngine(work, { frontend: true });
  // ADD's URLs: fetched by berth and by the engine, both on this machine's loopback.
  const server = createServer((req, res) => {
    if (req.url === "/tool.txt") {
      res.setHeader("Last-Modified", "Tue, 01 Oct 2024 10:00:00 GMT");
      res.end("downloaded\n");
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  let n = 0;
  return {
    async compare(c) {
      const dir = join(work, `case-${n++}`);
      const ctx = await writeContext(join(dir, "ctx"), c.files ?? {});
      await c.setup?.(ctx);
      const secrets: string[] = [];
      for (const [id, content] of Object.entries(c.secrets ?? {})) {
        await writeFile(join(dir, `secret-${id}`), content);
        secrets.push("--secret", `id=${id},src=${join(dir, `secret-${id}`)}`);
      }
      const common = [
        ...(c.buildArgs ?? []).flatMap((a) => ["--build-arg", a]),
        ...secrets,
        ...(c.target ? ["--target", c.target] : []),
      ];
      // The Dockerfiles live outside the context, so `COPY . …` sees the same files on both sides.
      const dockerfile = (image: string) =>
        `# syntax=${FRONTEND_IMAGE}\n${c.dockerfile.replaceAll("{{BASE}}", image).replaceAll("{{URL}}", url)}`;
      await writeFile(join(dir, "berth.Dockerfile"), dockerfile(base));
      await writeFile(join(dir, "buildkit.Dockerfile"), dockerfile(BUILDKIT_BASE));
      const b = await berth(
        [
          "build",
          ctx,
          "--dockerfile",
          join(dir, "berth.Dockerfile"),
          "-t",
          `oci:${dir}/berth:img`,
          ...common,
        ],
        { home: join(work, "berth-home") },
      );
      if (b.code !== 0) throw new Error(`berth build failed (${b.code}):\n${b.stderr}`);
      const tag = `berth-test/case-${n}:latest`;
      // No bridge in the private engine: RUN steps get no network, as the corpus needs none.
      await engine.docker([
        "build",
        "--network=none",
        "-f",
        join(dir, "buildkit.Dockerfile"),
        "-t",
        tag,
        ...common,
        ctx,
      ]);
      await engine.docker(["save", "-o", join(dir, "buildkit.tar"), tag]);
      const ours = await flatten({ layout: `${dir}/berth`, tag: "img" });
      const theirs = await flatten({ archive: join(dir, "buildkit.tar"), scratch: join(dir, "buildkit") });
      return diffImages(ours, theirs);
    },
    async stop() {
      server.close();
      await engine.stop();
    },
  };
}

/** `docker build --progress=plain` of `ctx/docker.Dockerfile` on the engine: both streams (progress is stderr). */
export function dockerBuild(engine: Dockerd, ctx: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "/usr/bin/docker",
      ["build", "--progress=plain", "--network=none", "-f", join(ctx, "docker.Dockerfile"), ...args, ctx],
      { env: engine.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}
