/**
 * Issue 19: deeply nested JSON in an image document (manifest, config, a label holding JSON) parsed, then
 * overflowed the stack in whatever walked it next (`mutate` said "Maximum call stack size exceeded", exit 1).
 * Every document berth reads from elsewhere goes through one parser that refuses it with a sentence, exit 4.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { craftImage, hasStackTrace, pushRaw, writeLayout } from "./craft.ts";

const N = 200_000;
const deep = `${"[".repeat(N)}${"]".repeat(N)}`;
const plainConfig = (extra = "", labels: Record<string, string> = {}) =>
  `{"architecture":"amd64","os":"linux","config":{"Labels":${JSON.stringify(labels)}},"rootfs":{"type":"layers","diff_ids":[]}${extra}}`;

let dir: string;
let reg: RegistryHarness;

beforeAll(async () => {
  dir = await tempDir();
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

describe("deeply nested JSON is refused with a sentence, never a stack overflow", () => {
  it("a manifest nested 200k deep in a layout", async () => {
    const layout = join(dir, "deep-manifest");
    await writeLayout(layout, craftImage(plainConfig(), [], `,"x":${deep}`), "t");
    const r = await berth(["copy", `oci:${layout}:t`, "deep:1"], { home: join(dir, "h1") });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/manifest .*nests arrays or objects more than 1000 deep/);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it("a config nested 200k deep from a registry (mutate used to overflow the stack on it)", async () => {
    const home = join(dir, "h2");
    await pushRaw(reg, "deep/config", "1", craftImage(plainConfig(`,"x":${deep}`)));
    const pull = await berth(["pull", `${reg.host}/deep/config:1`], { home });
    if (pull.code === 0) {
      const m = await berth(["mutate", "--label", "a=b", "-t", "changed:1", `${reg.host}/deep/config:1`], {
        home,
      });
      expect(m.code, m.stderr).toBe(4);
    }
    expect(pull.code, pull.stderr).toBe(4);
    expect(pull.stderr).toMatch(/config .*nests arrays or objects more than 1000 deep/);
    expect(hasStackTrace(pull.stderr)).toBe(false);
  });

  it("a label holding JSON nested 200k deep", async () => {
    const home = join(dir, "h3");
    const labels = { "io.buildpacks.lifecycle.metadata": `{"runImage":{"image":"x"},"a":${deep}}` };
    await pushRaw(reg, "deep/label", "1", craftImage(plainConfig("", labels)));
    expect((await berth(["pull", `${reg.host}/deep/label:1`], { home })).code).toBe(0);
    const r = await berth(["rebase", "--run-image", `${reg.host}/deep/label:1`, `${reg.host}/deep/label:1`], {
      home,
    });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(
      /label io\.buildpacks\.lifecycle\.metadata nests arrays or objects more than 1000 deep/,
    );
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
