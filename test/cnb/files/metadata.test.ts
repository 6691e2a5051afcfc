/** files/metadata.ts: `<layers>/config/metadata.toml` as berth writes it and as the lifecycle wrote older ones. */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type BuildMetadata,
  encodeMetadata,
  parseMetadata,
  readMetadata,
} from "../../../src/cnb/files/metadata.ts";
import { tempDir } from "../../helpers/temp.ts";

const md: BuildMetadata = {
  buildpacks: [{ id: "a", version: "1", api: "0.12" }],
  extensions: [{ id: "e", version: "0.1", api: "0.12" }],
  processes: [
    {
      type: "web",
      command: ["node"],
      args: ["s.js"],
      direct: true,
      default: false,
      buildpackId: "a",
      workingDir: "/w",
    },
    {
      type: "cli",
      command: ["sh"],
      args: [],
      direct: false,
      default: false,
      buildpackId: "a",
      execEnv: ["test"],
    },
  ],
  labels: [{ key: "k", value: "v" }],
  slices: [{ paths: ["a/*"] }],
  buildpackDefaultProcessType: "web",
};

describe("metadata.toml", () => {
  it("survives a write and a read, processes sorted by type", () => {
    const back = parseMetadata(encodeMetadata(md), "m");
    expect(back).toEqual({ ...md, processes: [md.processes[1], md.processes[0]] });
  });

  it("writes no args key for a process without args, as the lifecycle does", () => {
    const { buildpackDefaultProcessType: _default, ...noDefault } = md;
    const text = encodeMetadata({ ...noDefault, extensions: [] });
    expect(text.split("[[processes]]")[2]).not.toContain("args");
    expect(text).not.toContain("extensions");
    expect(text).not.toContain("buildpack-default-process-type");
  });

  it("reads a string command (Platform API < 0.10) and defaults direct to true", () => {
    const back = parseMetadata('[[processes]]\ntype = "web"\ncommand = "npm start"\n', "m");
    expect(back.processes).toEqual([
      { type: "web", command: ["npm start"], args: [], direct: true, default: false, buildpackId: "" },
    ]);
  });

  it("names the file and key of a process without a type", () => {
    expect(() => parseMetadata("[[processes]]\ncommand = ['x']\n", "/layers/config/metadata.toml")).toThrow(
      "/layers/config/metadata.toml: processes[0].type is required",
    );
  });

  it("readMetadata: empty without a file, refuses a symlink out of the layers directory", async () => {
    const layers = await tempDir("berth-cnb-md-");
    expect(await readMetadata(layers)).toEqual({ buildpacks: [], processes: [], labels: [], slices: [] });
    await mkdir(join(layers, "config"));
    await writeFile(join(layers, "config", "metadata.toml"), encodeMetadata(md));
    expect((await readMetadata(layers)).buildpackDefaultProcessType).toBe("web");
    const outside = await tempDir("berth-cnb-md-out-");
    await writeFile(join(outside, "m.toml"), encodeMetadata(md));
    const other = await tempDir("berth-cnb-md-");
    await symlink(outside, join(other, "config"));
    await expect(readMetadata(other)).rejects.toMatchObject({ code: "UNSAFE_PATH" });
  });
});
