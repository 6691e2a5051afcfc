/** Bad input: every error names the Dockerfile line at fault. */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { handImages } from "./helpers/image.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-errors-");
  base = await localBase(join(tmp, "base"));
});

async function build(dockerfile: string, files: Record<string, string> = {}, extra: string[] = []) {
  const ctx = await writeContext(join(tmp, `ctx-${n++}`), {
    ...files,
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
  });
  return berth(["build", ctx, "--dockerfile", "-t", `oci:${tmp}/out:x`, ...extra], {
    home: join(tmp, "home"),
  });
}

describe("Dockerfile errors", () => {
  it("an unknown instruction", async () => {
    const r = await build("FROM {{BASE}}\n\nFORM other\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Dockerfile:3: unknown instruction: FORM");
  });

  it("a missing stage in COPY --from", async () => {
    const r = await build("FROM {{BASE}} AS build\nFROM {{BASE}}\nCOPY --from=biuld /bin/sh /x\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:3: --from=biuld: no stage named "biuld"/);
    expect(r.stderr).toContain("hint: the stages are: build, 1");
  });

  it("a --target that is no stage", async () => {
    const r = await build("FROM {{BASE}} AS build\n", {}, ["--target", "nope"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('target stage "nope" not found');
  });

  it("a stage used before it is defined", async () => {
    const r = await build(
      "FROM {{BASE}}\nCOPY --from=later /a /a\nFROM {{BASE}} AS later\nFROM {{BASE}}\nCOPY --from=0 /a /b\n",
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Dockerfile:2: stage "later" not found before this instruction');
  });

  it("a base layer that cannot be unpacked fails the RUN that needs it (its snapshots are made before, in the background)", async () => {
    const layout = join(tmp, "evil");
    await handImages(layout, [
      [
        { path: "out", type: "symlink", linkname: tmp },
        { path: "out/planted", content: "x" },
      ],
    ]);
    const r = await build(`FROM oci:${layout}:1\nCOPY a.txt /a\nRUN true\n`, { "a.txt": "a\n" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /Dockerfile:3: RUN true: applying layer 0 \(sha256:[0-9a-f]{64}\): layer entry "out\/planted" /,
    );
  });

  it("COPY of a missing file", async () => {
    const r = await build("FROM {{BASE}}\nCOPY present.txt /p\nCOPY missing.txt /m\n", {
      "present.txt": "p\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Dockerfile:3: COPY failed: "missing.txt" not found in the build context');
  });

  it("COPY of a file .dockerignore excludes", async () => {
    const r = await build("FROM {{BASE}}\nCOPY secret.env /s\n", {
      "secret.env": "x",
      ".dockerignore": "*.env\n",
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Dockerfile:2: COPY failed");
    expect(r.stderr).toContain("excluded by .dockerignore");
  });

  it("a bad .dockerignore pattern: the file and the pattern named, nothing built", async () => {
    const r = await build("FROM {{BASE}}\nCOPY . /c\n", { "a.txt": "a", ".dockerignore": "*.log\nsrc/[a\n" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      '.dockerignore: pattern "src/[a" is not a valid dockerignore pattern: a [ has no closing ]',
    );
  });

  it("a failing RUN: exit code and output", async () => {
    const r = await build("FROM {{BASE}}\nENV A=1\nRUN echo about to fail && echo boom >&2 && exit 3\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:3: RUN .* exited with code 3/);
    expect(r.stderr).toContain("boom");
    expect(r.stderr).toContain("about to fail");
  });

  it("an unclosed heredoc and a bad FROM", async () => {
    const r1 = await build("FROM {{BASE}}\nRUN <<EOF\necho hi\n");
    expect(r1.stderr).toContain("Dockerfile:2: heredoc <<EOF has no closing EOF line");
    const r2 = await build("FROM {{BASE}} AS\n");
    expect(r2.stderr).toContain("Dockerfile:1: FROM needs an image");
    // BuildKit: "base name ($APP) should not be blank"
    const r3 = await build("ARG APP\nFROM {{BASE}}\nFROM $APP\n");
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toContain("Dockerfile:3: FROM $APP: the base name is blank");
    expect(r3.stderr).toContain("hint: give the ARG before the first FROM a default");
  });

  it("a missing Dockerfile", async () => {
    const ctx = await writeContext(join(tmp, "empty"), { "a.txt": "a" });
    const r = await berth(["build", ctx, "--dockerfile", "-t", "x:1"], { home: join(tmp, "home") });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("cannot read the Dockerfile");
  });
});

describe("choosing the way to build", () => {
  it("without --dockerfile or project.toml: buildpacks, and it says so", async () => {
    const ctx = await writeContext(join(tmp, "bp"), { Dockerfile: `FROM ${base}\n` });
    const r = await berth(["build", ctx, "-t", "app:1", "--builder", `oci:${tmp}/no-such-builder:x`], {
      home: join(tmp, "home"),
    });
    expect(r.stderr).toContain("with Cloud Native Buildpacks");
    expect(r.stderr).not.toContain("with the Dockerfile");
    expect(r.stderr).not.toContain("STEP 1/");
  });

  it('project.toml [io.berth] build = "dockerfile" picks the Dockerfile', async () => {
    const ctx = await writeContext(join(tmp, "pt"), {
      "docker/Dockerfile.app": `FROM ${base}\nLABEL from=project-toml\n`,
      "project.toml":
        '[_]\nschema-version = "0.2"\n\n[io.berth]\nbuild = "dockerfile"\ndockerfile = "docker/Dockerfile.app"\n',
    });
    const r = await berth(["build", ctx, "-t", `oci:${tmp}/pt-out:x`, "--json"], {
      home: join(tmp, "home"),
    });
    expect(r.stderr).toContain('[io.berth] build = "dockerfile"');
    expect(r.stderr).toContain("Dockerfile.app");
    expect(r.code).toBe(0);
  });
});
