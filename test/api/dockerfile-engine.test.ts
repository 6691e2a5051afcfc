// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are Dockerfile text, not templates
/** The Dockerfile engine CNB image extensions use: src/dockerfile behind the cnb interface (src/api/dockerfile-engine.ts). */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dockerfileEngine } from "../../src/api/dockerfile-engine.ts";
import { failure } from "../dockerfile/helpers/failure.ts";
import { tempDir } from "../helpers/temp.ts";

describe("dockerfileEngine", () => {
  it("parse: global ARG names and each stage's base and instructions, with lines", () => {
    const engine = dockerfileEngine({ home: "/nonexistent", env: {} }, {});
    const parsed = engine.parse(
      "ARG base_image=x OTHER\nARG build_id=0\nFROM ${base_image}\nUSER root\nRUN true\nFROM scratch AS two\n",
      "ext/build.Dockerfile",
    );
    expect(parsed).toEqual({
      globalArgs: [
        { name: "base_image", line: 1 },
        { name: "OTHER", line: 1 },
        { name: "build_id", line: 2 },
      ],
      stages: [
        {
          base: "${base_image}",
          line: 3,
          instructions: [
            { keyword: "USER", line: 4 },
            { keyword: "RUN", line: 5 },
          ],
        },
        { base: "scratch", line: 6, instructions: [] },
      ],
    });
    expect(failure(() => engine.parse("RUN true\n", "ext/run.Dockerfile")).message).toBe(
      "ext/run.Dockerfile:1: RUN comes before the first FROM (only ARG may)",
    );
  });

  it("apply builds into the destination with the build args, open reads it back", async () => {
    const dir = await tempDir();
    const context = join(dir, "context");
    await mkdir(context);
    await writeFile(join(context, "hello.txt"), "hi");
    const engine = dockerfileEngine({ home: join(dir, "home"), env: {} }, {});
    const lines: string[] = [];
    const dest = `oci:${join(dir, "out")}:extended`;
    await engine.apply({
      text: "ARG WHO\nFROM scratch\nARG WHO\nLABEL who=$WHO\nCOPY hello.txt /\n",
      name: "ext/build.Dockerfile",
      contextDir: context,
      buildArgs: { WHO: "extension" },
      destination: dest,
      log: (l) => lines.push(l),
    });
    const opened = await engine.open(dest);
    try {
      expect(opened.image.config?.config?.Labels).toEqual({ who: "extension" });
      expect(opened.image.layers()).toHaveLength(1);
    } finally {
      await opened.close();
    }
    expect(lines.length).toBeGreaterThan(0);
  });
});
