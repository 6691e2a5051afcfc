/** The parser and variable expansion, on their own. */
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../../src/dockerfile/index.ts";

describe("parseDockerfile", () => {
  it("directives, continuations, comments inside continuations, JSON and shell forms, flags", () => {
    const df = parseDockerfile(
      [
        "# syntax=docker/dockerfile:1",
        "# escape=\\",
        "",
        "FROM --platform=linux/amd64 base AS build",
        "RUN apk add \\",
        "# a comment in the middle",
        "    curl \\",
        "",
        "    git",
        'CMD ["node", "server.js"]',
        "COPY --from=build --chown=1:2 /a /b",
        "RUN --mount=type=cache,target=/c --mount=type=secret,id=s echo hi",
        'ENTRYPOINT [not json"',
      ].join("\n"),
    );
    expect(df.syntax).toBe("docker/dockerfile:1");
    const [from, run, cmd, copy, mounts, ep] = df.instructions;
    expect(from).toMatchObject({
      keyword: "FROM",
      flags: { platform: ["linux/amd64"] },
      args: "base AS build",
      line: 4,
    });
    expect(run).toMatchObject({ keyword: "RUN", args: "apk add     curl     git", line: 5, endLine: 9 });
    expect(cmd?.json).toEqual(["node", "server.js"]);
    expect(copy?.flags).toEqual({ from: ["build"], chown: ["1:2"] });
    expect(mounts?.flags.mount).toEqual(["type=cache,target=/c", "type=secret,id=s"]);
    expect(ep?.json).toBeUndefined();
  });

  it("BuildKit's flag table: booleans, repeatable flags, `--` ends the flags; heredoc names are any word", () => {
    const df = parseDockerfile(
      [
        "FROM base",
        "COPY --link --parents=false --exclude=a --exclude=b x /y",
        "COPY -- --odd /y",
        "COPY <<robots.txt <<'raw.conf' /srv/",
        "User-agent: *",
        "robots.txt",
        "$NOT_EXPANDED",
        "raw.conf",
        "RUN 3<<EOF cat <&3",
        "x",
        "EOF",
      ].join("\n"),
    );
    const [, copy, odd, heredoc, run] = df.instructions;
    expect(copy?.flags).toEqual({ link: ["true"], parents: ["false"], exclude: ["a", "b"] });
    expect(odd).toMatchObject({ flags: {}, args: "--odd /y" });
    expect(heredoc?.heredocs.map((h) => [h.name, h.expand, h.content])).toEqual([
      ["robots.txt", true, "User-agent: *\n"],
      ["raw.conf", false, "$NOT_EXPANDED\n"],
    ]);
    expect(run?.heredocs.map((h) => h.name)).toEqual(["EOF"]);
    expect(() => parseDockerfile("FROM base\nRUN --mount type=cache true\n")).toThrow(
      "Dockerfile:2: missing a value on flag: mount",
    );
    expect(() => parseDockerfile("FROM base\nCOPY --from=a --from=b x y\n")).toThrow(
      "Dockerfile:2: duplicate flag specified: from",
    );
    expect(() => parseDockerfile("FROM base\nWORKDIR --x /a\n").instructions[1]?.args).not.toThrow();
  });

  it("the backtick escape directive", () => {
    const df = parseDockerfile("# escape=`\nFROM base\nRUN dir `\n  c:\\\\x\n");
    expect(df.escape).toBe("`");
    expect(df.instructions[1]?.args).toBe("dir   c:\\\\x");
  });

  it("heredocs: several per instruction, <<- strips tabs, quoted names do not expand", () => {
    const df = parseDockerfile("FROM b\nCOPY <<A <<-'B' /dst/\none\nA\n\ttwo\n\tB\nRUN echo done\n");
    const copy = df.instructions[1]!;
    expect(copy.heredocs).toEqual([
      { name: "A", content: "one\n", expand: true, chomp: false, shebang: false },
      { name: "B", content: "two\n", expand: false, chomp: true, shebang: false },
    ]);
    expect(df.instructions[2]).toMatchObject({ keyword: "RUN", line: 7 });
  });

  it("unknown instructions name their line", () => {
    expect(() => parseDockerfile("FROM b\nRUNN x\n", "app.Dockerfile")).toThrow(
      "app.Dockerfile:2: unknown instruction: RUNN",
    );
  });
});
