/** The Dockerfile and its ignore file, read confined to the build context (src/dockerfile/read.ts). */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadIgnore, readDockerfile } from "../../src/dockerfile/read.ts";
import { tempDir } from "../helpers/temp.ts";
import { failureOf } from "./helpers/failure.ts";
import { layerEntries, scratchBuild } from "./helpers/scratch.ts";

describe("readDockerfile", () => {
  it("parses given text under its name, or a file under its base name", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "Build.df"), "FROM scratch\nCOPY a /\n");
    const text = await readDockerfile({ contextDir: dir, dockerfile: { text: "FROM scratch\n", name: "x" } });
    expect(text.name).toBe("x");
    const file = await readDockerfile({ contextDir: dir, dockerfile: { path: join(dir, "Build.df") } });
    expect(file.name).toBe("Build.df");
    expect(file.instructions.map((i) => i.keyword)).toEqual(["FROM", "COPY"]);
  });

  it("a missing Dockerfile is DOCKERFILE_NOT_FOUND with a hint; a link out of the context is refused", async () => {
    const dir = await tempDir();
    const ctx = join(dir, "ctx");
    await mkdir(ctx);
    await writeFile(join(dir, "outside"), "FROM scratch\n");
    await symlink("../outside", join(ctx, "Dockerfile"));
    const missing = await failureOf(
      readDockerfile({ contextDir: ctx, dockerfile: { path: join(ctx, "none") } }),
    );
    expect(missing).toMatchObject({
      code: "DOCKERFILE_NOT_FOUND",
      hint: expect.stringMatching(/--dockerfile/),
    });
    const linked = await failureOf(
      readDockerfile({ contextDir: ctx, dockerfile: { path: join(ctx, "Dockerfile"), inContext: true } }),
    );
    expect(linked.message).toMatch(/build context/);
  });
});

describe("loadIgnore", () => {
  it("none with noIgnoreFile or without an ignore file; a link out of the context is refused", async () => {
    const dir = await tempDir();
    const ctx = join(dir, "ctx");
    await mkdir(ctx);
    const i = { contextDir: ctx, dockerfile: { path: join(ctx, "Dockerfile") } };
    expect(await loadIgnore(i)).toBeUndefined();
    await writeFile(join(ctx, ".dockerignore"), "a.txt\n");
    expect(await loadIgnore({ ...i, noIgnoreFile: true })).toBeUndefined();
    expect((await loadIgnore(i))?.excludes("a.txt", false)).toBe(true);
    await writeFile(join(dir, "outside"), "b.txt\n");
    await symlink("../outside", join(ctx, "Dockerfile.dockerignore"));
    expect((await failureOf(loadIgnore(i))).message).toMatch(/build context/);
  });

  it("<Dockerfile>.dockerignore next to a Dockerfile in the context wins over .dockerignore; without it .dockerignore applies", async () => {
    const dir = await tempDir();
    const context = join(dir, "ctx");
    await mkdir(context, { recursive: true });
    for (const f of ["a.txt", "b.txt", "c.txt"]) await writeFile(join(context, f), f);
    await writeFile(join(context, "Dockerfile"), "FROM scratch\nCOPY *.txt /\n");
    await writeFile(join(context, ".dockerignore"), "a.txt\n");
    const copied = async () => {
      const { image } = await scratchBuild(dir, context, "", {
        dockerfile: { path: join(context, "Dockerfile") },
      });
      return (await layerEntries(image, 0)).map((e) => e.split(" ")[0]);
    };
    expect(await copied()).toEqual(["b.txt", "c.txt"]);
    await writeFile(join(context, "Dockerfile.dockerignore"), "b.txt\n");
    expect(await copied()).toEqual(["a.txt", "c.txt"]);
  });
});
