/** inspect.ts: the CNB view of an app image from its labels, and pack's human-readable block. */
import { describe, expect, it } from "vitest";
import { cnbImageInfo, formatCnbImageInfo } from "../../src/cnb/inspect.ts";
import { mutate } from "../../src/oci/mutate.ts";

function image(labels: Record<string, string>, entrypoint?: string[]) {
  return mutate(undefined, {
    config: (c) => ({
      ...c,
      Labels: labels,
      WorkingDir: "/workspace",
      ...(entrypoint ? { Entrypoint: entrypoint } : {}),
    }),
  });
}

const lifecycle = JSON.stringify({
  runImage: { topLayer: "sha256:top", reference: "run@sha256:r", image: "r/run", mirrors: ["m/run"] },
});
const build = JSON.stringify({
  buildpacks: [
    { id: "a", version: "1", homepage: "https://a.test" },
    { id: "b", version: "2" },
  ],
  processes: [
    { type: "web", command: ["node", "s.js"], args: ["-p"], direct: true, buildpackID: "a" },
    { type: "sh", command: "echo hi", args: null, direct: false, buildpackID: "b", "working-dir": "/w" },
  ],
});

describe("cnbImageInfo", () => {
  it("reads the run image, buildpacks and processes; the entrypoint names the default process", () => {
    const info = cnbImageInfo(
      image(
        {
          "io.buildpacks.lifecycle.metadata": lifecycle,
          "io.buildpacks.build.metadata": build,
          "io.buildpacks.stack.id": "s",
        },
        ["/cnb/process/web"],
      ),
      "app",
    );
    expect(info).toEqual({
      base: { reference: "run@sha256:r", topLayer: "sha256:top" },
      runImages: [
        { name: "r/run", mirror: false },
        { name: "m/run", mirror: true },
      ],
      rebasable: true,
      stack: "s",
      buildpacks: [
        { id: "a", version: "1", homepage: "https://a.test" },
        { id: "b", version: "2" },
      ],
      processes: [
        {
          type: "web",
          shell: "",
          command: "node",
          args: ["s.js", "-p"],
          workDir: "/workspace",
          default: true,
        },
        { type: "sh", shell: "bash", command: "echo hi", args: [], workDir: "/w", default: false },
      ],
    });
  });

  it("is undefined for an image without the lifecycle label; rebasable only unless labelled false", () => {
    expect(cnbImageInfo(image({}), "app")).toBeUndefined();
    const info = cnbImageInfo(
      image({ "io.buildpacks.lifecycle.metadata": "{}", "io.buildpacks.rebasable": "false" }),
      "app",
    );
    expect(info).toMatchObject({ rebasable: false, runImages: [], buildpacks: [], processes: [] });
  });

  it("names the image and label of a label that is not JSON", () => {
    expect(() => cnbImageInfo(image({ "io.buildpacks.lifecycle.metadata": "{" }), "app:1")).toThrow(
      /^app:1: label io\.buildpacks\.lifecycle\.metadata /,
    );
  });
});

describe("formatCnbImageInfo", () => {
  it("writes pack's sections, marking the default process and (none) without run images", () => {
    const info = cnbImageInfo(
      image({ "io.buildpacks.lifecycle.metadata": "{}", "io.buildpacks.build.metadata": build }, [
        "/cnb/process/web",
      ]),
      "app",
    )!;
    const text = formatCnbImageInfo(info);
    expect(text.split("\n").slice(0, 9)).toEqual([
      "Stack: ",
      "",
      "Base Image:",
      "  Top Layer: ",
      "",
      "Run Images:",
      "  (none)",
      "",
      "Rebasable: true",
    ]);
    expect(text).toContain(`  ${"a".padEnd(40)} ${"1".padEnd(16)} https://a.test\n`);
    expect(text).toContain(`  ${"b".padEnd(40)} ${"2".padEnd(16)} -\n`);
    expect(text).toContain(
      `  ${"web (default)".padEnd(24)} ${"".padEnd(8)} ${"node".padEnd(24)} ${"s.js -p".padEnd(24)} /workspace\n`,
    );
  });
});
