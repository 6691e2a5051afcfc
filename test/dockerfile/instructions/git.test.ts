/** ADD of a git repository: the source's parts, and the clone checked against --checksum (src/dockerfile/instructions/git.ts). */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchGit, parseGitRef } from "../../../src/dockerfile/instructions/git.ts";
import { tempDir } from "../../helpers/temp.ts";
import { failure, failureOf } from "../helpers/failure.ts";
import { type GitServer, serveGitRepo } from "../helpers/git.ts";

describe("parseGitRef", () => {
  const none = { ref: undefined, subdir: undefined, checksum: undefined, keepGitDir: undefined };

  it("splits the fragment into ref and subdir", () => {
    expect(parseGitRef("https://h/r.git#v1:docs/x")).toEqual({
      ...none,
      remote: "https://h/r.git",
      ref: "v1",
      subdir: "docs/x",
    });
    expect(parseGitRef("git@h:r.git#:sub")).toEqual({ ...none, remote: "git@h:r.git", subdir: "sub" });
    expect(parseGitRef("git://h/r#")).toEqual({ ...none, remote: "git://h/r" });
  });

  it("reads the query of a URL, the fragment winning over it", () => {
    expect(
      parseGitRef("https://h/r.git?branch=dev&subdir=a&commit=abc&keep-git-dir=1&submodules=false"),
    ).toEqual({
      remote: "https://h/r.git",
      ref: "dev",
      subdir: "a",
      checksum: "abc",
      keepGitDir: true,
    });
    expect(parseGitRef("ssh://h/r?tag=v1#v2").ref).toBe("v2");
    // Only URLs have a query: in scp-like syntax the ? is part of the path.
    expect(parseGitRef("git@h:r?x=1").remote).toBe("git@h:r?x=1");
  });

  it("refuses an unknown query key and a ref or remote that git would take for an option", () => {
    expect(failure(() => parseGitRef("https://h/r?depth=1"))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: 'git source https://h/r?depth=1: unexpected query key "depth"',
    });
    expect(failure(() => parseGitRef("https://h/r#--upload-pack=x")).message).toBe(
      'git source "https://h/r#--upload-pack=x" is invalid',
    );
    expect(failure(() => parseGitRef("-oProxyCommand=x")).code).toBe("DOCKERFILE_SYNTAX");
  });
});

describe("fetchGit (git daemon on 127.0.0.1)", () => {
  let server: GitServer;
  let tmp: string;
  const env = { PATH: process.env.PATH, HOME: "/nonexistent" };
  const opts = { checksum: undefined, keepGitDir: false, env };
  let n = 0;
  const dest = () => join(tmp, `clone-${n++}`);

  beforeAll(async () => {
    tmp = await tempDir();
    server = await serveGitRepo(join(tmp, "served"));
  });
  afterAll(() => server?.close());

  it("checks out the remote's HEAD, or a tag, and drops .git unless kept", async () => {
    const head = dest();
    expect(await fetchGit(parseGitRef(server.url), head, opts)).toEqual({ commit: server.head });
    expect(await readdir(head)).toEqual(["hello.txt"]);
    const tag = dest();
    expect(await fetchGit(parseGitRef(`${server.url}#v1`), tag, { ...opts, keepGitDir: true })).toEqual({
      commit: server.v1,
    });
    expect(await readFile(join(tag, "hello.txt"), "utf8")).toBe("v1\n");
    expect((await readdir(tag)).sort()).toEqual([".git", "hello.txt"]);
  });

  it("accepts a checksum prefix of the commit or of the annotated tag, and refuses another", async () => {
    const ref = parseGitRef(`${server.url}#v1-note`);
    expect(await fetchGit(ref, dest(), { ...opts, checksum: server.v1.slice(0, 10).toUpperCase() })).toEqual({
      commit: server.v1,
    });
    const wrong = await failureOf(fetchGit(ref, dest(), { ...opts, checksum: "0000" }));
    expect(wrong.code).toBe("DIGEST_MISMATCH");
    expect(wrong.message).toMatch(
      new RegExp(
        `^ADD ${server.url}#v1-note: expected checksum to match 0000, got ${server.v1} or [0-9a-f]{40}$`,
      ),
    );
    expect(await failureOf(fetchGit(ref, dest(), { ...opts, checksum: "xyz" }))).toEqual({
      code: "DOCKERFILE_SYNTAX",
      message: "invalid checksum xyz for Git URL, expected hex commit hash",
    });
  });

  it("names a ref the repository lacks", async () => {
    expect(await failureOf(fetchGit(parseGitRef(`${server.url}#nope`), dest(), opts))).toEqual({
      code: "DOCKERFILE_SOURCE_NOT_FOUND",
      message: `ADD ${server.url}#nope: repository does not contain ref nope`,
    });
  });

  it("refuses a repository on the local disk (the file transport is off)", async () => {
    const f = await failureOf(fetchGit(parseGitRef(join(tmp, "served", "repo.git")), dest(), opts));
    expect(f.code).toBe("DOCKERFILE_SOURCE_NOT_FOUND");
    expect(f.message).toMatch(/^ADD .*repo\.git: git clone failed: .*transport 'file' not allowed/);
  });
});
