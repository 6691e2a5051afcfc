/**
 * build/lifecycle-run.ts: what `--lifecycle builder` runs share that needs no lifecycle to check: the failed
 * phase's sentence, CNB_REGISTRY_AUTH from berth's credentials, the order kept when nothing replaces it, and
 * handing a tree to the CNB user. (Opening a builder and the phases run in test/cnb/lifecycle/.)
 */
import { lstat, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  chownTree,
  lifecycleAuthEnv,
  lifecycleOrder,
  phaseFailed,
} from "../../../src/cnb/build/lifecycle-run.ts";
import { silentLogger } from "../../../src/cnb/log.ts";
import type { BuilderInfo } from "../../../src/cnb/platform/builder.ts";
import { tempDir } from "../../helpers/temp.ts";

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-cnb-lcrun-");
});

describe("phaseFailed", () => {
  it("names the phase and the exit code", () => {
    const err = phaseFailed("export", 62);
    expect(err).toMatchObject({
      code: "CNB_BUILD_FAILED",
      message: "the builder's lifecycle failed in export (exit code 62)",
      details: { phase: "export", exitCode: 62 },
    });
  });
});

describe("lifecycleAuthEnv", () => {
  it("gives Basic auth for each registry berth holds credentials for, nothing for the others", async () => {
    await writeFile(
      join(dir, "config.json"),
      JSON.stringify({ auths: { "127.0.0.1:5000": { auth: Buffer.from("user:pass").toString("base64") } } }),
    );
    const env = await lifecycleAuthEnv(
      ["127.0.0.1:5000/app:1", "127.0.0.1:5000/cache", "127.0.0.1:6000/run"],
      {
        home: join(dir, "home"),
        env: { DOCKER_CONFIG: dir, HOME: join(dir, "home") },
      },
    );
    expect(env).toBe(`CNB_REGISTRY_AUTH=${JSON.stringify({ "127.0.0.1:5000": "Basic dXNlcjpwYXNz" })}`);
  });

  it("is {} without credentials", async () => {
    expect(await lifecycleAuthEnv(["127.0.0.1:5000/app"], { home: dir, env: { HOME: dir } })).toBe(
      "CNB_REGISTRY_AUTH={}",
    );
  });
});

describe("lifecycleOrder", () => {
  it("is undefined when neither --buildpack nor project.toml's buildpacks replace the builder's order", async () => {
    const o = { builder: "b", ctx: { home: dir, env: {} }, logger: silentLogger };
    // The builder is not read at all in this case: an empty info stands for it.
    expect(await lifecycleOrder(o, {} as BuilderInfo, dir, undefined)).toBeUndefined();
  });
});

describe("chownTree", () => {
  it.runIf(process.getuid?.() === 0)(
    "gives every entry to the user, a link itself and not its target",
    async () => {
      const outside = join(dir, "outside");
      await writeFile(outside, "host");
      const tree = join(dir, "tree");
      await mkdir(join(tree, "a", "b"), { recursive: true });
      await writeFile(join(tree, "a", "b", "f"), "");
      await symlink(outside, join(tree, "a", "link"));
      await chownTree(tree, 4321, 5432);
      for (const p of ["", "a", "a/b", "a/b/f", "a/link"]) {
        const st = await lstat(join(tree, p));
        expect([st.uid, st.gid], p).toEqual([4321, 5432]);
      }
      expect((await lstat(outside)).uid).toBe(0);
    },
  );
});
