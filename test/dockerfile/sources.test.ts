/** COPY/ADD sources: patterns matched in a root, the files below them, --parents, --exclude and their digest (src/dockerfile/sources.ts). */
import { createHash } from "node:crypto";
import { chmod, link, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  ContextSources,
  fileDigest,
  type MatchedSource,
  matchSources,
  selectSources,
  sourcesDigest,
} from "../../src/dockerfile/sources.ts";
import { createMatcher } from "../../src/layer/index.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";

/** The tree every test reads (made once). */
async function makeContext(root: string): Promise<void> {
  const files: Record<string, string> = {
    "a.txt": "a",
    "b.txt": "b",
    "c.md": "c",
    "[x].txt": "brackets",
    "src/main.go": "package main",
    "src/lib/util.go": "package lib",
    "src/lib/util_test.go": "test",
    "src/README": "readme",
    "src/gen/out.go": "generated",
    "docs/guide.md": "guide",
  };
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(root, p, ".."), { recursive: true });
    await writeFile(join(root, p), content);
  }
  await symlink("src/lib", join(root, "liblink"));
  await symlink("/docs/guide.md", join(root, "guide"));
  await mkdir(join(root, "broken"));
  await symlink("/nowhere", join(root, "broken/dangling"));
}

const summary = (sources: MatchedSource[]) =>
  sources.map((s) => ({ path: s.path, isDir: s.isDir, files: s.files.map((f) => f.rel) }));

describe("matchSources", () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
    await makeContext(root);
  });

  it("matches names and wildcards per component, in sorted order", async () => {
    expect(summary(await matchSources(root, ["*.txt", "src/*/util?go"], undefined, "ctx"))).toEqual([
      { path: "[x].txt", isDir: false, files: [""] },
      { path: "a.txt", isDir: false, files: [""] },
      { path: "b.txt", isDir: false, files: [""] },
      { path: "src/lib/util.go", isDir: false, files: [""] },
    ]);
    // BuildKit's fsutil (copy.go resolveWildcards) matches with Go's filepath.Match: `[!a]` is the class of `!`
    // and `a`, no negation (that is `[^a]`)
    expect(
      summary(await matchSources(root, ["[ab].txt", "[!a].txt", "[^a].txt"], undefined, "ctx")).map(
        (s) => s.path,
      ),
    ).toEqual(["a.txt", "b.txt", "a.txt", "b.txt"]);
    // A name with wildcard characters that exists as written is taken literally (escaped) when it has no glob.
    expect(summary(await matchSources(root, ["\\[x\\].txt"], undefined, "ctx")).map((s) => s.path)).toEqual([
      "[x].txt",
    ]);
  });

  it("walks a directory in order, links below it kept as links", async () => {
    const [src] = await matchSources(root, ["/src/../src"], undefined, "ctx");
    expect(summary([src!])).toEqual([
      {
        path: "src",
        isDir: true,
        files: ["", "README", "gen", "gen/out.go", "lib", "lib/util.go", "lib/util_test.go", "main.go"],
      },
    ]);
  });

  it("walks the whole root without following a link below it, out of the root or in", async () => {
    const outside = await tempDir();
    await writeFile(join(outside, "secret"), "secret");
    const dir = join(await tempDir(), "ctx");
    await makeContext(dir);
    await symlink(outside, join(dir, "src", "out"));
    await symlink("..", join(dir, "docs", "up"));
    const [all] = await matchSources(dir, ["."], undefined, "ctx");
    const links = all!.files.filter((f) => f.linkname !== undefined).map((f) => [f.rel, f.linkname]);
    expect(links).toEqual([
      ["broken/dangling", "/nowhere"],
      ["docs/up", ".."],
      ["guide", "/docs/guide.md"],
      ["liblink", "src/lib"],
      ["src/out", outside],
    ]);
    expect(all!.files.filter((f) => /secret|^(liblink|src\/out|docs\/up)\//.test(f.rel))).toEqual([]);
    expect(all!.files).toHaveLength(21);
  });

  it("follows a link in the source path inside the root, keeping the name it was matched by", async () => {
    const [lib, guide] = await matchSources(root, ["liblink", "guide"], undefined, "ctx");
    expect([lib!.path, lib!.isDir, lib!.matched]).toEqual(["src/lib", true, "liblink"]);
    expect([guide!.path, guide!.name]).toEqual(["docs/guide.md", "guide"]);
  });

  it("applies .dockerignore, also below a matched directory, with ! exceptions", async () => {
    const matcher = createMatcher(["*.txt", "src/lib", "!src/lib/util.go", "src/gen"]);
    expect(summary(await matchSources(root, ["*", "src"], matcher, "ctx")).map((s) => s.path)).not.toContain(
      "a.txt",
    );
    const [src] = await matchSources(root, ["src"], matcher, "ctx");
    expect(src!.files.map((f) => f.rel)).toEqual(["", "README", "lib", "lib/util.go", "main.go"]);
  });

  it("the wildcard part is matched whole below its directory, as fsutil's ResolveWildcards walks it", async () => {
    const paths = async (p: string) =>
      summary(await matchSources(root, [p], undefined, "ctx")).map((s) => s.path);
    // a class may take the / (Go's filepath.Match over the path below "src")
    expect(await paths("src/lib[/]util.go")).toEqual(["src/lib/util.go"]);
    expect(await paths("s?c[/]?ain.go")).toEqual(["src/main.go"]);
    // links before the wildcard are followed inside the root; links below it are entries, not walked into
    expect(await paths("liblink/util*")).toEqual(["src/lib/util.go", "src/lib/util_test.go"]);
    expect(await paths("*/util.go")).toEqual([]);
    expect(await paths("*/*/util.go")).toEqual(["src/lib/util.go"]);
    // a matching directory is not walked further
    expect(await paths("s*")).toEqual(["src"]);
  });

  it("a wildcard matching nothing copies nothing; a missing name or dangling link is an error naming it", async () => {
    expect(await matchSources(root, ["*.none"], undefined, "ctx")).toEqual([]);
    expect(
      await failureOf(matchSources(root, ["missing.txt"], createMatcher(["x"]), "the build context")),
    ).toEqual({
      code: "DOCKERFILE_SOURCE_NOT_FOUND",
      message: '"missing.txt" not found in the build context (or excluded by .dockerignore)',
    });
    expect((await failureOf(matchSources(root, ["a.txt"], createMatcher(["a.txt"]), "ctx"))).message).toBe(
      '"a.txt" not found in ctx (or excluded by .dockerignore)',
    );
    expect(
      (await failureOf(matchSources(root, ["broken/dangling"], undefined, "--from=build"))).message,
    ).toBe('"broken/dangling" is a symlink whose target "/nowhere" does not exist in --from=build');
    expect((await failureOf(matchSources(root, ["[ab.txt"], undefined, "ctx"))).message).toBe(
      'pattern "[ab.txt" is not a valid wildcard: a [ has no closing ]',
    );
  });
});

describe("selectSources", () => {
  let root: string;
  beforeAll(async () => {
    root = await tempDir();
    await makeContext(root);
  });
  const none = { matcher: undefined, what: "ctx", parents: false, excludes: [] };

  it("--exclude drops paths below a matched source, never the source itself", async () => {
    const out = await selectSources(root, ["src", "a.txt"], {
      ...none,
      excludes: ["**/*_test.go", "README", "a.txt"],
    });
    expect(summary(out)).toEqual([
      { path: "src", isDir: true, files: ["", "gen", "gen/out.go", "lib", "lib/util.go", "main.go"] },
      { path: "a.txt", isDir: false, files: [""] },
    ]);
    const dir = await selectSources(root, ["src"], { ...none, excludes: ["lib"] });
    expect(dir[0]!.files.map((f) => f.rel)).toEqual(["", "README", "gen", "gen/out.go", "main.go"]);
  });

  it("--parents keeps paths below the root or below a /./ pivot, with the directories above", async () => {
    const all = await selectSources(root, ["src/**/*.go"], { ...none, parents: true });
    expect(summary(all)).toEqual([
      {
        path: "",
        isDir: true,
        files: [
          "",
          "src",
          "src/gen",
          "src/gen/out.go",
          "src/lib",
          "src/lib/util.go",
          "src/lib/util_test.go",
          "src/main.go",
        ],
      },
    ]);
    const pivot = await selectSources(root, ["src/./lib"], {
      ...none,
      parents: true,
      excludes: ["**/*_test.go"],
    });
    expect(summary(pivot)).toEqual([{ path: "src", isDir: true, files: ["", "lib", "lib/util.go"] }]);
    expect((await failureOf(selectSources(root, ["src/./nope"], { ...none, parents: true }))).message).toBe(
      '"src/nope" not found in ctx',
    );
  });
});

describe("fileDigest and sourcesDigest", () => {
  it("digests a file whole or streamed alike", async () => {
    const dir = await tempDir();
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await writeFile(join(dir, "big"), big);
    const want = createHash("sha256").update(big).digest("hex");
    expect(await fileDigest(join(dir, "big"))).toBe(want);
    expect(await fileDigest(join(dir, "big"), 10)).toBe(want);
  });

  it("digests a small file as it is when it grew or shrank since it was listed", async () => {
    const dir = await tempDir();
    for (const [listed, content] of [
      [3, "abcdef"],
      [6, "abc"],
      [0, ""],
      [2000, "x".repeat(2000)],
      [200 * 1024, "y".repeat(100)],
    ] as const) {
      await writeFile(join(dir, "f"), content);
      expect(await fileDigest(join(dir, "f"), listed)).toBe(
        createHash("sha256").update(content).digest("hex"),
      );
    }
  });

  it("never reads through a symlink: a file swapped for a link since it was listed is not read where the link points", async () => {
    const dir = await tempDir();
    const outside = join(dir, "secret");
    await writeFile(outside, "secret");
    await writeFile(join(dir, "big-secret"), Buffer.alloc(300 * 1024, 1));
    await symlink(outside, join(dir, "small"));
    await symlink(join(dir, "big-secret"), join(dir, "big"));
    // sizes as lstat saw the regular files that were there before
    for (const [name, size] of [
      ["small", 6],
      ["big", 300 * 1024],
      ["big", 3 * 1024 * 1024],
    ] as const) {
      const err = await (async () => fileDigest(join(dir, name), size))().catch(
        (e: NodeJS.ErrnoException) => e,
      );
      expect((err as NodeJS.ErrnoException).code).toBe("ELOOP");
    }
  });

  it("changes with content, mode, link targets and hard-link grouping, not with the host path", async () => {
    const digestOf = async (setup: (dir: string) => Promise<void>) => {
      const dir = await tempDir();
      await mkdir(join(dir, "d"));
      await writeFile(join(dir, "d/f"), "x");
      await writeFile(join(dir, "d/g"), "x");
      await symlink("f", join(dir, "d/l"));
      await setup(dir);
      return sourcesDigest(await matchSources(dir, ["d"], undefined, "ctx"));
    };
    const plain = await digestOf(async () => {});
    expect(await digestOf(async () => {})).toBe(plain);
    const changed = [
      await digestOf((d) => writeFile(join(d, "d/f"), "y")),
      await digestOf((d) => chmod(join(d, "d/f"), 0o600)),
      await digestOf(async (d) => {
        await writeFile(join(d, "d/l2"), "");
        await symlink("g", join(d, "d/l3"));
      }),
      await digestOf(async (d) => {
        await rm(join(d, "d/g"));
        await link(join(d, "d/f"), join(d, "d/g"));
      }),
    ];
    expect(new Set([plain, ...changed]).size).toBe(5);
  });

  it("takes contents from the caller when given (the context index)", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "x");
    const sources = await matchSources(dir, ["f"], undefined, "ctx");
    const asked: string[] = [];
    const a = await sourcesDigest(sources, async (p) => {
      asked.push(p);
      return "one";
    });
    expect(asked).toEqual([join(dir, "f")]);
    expect(a).not.toBe(await sourcesDigest(sources, async () => "two"));
    expect(await sourcesDigest(sources)).not.toBe(a);
  });

  it("digests the same text however large (cache keys stay as they were: pieces of ~64 KB, not one a file)", async () => {
    const st = (type: "f" | "d" | "l", i: number) =>
      ({
        isDirectory: () => type === "d",
        isSymbolicLink: () => type === "l",
        isFile: () => type === "f",
        nlink: i % 7 === 0 ? 2 : 1,
        dev: 1,
        ino: i % 14,
        mode: 0o100644,
        size: i,
        uid: i,
        gid: 2,
      }) as unknown as MatchedSource["files"][number]["st"];
    const files = Array.from({ length: 3000 }, (_, i) => {
      const type = (["f", "d", "l"] as const)[i % 3]!;
      return {
        hostPath: `/h/${i}`,
        rel: `dir/file-${i}`,
        st: st(type, i),
        ...(type === "l" ? { linkname: "t" } : {}),
      };
    });
    const sources: MatchedSource[] = [{ path: "/dir", isDir: true, files, name: "dir" }];
    const content = async (p: string) => `c${p}`;
    for (const owners of [false, true]) {
      const expected = createHash("sha256").update("source /dir true dir \n");
      const groups = new Map<string, number>();
      files.forEach((f, n) => {
        const type = f.st.isDirectory() ? "d" : f.st.isSymbolicLink() ? "l" : "f";
        let group = "";
        if (type === "f" && f.st.nlink > 1) {
          const k = `${f.st.dev}:${f.st.ino}`;
          if (!groups.has(k)) groups.set(k, n);
          group = String(groups.get(k));
        }
        expected.update(
          `${f.rel}\0${type}\0${f.st.mode & 0o7777}\0${f.st.size}\0${f.linkname ?? ""}\0${group}\0`,
        );
        if (owners) expected.update(`${f.st.uid}:${f.st.gid}\0`);
        if (type === "f") expected.update(`c${f.hostPath}`);
        expected.update("\n");
      });
      expect(await sourcesDigest(sources, content, owners)).toBe(expected.digest("hex"));
    }
  });
});

describe("ContextSources", () => {
  it("matches each set of patterns and flags once, digests each match once, the .dockerignore applied", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.txt"), "a");
    await writeFile(join(dir, "b.txt"), "b");
    const read: string[] = [];
    const sources = new ContextSources(dir, createMatcher(["b.txt"]), (path) => {
      read.push(path);
      return "0".repeat(64);
    });
    const o = { parents: false, excludes: [] };
    const first = sources.select(["*.txt"], o);
    expect(sources.select(["*.txt"], { parents: false, excludes: [] })).toBe(first);
    expect(sources.select(["*.txt"], { parents: false, excludes: ["a.txt"] })).not.toBe(first);
    expect(await first).toHaveLength(1);
    const digest = sources.digest(await first);
    expect(sources.digest(await first)).toBe(digest);
    expect(await digest).toMatch(/^[0-9a-f]{64}$/);
    expect(read).toEqual([join(dir, "a.txt")]);
  });
});
