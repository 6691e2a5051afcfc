import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBerthError } from "../../src/errors.ts";
import * as images from "../../src/image/facade.ts";
import { digestBytes } from "../../src/oci/digest.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";

let dir: string;
let reg: RegistryHarness;
const platforms = [
  { os: "linux", architecture: "amd64" },
  { os: "linux", architecture: "arm64" },
];

beforeAll(async () => {
  dir = await tempDir();
  await randomLayout(join(dir, "one"), "v1");
  await randomLayout(join(dir, "multi"), "v1", { platforms });
  reg = await startRegistry();
});
afterAll(() => reg?.stop());

describe("images (crane-style calls on strings)", () => {
  it("copy keeps every platform unless one is asked for, and digest, manifest and config read what was written", async () => {
    const o = { home: join(dir, "home-copy") };
    const all = await images.copy(`oci:${join(dir, "multi")}:v1`, "127.0.0.1:5000/multi:all", o);
    const manifest = await images.manifest("127.0.0.1:5000/multi:all", o);
    expect(digestBytes(Buffer.from(manifest))).toBe(all);
    expect(JSON.parse(manifest).manifests).toHaveLength(2);
    expect(await images.digest("127.0.0.1:5000/multi:all", o)).toBe(all);

    const arm = await images.copy(`oci:${join(dir, "multi")}:v1`, "127.0.0.1:5000/multi:arm", {
      ...o,
      platform: "linux/arm64",
    });
    expect(await images.digest("127.0.0.1:5000/multi:all", { ...o, platform: "linux/arm64" })).toBe(arm);
    const config = JSON.parse(await images.config("127.0.0.1:5000/multi:arm", o));
    expect(config.architecture).toBe("arm64");
    expect(
      JSON.parse(await images.manifest("127.0.0.1:5000/multi:all", { ...o, platform: "linux/arm64" })).config
        .digest,
    ).toBe(JSON.parse(await images.manifest("127.0.0.1:5000/multi:arm", o)).config.digest);
  });

  it("push, tags and pull go through the registry, a bare or docker:// reference alike", async () => {
    const o = { home: join(dir, "home-reg") };
    const pushed = await images.push(`oci:${join(dir, "one")}:v1`, `${reg.host}/team/app:1`, o);
    await images.push(`oci:${join(dir, "one")}:v1`, `docker://${reg.host}/team/app:2`, o);
    expect((await images.tags(`${reg.host}/team/app`, o)).sort()).toEqual(["1", "2"]);
    expect(await images.tags(`docker://${reg.host}/team/app`, o)).toHaveLength(2);
    expect(await images.pull(`docker://${reg.host}/team/app:1`, o)).toBe(pushed);
    expect(await images.digest(`${reg.host}/team/app:1`, o)).toBe(pushed);
  });

  it("append and mutate write new images", async () => {
    const o = { home: join(dir, "home-edit") };
    await mkdir(join(dir, "files"), { recursive: true });
    await writeFile(join(dir, "files", "f"), "x");
    const appended = await images.append(
      `oci:${join(dir, "one")}:v1`,
      [join(dir, "files"), `${join(dir, "files")}:/opt`],
      "edited:1",
      o,
    );
    const m = JSON.parse(await images.manifest("edited:1", o));
    expect([await images.digest("edited:1", o), m.layers.length]).toEqual([appended, 4]);
    const history = JSON.parse(await images.config("edited:1", o)).history;
    expect(history.at(-1).created_by).toMatch(/^berth append --dest \/opt /);
    await images.mutate("edited:1", "edited:2", { env: ["A=1"], user: "app" }, o);
    expect(JSON.parse(await images.config("edited:2", o)).config).toMatchObject({
      Env: ["A=1"],
      User: "app",
    });
  });

  it("fails with the error of the step, closing what it opened", async () => {
    const err = await images
      .digest("127.0.0.1:5000/none:1", { home: join(dir, "home-none") })
      .catch((e: unknown) => e);
    expect(isBerthError(err, "IMAGE_NOT_FOUND")).toBe(true);
  });
});
