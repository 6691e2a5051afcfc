/**
 * docker build's context forms made folders: `-f -`, the context `-` (a Dockerfile, or a tar plain or
 * compressed), a git repository (a git daemon on 127.0.0.1) and an http(s) URL (a server on 127.0.0.1).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { contextInput, type InputHost, prepareContext } from "../../src/cli/build-input.ts";
import { serveGitRepo } from "../dockerfile/helpers/git.ts";
import { tempDir } from "../helpers/temp.ts";

let tmp: string;
let tgz: Buffer;
let server: Server;
let base: string;
beforeAll(async () => {
  tmp = await tempDir("berth-build-input-");
  const ctx = join(tmp, "ctx");
  await mkdir(join(ctx, "sub"), { recursive: true });
  await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
  await writeFile(join(ctx, "sub", "Other"), "FROM scratch\n");
  await writeFile(join(ctx, "hello.txt"), "hi\n");
  execFileSync("tar", ["-C", ctx, "-czf", join(tmp, "ctx.tgz"), "."]);
  execFileSync("tar", ["-C", ctx, "-cf", join(tmp, "ctx.tar"), "."]);
  tgz = await readFile(join(tmp, "ctx.tgz"));
  server = createServer((req, res) => {
    if (req.url === "/ctx.tgz") res.end(tgz);
    else if (req.url === "/Dockerfile") res.end("FROM scratch\nLABEL from=url\n");
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => server?.close());

const host = (stdin: string | Buffer, o: Partial<InputHost> = {}): InputHost => ({
  stdin: () => Readable.from([Buffer.from(stdin)]),
  stdinIsTerminal: () => false,
  env: process.env,
  dockerfile: undefined,
  flag: "-f",
  tmp: join(tmp, "home-tmp"),
  keepGitDir: false,
  ...o,
});

describe("contextInput", () => {
  it("reads -, a folder, git forms and URLs in docker's order (a folder of that name wins)", async () => {
    expect(await contextInput("-", tmp)).toEqual({ kind: "stdin" });
    expect(await contextInput("ctx", tmp)).toEqual({ kind: "dir", dir: join(tmp, "ctx") });
    expect((await contextInput("git@github.com:o/r.git#main", tmp)).kind).toBe("git");
    expect((await contextInput("https://example.com/o/r.git#v1:sub", tmp)).kind).toBe("git");
    expect((await contextInput("git://127.0.0.1/r", tmp)).kind).toBe("git");
    expect(await contextInput("https://example.com/ctx.tgz", tmp)).toEqual({
      kind: "url",
      url: "https://example.com/ctx.tgz",
    });
    await mkdir(join(tmp, "https:"), { recursive: true });
    expect((await contextInput("https:", tmp)).kind).toBe("dir");
    expect(await contextInput("missing", tmp)).toEqual({ kind: "dir", dir: join(tmp, "missing") });
  });
});

describe("prepareContext", () => {
  it("a folder is used as it is; with -f -, the Dockerfile comes from standard input, outside the folder", async () => {
    const dir = join(tmp, "ctx");
    const plain = await prepareContext({ kind: "dir", dir }, host(""));
    expect(plain).toMatchObject({ contextDir: dir, dockerfile: undefined });
    const p = await prepareContext({ kind: "dir", dir }, host("FROM scratch\n", { dockerfile: "-" }));
    expect(p).toMatchObject({ contextDir: dir, reason: "-f -", inContext: false });
    expect(await readFile(p.dockerfile!, "utf8")).toBe("FROM scratch\n");
    await p.cleanup();
    expect(existsSync(p.dockerfile!)).toBe(false);
  });

  it("standard input that is a tar (plain or gzip) is the context, -f naming a file inside it", async () => {
    for (const name of ["ctx.tgz", "ctx.tar"]) {
      const p = await prepareContext(
        { kind: "stdin" },
        host(await readFile(join(tmp, name)), { dockerfile: "sub/Other" }),
      );
      expect(p.dockerfile).toBe(join(p.contextDir, "sub", "Other"));
      expect(p.inContext).toBe(true);
      expect(await readFile(join(p.contextDir, "hello.txt"), "utf8")).toBe("hi\n");
      await p.cleanup();
      expect(existsSync(p.contextDir)).toBe(false);
    }
  });

  it("standard input that is no tar is the Dockerfile, with an empty context (the Dockerfile not in it)", async () => {
    const p = await prepareContext({ kind: "stdin" }, host("FROM scratch\nLABEL a=b\n"));
    expect(await readFile(p.dockerfile!, "utf8")).toBe("FROM scratch\nLABEL a=b\n");
    expect(await readdir(p.contextDir)).toEqual([]);
    expect(p.inContext).toBe(false);
    await p.cleanup();
  });

  it("refuses a terminal, and standard input for both the context and the Dockerfile, naming the argument", async () => {
    await expect(
      prepareContext({ kind: "stdin" }, host("", { stdinIsTerminal: () => true })),
    ).rejects.toThrow("the context - reads standard input, which is a terminal");
    await expect(
      prepareContext({ kind: "dir", dir: tmp }, host("", { stdinIsTerminal: () => true, dockerfile: "-" })),
    ).rejects.toThrow("-f - reads standard input, which is a terminal");
    await expect(
      prepareContext({ kind: "stdin" }, host("", { dockerfile: "-", flag: "--dockerfile" })),
    ).rejects.toThrow("--dockerfile - and the context - both read standard input");
  });

  it("a URL of a tarball or of a Dockerfile, as docker's GetContextFromURL; a failing URL is named", async () => {
    const t = await prepareContext({ kind: "url", url: `${base}/ctx.tgz` }, host(""));
    expect(await readFile(join(t.contextDir, "hello.txt"), "utf8")).toBe("hi\n");
    expect(t.dockerfile).toBe(join(t.contextDir, "Dockerfile"));
    await t.cleanup();
    const d = await prepareContext({ kind: "url", url: `${base}/Dockerfile` }, host(""));
    expect(await readFile(d.dockerfile!, "utf8")).toContain("LABEL from=url");
    expect(await readdir(d.contextDir)).toEqual([]);
    await d.cleanup();
    await expect(prepareContext({ kind: "url", url: `${base}/missing` }, host(""))).rejects.toThrow(
      `the build context could not fetch ${base}/missing: HTTP 404`,
    );
    await expect(
      prepareContext({ kind: "url", url: `${base}/Dockerfile` }, host("FROM scratch\n", { dockerfile: "-" })),
    ).rejects.toThrow(`the context ${base}/Dockerfile is not a tar archive, and -f - reads the Dockerfile`);
  });

  it("a git repository is cloned at its ref, as ADD clones it", async () => {
    const git = await serveGitRepo(join(tmp, "git"));
    try {
      const p = await prepareContext({ kind: "git", url: `${git.url}#v1` }, host(""));
      expect(await readFile(join(p.contextDir, "hello.txt"), "utf8")).toBe("v1\n");
      expect(p.dockerfile).toBe(join(p.contextDir, "Dockerfile"));
      // no .git, unless BUILDKIT_CONTEXT_KEEP_GIT_DIR asks for it
      expect(await readdir(p.contextDir)).not.toContain(".git");
      await p.cleanup();
      const kept = await prepareContext(
        { kind: "git", url: `${git.url}#v1` },
        host("", { keepGitDir: true }),
      );
      expect(execFileSync("git", ["rev-parse", "HEAD"], { cwd: kept.contextDir }).toString()).toMatch(
        /^[0-9a-f]{40}\n$/,
      );
      await kept.cleanup();
      const repo = join(tmp, "git", "repo.git");
      await mkdir(join(repo, "app"));
      await writeFile(join(repo, "app", "Dockerfile"), "FROM scratch\n");
      const g = (args: string[]) =>
        execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: repo });
      g(["add", "app"]);
      g(["commit", "-q", "-m", "app"]);
      const sub = await prepareContext({ kind: "git", url: `${git.url}#main:app` }, host(""));
      expect(await readdir(sub.contextDir)).toEqual(["Dockerfile"]);
      expect(sub).toMatchObject({
        dockerfile: join(sub.contextDir, "Dockerfile"),
        inContext: true,
        remote: true,
      });
      await sub.cleanup();
      await expect(prepareContext({ kind: "git", url: `${git.url}#nope` }, host(""))).rejects.toThrow(
        /the build context/,
      );
    } finally {
      git.close();
    }
  });
});
