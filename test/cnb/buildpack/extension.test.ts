/** buildpack/extension.ts: extension.toml, its inferred targets, and extensions loaded from folders and archives. */
import { execFile } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import {
  extensionTargets,
  extSubject,
  isExtension,
  loadExtension,
  parseExtensionToml,
  readExtensionDir,
  scanExtensionsDir,
} from "../../../src/cnb/buildpack/extension.ts";
import { tempDir } from "../../helpers/temp.ts";

const TOML = `api = "0.10"
[extension]
id = "samples/curl"
version = "0.0.1"
name = "Curl"
[[extension.licenses]]
type = "MIT"
[[targets]]
os = "linux"
[metadata]
k = "v"
`;

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-ext-");
});

async function extensionDir(at: string, text = TOML): Promise<string> {
  await mkdir(join(at, "bin"), { recursive: true });
  await writeFile(join(at, "extension.toml"), text);
  return at;
}

describe("parseExtensionToml", () => {
  it("reads an extension into the buildpack descriptor's shape", () => {
    const d = parseExtensionToml(TOML, "/e/extension.toml");
    expect(d).toEqual({
      kind: "extension",
      api: "0.10",
      buildpack: {
        id: "samples/curl",
        version: "0.0.1",
        name: "Curl",
        clearEnv: false,
        licenses: [{ type: "MIT" }],
      },
      order: [],
      targets: [{ os: "linux" }],
      stacks: [],
      metadata: { k: "v" },
    });
    expect(isExtension(d)).toBe(true);
    expect(extSubject(d)).toBe('extension "samples/curl@0.0.1"');
  });

  it("refuses an API without extensions, a missing table, an order and an id that cannot name a folder", () => {
    expect(() =>
      parseExtensionToml('api = "0.8"\n[extension]\nid = "e"\nversion = "1"\n', "/e/extension.toml"),
    ).toThrow(
      expect.objectContaining({
        code: "CNB_BUILDPACK_INVALID",
        message:
          "/e/extension.toml: api 0.8 is not a Buildpack API with image extensions that berth runs (0.9–0.12)",
      }),
    );
    expect(() => parseExtensionToml('api = "0.10"\n', "f")).toThrow("f: extension table is required");
    expect(() => parseExtensionToml(`${TOML}[[order]]\n`, "f")).toThrow(
      'extension "samples/curl": f: order is not allowed in an extension (extensions are never composite)',
    );
    expect(() => parseExtensionToml('api = "0.10"\n[extension]\nid = ".."\nversion = "1"\n', "f")).toThrow(
      /extension "\.\.": f: extension\.id "\.\." cannot name a folder/,
    );
  });

  it("warns, with the file, where the spec is stricter than the lifecycle", () => {
    const d = parseExtensionToml('api = "0.10"\n[extension]\nid = "my_ext"\nversion = "1"\n', "f");
    expect(d.warnings).toHaveLength(2);
    expect(d.warnings?.[0]).toMatch(/^f: extension\.id "my_ext" has characters/);
    expect(d.warnings?.[1]).toMatch(/^f: extension\.version "1" is not <X>\.<Y>\.<Z>/);
  });
});

describe("extensionTargets", () => {
  it("declared, else linux with bin/detect or bin/generate, else any", async () => {
    const none = parseExtensionToml('api = "0.10"\n[extension]\nid = "e"\nversion = "1.0.0"\n', "f");
    expect(await extensionTargets(none, dir)).toEqual([{}]);
    await mkdir(join(dir, "bin"));
    await writeFile(join(dir, "bin", "generate"), "");
    expect(await extensionTargets(none, dir)).toEqual([{ os: "linux" }]);
    expect(await extensionTargets(parseExtensionToml(TOML, "f"), join(dir, "none"))).toEqual([
      { os: "linux" },
    ]);
  });
});

describe("reading extensions", () => {
  it("reads a folder, scans a /cnb/extensions tree and skips folders without extension.toml", async () => {
    const root = join(dir, "extensions");
    await extensionDir(join(root, "samples_curl", "0.0.1"));
    await mkdir(join(root, "samples_curl", "junk"), { recursive: true });
    const found = await scanExtensionsDir(root, "builder");
    expect(found.map((e) => [e.descriptor.buildpack.id, e.source])).toEqual([
      ["samples/curl", "builder (samples_curl/0.0.1)"],
    ]);
    expect(await scanExtensionsDir(join(dir, "none"), "builder")).toEqual([]);
  });

  it("names a folder without extension.toml, and refuses an extension.toml linked out of the folder", async () => {
    await expect(readExtensionDir(dir, "ext")).rejects.toThrow(
      `extension at ext: ${dir}/extension.toml does not exist`,
    );
    const outside = await tempDir("berth-cnb-ext-out-");
    await writeFile(join(outside, "extension.toml"), TOML);
    const inner = join(dir, "linked");
    await mkdir(inner);
    await symlink(join(outside, "extension.toml"), join(inner, "extension.toml"));
    await expect(readExtensionDir(inner, "ext")).rejects.toMatchObject({ code: "UNSAFE_PATH" });
  });

  it("loads from a relative folder, a file:// URI and a .tgz holding one folder", async () => {
    await extensionDir(join(dir, "curl"));
    const o = { relativeTo: dir, tmp: join(dir, "tmp") };
    await mkdir(o.tmp);
    expect((await loadExtension("curl", o)).dir).toBe(join(dir, "curl"));
    expect((await loadExtension(`file://${join(dir, "curl")}`, o)).descriptor.buildpack.id).toBe(
      "samples/curl",
    );
    await promisify(execFile)("tar", ["-czf", join(dir, "curl.tgz"), "-C", dir, "curl"]);
    const fromTgz = await loadExtension("curl.tgz", o);
    expect(fromTgz.descriptor.buildpack.version).toBe("0.0.1");
    expect(fromTgz.source).toBe("curl.tgz");
  });

  it("refuses a remote URI, a missing path and an archive without extension.toml", async () => {
    const o = { relativeTo: dir, tmp: dir };
    await expect(loadExtension("docker://r/ext", o)).rejects.toMatchObject({
      code: "CNB_BUILDPACK_NOT_FOUND",
      message: "extension docker://r/ext: only folders and archives are supported",
      hint: "give the extension's folder or a .tgz of it",
    });
    await expect(loadExtension("none", o)).rejects.toThrow(`extension none: ${dir}/none does not exist`);
    // Two folders, the first an extension: which one was meant is not clear, so neither is taken.
    await extensionDir(join(dir, "empty", "a"));
    await mkdir(join(dir, "empty", "b"));
    await promisify(execFile)("tar", ["-cf", join(dir, "e.tar"), "-C", join(dir, "empty"), "."]);
    await expect(loadExtension("e.tar", o)).rejects.toThrow(
      `extension archive ${dir}/e.tar holds no extension.toml at its top`,
    );
  });
});
