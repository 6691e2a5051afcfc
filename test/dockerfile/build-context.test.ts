/** The stages named contexts replace, the contexts steps read, FROM a files context (src/dockerfile/build-context.ts). */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BuildContexts, emptyBase, replacedStage } from "../../src/dockerfile/build-context.ts";
import { parseBuildContext } from "../../src/dockerfile/named-context.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";
import { tempDir } from "../helpers/temp.ts";

const AMD64 = { os: "linux", architecture: "amd64" };

describe("replacedStage, BuildContexts.replace", () => {
  it("a stage a context names becomes nameless `FROM NAME` alone, its --platform kept; the others stay", () => {
    const { stages } = splitStages(
      parseDockerfile("FROM --platform=linux/arm64 alpine AS base\nRUN x\nFROM base AS app\nCOPY a /\n"),
    );
    const r = replacedStage(stages[0]!);
    expect(r).toMatchObject({ name: undefined, baseText: "base", instructions: [], index: 0 });
    expect(r.from).toMatchObject({ text: "FROM base", args: "base", flags: { platform: ["linux/arm64"] } });
    const contexts = new BuildContexts([parseBuildContext("base=docker-image://busybox", "/")], "/x", {});
    const replaced = contexts.replace(stages, () => AMD64);
    expect(replaced[0]).toEqual(r);
    expect(replaced[1]).toBe(stages[1]);
    expect([contexts.replaced(0), contexts.replaced(1)]).toEqual([true, false]);
  });
});

describe("emptyBase", () => {
  it("BuildKit's empty image (PATH, WorkingDir /) for scratch and a files context; none for a replaced stage; keyed apart", () => {
    const scratch = emptyBase(AMD64, "none");
    const files = emptyBase(AMD64, "files");
    const replaced = emptyBase(AMD64, "replaced");
    expect(scratch.image.config?.config).toEqual({
      Env: [expect.stringMatching(/^PATH=\/usr\/local\/sbin:/)],
      WorkingDir: "/",
    });
    expect(files.image.digest).toBe(scratch.image.digest);
    expect(replaced.image.config?.config ?? {}).toEqual({});
    expect(new Set([scratch.key, files.key, replaced.key]).size).toBe(3);
    expect(emptyBase({ os: "linux", architecture: "arm64" }, "none").key).not.toBe(scratch.key);
  });
});

describe("BuildContexts.source", () => {
  it("a directory context is opened once a build, keyed by its content; its index saved", async () => {
    const dir = await tempDir();
    const ctx = join(dir, "ctx");
    await mkdir(ctx);
    await writeFile(join(ctx, "a.txt"), "a");
    const contexts = new BuildContexts([parseBuildContext(`files=${ctx}`, "/")], join(dir, "cache"), {});
    const named = contexts.find("files", AMD64);
    if (named?.kind !== "dir") throw new Error("expected a directory context");
    const temp = () => join(dir, "tmp");
    const first = contexts.source(named, temp, new AbortController().signal);
    expect(contexts.source(named, temp, new AbortController().signal)).toBe(first);
    const source = await first;
    expect(source).toMatchObject({
      id: expect.stringMatching(/^context:sha256:/),
      local: true,
      what: 'the build context "files"',
    });
    await contexts.save();
    await writeFile(join(ctx, "a.txt"), "b");
    const again = new BuildContexts([named], join(dir, "cache"), {});
    expect((await again.source(named, temp, new AbortController().signal)).id).not.toBe(source.id);
  });
});
