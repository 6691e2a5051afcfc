/**
 * The context and Dockerfile forms of `docker build`, against Debian's docker 20.10 client and its engine's
 * BuildKit: `-f -`, `- < Dockerfile`, `- < ctx.tar.gz`, an http URL of a tarball and a git repository served on
 * 127.0.0.1. berth's image and the engine's, flattened, agree. A remote context's `.dockerignore` is not applied
 * (BuildKit applies it to local files only: docker/cli#2827), so `skip.log` is in both images.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type GitServer, serveGitRepo } from "../helpers/git.ts";
import { diffImages } from "./helpers/diff.ts";
import { flatten } from "./helpers/flatten.ts";
import { type Engine, startEngine } from "./helpers/oracle.ts";

const DOCKERFILE = "FROM scratch\nCOPY . /ctx/\nLABEL form=test\n";
let tmp: string;
let ctx: string;
let engine: Engine;
let server: Server;
let url: string;
let git: GitServer;

beforeAll(async () => {
  tmp = await tempDir("berth-df-context-input-");
  ctx = join(tmp, "ctx");
  await mkdir(join(ctx, "sub"), { recursive: true });
  await writeFile(join(ctx, "Dockerfile"), DOCKERFILE);
  await writeFile(join(ctx, "hello.txt"), "hello\n");
  await writeFile(join(ctx, "sub", "a.txt"), "a\n");
  await writeFile(join(ctx, ".dockerignore"), "*.log\n");
  await writeFile(join(ctx, "skip.log"), "ignored\n");
  execFileSync("tar", ["-C", ctx, "-czf", join(tmp, "ctx.tgz"), "."]);
  const tgz = await readFile(join(tmp, "ctx.tgz"));
  server = createServer((req, res) => {
    if (req.url === "/ctx.tgz") res.end(tgz);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  git = await serveGitRepo(join(tmp, "git"));
  const repo = join(tmp, "git", "repo.git");
  await writeFile(join(repo, "Dockerfile"), DOCKERFILE);
  await writeFile(join(repo, "more.txt"), "from git\n");
  const g = (args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
  g(["add", "Dockerfile", "more.txt"]);
  g(["commit", "-q", "-m", "app"]);
  engine = await startEngine(join(tmp, "engine"), { frontend: false });
}, 600_000);
afterAll(async () => {
  server?.close();
  git?.close();
  await engine?.engine.stop();
});

/** The docker client with `input` on its standard input. */
function docker(args: string[], input: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/docker", args, {
      env: engine.engine.env,
      stdio: ["pipe", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`docker ${args.join(" ")}: ${err}`)),
    );
    child.stdin.end(input);
  });
}

async function compare(name: string, args: string[], input: Buffer | string = ""): Promise<string[]> {
  const r = await berth(["build", ...args, "-t", `oci:${tmp}/out:${name}`], {
    home: join(tmp, "home"),
    env: { SOURCE_DATE_EPOCH: "0" },
    input,
  });
  expect(r.code, r.stderr).toBe(0);
  await docker(["build", "--progress=plain", ...args, "-t", `${name}:1`], input);
  await engine.engine.docker(["save", "-o", join(tmp, `${name}.tar`), `${name}:1`]);
  const a = await flatten({ layout: join(tmp, "out"), tag: name });
  const b = await flatten({ archive: join(tmp, `${name}.tar`), scratch: join(tmp, `${name}-bk`) });
  return diffImages(a, b);
}

it("-f - reads the Dockerfile from standard input, the context from the folder", async () => {
  expect(await compare("stdin-df", ["-f", "-", ctx], DOCKERFILE)).toEqual([]);
}, 300_000);

it("- < Dockerfile builds with a context of the Dockerfile alone", async () => {
  expect(await compare("stdin-only", ["-"], "FROM scratch\nCOPY . /ctx/\nLABEL form=stdin\n")).toEqual([]);
}, 300_000);

it("- < ctx.tar.gz is the context, with its Dockerfile; its .dockerignore is not applied, as BuildKit's", async () => {
  expect(await compare("stdin-tar", ["-"], await readFile(join(tmp, "ctx.tgz")))).toEqual([]);
}, 300_000);

// (BuildKit 0.8 refuses a git context's :subdir: "subdir not supported yet"; test/cli/build-input.test.ts has it)
it("an http URL of a tarball and a git repository (#ref) are contexts", async () => {
  expect(await compare("url-tar", [`${url}/ctx.tgz`])).toEqual([]);
  expect(await compare("git", [`${git.url}#main`])).toEqual([]);
}, 300_000);
