/**
 * src/cli/commands/builder.ts: the phase logger of every buildpacks command (--quiet, --verbose, warnings),
 * the `berth builder` group shared with the default builder's module, and `berth builder inspect` of an
 * image labelled as pack labels a builder (in process; `builder create` runs in test/cnb/).
 */
import { PassThrough } from "node:stream";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { builderGroup, cnbLogger } from "../../../src/cli/commands/builder.ts";
import type { Output } from "../../../src/cli/output.ts";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

function output(quiet = false): { out: Output; stderr: () => string } {
  const stderr = new PassThrough();
  return { out: { stdout: new PassThrough(), stderr, quiet }, stderr: () => String(stderr.read() ?? "") };
}

function logAll(o: Parameters<typeof cnbLogger>[1], quietOutput = false): string {
  const { out, stderr } = output(quietOutput);
  const log = cnbLogger(out, o);
  log.info("===> DETECTING");
  log.debug("a debug line");
  log.warn("no cache");
  log.warn("Warning: already said");
  log.output?.(Buffer.from("buildpack says hi\n"), "stdout");
  return stderr();
}

describe("cnbLogger", () => {
  it("writes phase lines, buildpack output and warnings (prefixed once) to stderr", () => {
    expect(logAll({})).toBe("===> DETECTING\nWarning: no cache\nWarning: already said\nbuildpack says hi\n");
  });

  it("adds debug lines with --verbose", () => {
    expect(logAll({ verbose: true })).toContain("===> DETECTING\na debug line\n");
  });

  it("keeps only warnings with --quiet or a quiet output, even with --verbose", () => {
    const warnings = "Warning: no cache\nWarning: already said\n";
    expect(logAll({ quiet: true, verbose: true })).toBe(warnings);
    expect(logAll({}, true)).toBe(warnings);
  });
});

describe("builderGroup", () => {
  it("makes the builder group once, whichever module asks first", () => {
    const program = new Command("berth");
    const first = builderGroup(program);
    expect(builderGroup(program)).toBe(first);
    expect(program.commands.map((c) => c.name())).toEqual(["builder"]);
  });
});

describe("berth builder inspect, in process", () => {
  const labels = [
    "--label",
    'io.buildpacks.buildpack.layers={"test/node":{"1.0.0":{"api":"0.10","layerDiffID":"sha256:00"}}}',
    "--label",
    'io.buildpacks.buildpack.order=[{"group":[{"id":"test/node","version":"1.0.0"},{"id":"test/procfile","optional":true}]}]',
    "--label",
    'io.buildpacks.builder.metadata={"description":"a test builder","buildpacks":[{"id":"test/node","version":"1.0.0"}],"images":[{"image":"run:1","mirrors":["mirror/run:1"]}],"createdBy":{"name":"berth","version":"0.1.0"}}',
    "--env",
    "CNB_USER_ID=1001",
    "--env",
    "CNB_GROUP_ID=1000",
  ];

  it("shows the user, run images, buildpacks and detection order", async () => {
    const home = await tempDir();
    await storedImage(home, "b:1", { "cnb/x": "x" }, labels);
    const r = await runCommand(["builder", "inspect", "b:1"], { home });
    expect(r.error).toBeUndefined();
    const lines = r.stdout.split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "Inspecting builder: b:1",
      "",
      "Created By: berth 0.1.0",
      "Description: a test builder",
      "User: 1001:1000",
    ]);
    expect(lines).toContain("  (none: the builder runs only with berth's own engine)");
    expect(lines).toContain("  mirror/run:1 (mirror)");
    expect(lines).toContain("    test/procfile (optional)");
    expect(lines).toContain("    test/node@1.0.0");
    const json = await runCommand(["builder", "inspect", "--json", "b:1"], { home });
    expect(JSON.parse(json.stdout)).toMatchObject({
      user: { uid: 1001, gid: 1000 },
      order: [{ group: [{ id: "test/node" }, { id: "test/procfile", optional: true }] }],
    });
  });

  it("says an image without the builder labels is not a builder", async () => {
    const home = await tempDir();
    await storedImage(home, "plain:1", { "a.txt": "a" });
    const r = await runCommand(["builder", "inspect", "plain:1"], { home });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({
      code: "CNB_CONFIG_INVALID",
      message: "plain:1 is not a builder: it has no io.buildpacks.buildpack.layers label",
    });
  });
});

describe("berth builder create --help", () => {
  it("says --platform picks the build, lifecycle, buildpack and run images", async () => {
    const r = await runCommand(["builder", "create", "--help"], {
      home: await tempDir("berth-cli-builder-"),
    });
    expect(r.stdout.replace(/\s+/g, " ")).toContain(
      "the builder's platform, picked from multi-platform build, lifecycle, buildpack and run images",
    );
  });
});
