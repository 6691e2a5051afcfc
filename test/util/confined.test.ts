/** Confined reads and writes of trees berth does not own (src/util/confined.ts), and image-root reads. */
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readImageFile } from "../../src/cnb/executor.ts";
import { isBerthError } from "../../src/errors.ts";
import { ConfinedTree, readFileWithin } from "../../src/util/confined.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let outside: string;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isBerthError(err)) throw new Error(`expected a BerthError, got ${String(err)}`);
  return err;
}

beforeAll(async () => {
  dir = await tempDir("berth-confined-");
  outside = join(dir, "outside");
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "SECRET");
});

describe("ConfinedTree", () => {
  it("follows symlinks that stay inside the tree (relative, or absolute under the writer's path) and refuses the rest", async () => {
    const root = join(dir, "t1");
    mkdirSync(join(root, "a/b"), { recursive: true });
    writeFileSync(join(root, "a/b/file"), "inside");
    symlinkSync("b/file", join(root, "a/rel"));
    symlinkSync("/layers/bp/a/b/file", join(root, "abs"));
    symlinkSync("a/b", join(root, "dirlink"));
    symlinkSync(join(outside, "secret"), join(root, "out"));
    symlinkSync("../outside/secret", join(root, "climb"));
    symlinkSync("/etc/passwd", join(root, "host"));
    const t = new ConfinedTree(root, {
      owner: 'buildpack "x@1"',
      name: "its layers directory",
      seenAs: "/layers/bp",
    });
    expect(await t.readText("a/rel")).toBe("inside");
    expect(await t.readText("abs")).toBe("inside");
    expect(await t.readText("dirlink/file")).toBe("inside");
    expect(await t.kind("dirlink")).toBe("dir");
    expect(await t.readText("missing")).toBeUndefined();
    expect(await t.readText("a/missing/x")).toBeUndefined();
    // A missing file behind a good link is just missing; a link whose own target is missing is refused.
    expect(await t.readText("dirlink/missing")).toBeUndefined();
    symlinkSync("a/nope", join(root, "dangle"));
    expect((await refusal(t.readText("dangle"))).message).toBe(
      'buildpack "x@1": /layers/bp/dangle is a symlink to "a/nope", which does not exist in its layers directory',
    );
    for (const [rel, target] of [
      ["out", join(outside, "secret")],
      ["host", "/etc/passwd"],
    ]) {
      const err = await refusal(t.readText(rel!));
      expect(err.code).toBe("UNSAFE_PATH");
      expect(err.message).toBe(
        `buildpack "x@1": /layers/bp/${rel} is a symlink to ${JSON.stringify(target)}, outside its layers directory; berth does not follow it`,
      );
    }
    const climb = await refusal(t.readText("climb"));
    expect(climb.message).toBe(
      'buildpack "x@1": /layers/bp/climb is a symlink to "../outside/secret", which leads out of its layers directory',
    );
    expect((await refusal(t.readText("../outside/secret"))).message).toContain("climbs out of");
    expect((await refusal(t.kind("out"))).code).toBe("UNSAFE_PATH");
  });

  it("refuses a FIFO without blocking, a directory where a file is expected, a file over the cap, and a symlinked root", async () => {
    const root = join(dir, "t2");
    mkdirSync(join(root, "d"), { recursive: true });
    execFileSync("mkfifo", [join(root, "fifo")]);
    writeFileSync(join(root, "big"), "x".repeat(100));
    const t = new ConfinedTree(root, { owner: "the app", name: "the app directory" });
    expect((await refusal(t.readText("fifo"))).message).toBe(
      `the app: ${root}/fifo is a FIFO, where a regular file was expected`,
    );
    expect((await refusal(t.readText("d"))).message).toContain(
      "is a directory, where a regular file was expected",
    );
    expect((await t.readFile("big", 100))?.length).toBe(100);
    expect((await refusal(t.readFile("big", 99))).message).toBe(
      `the app: ${root}/big is larger than the 99 bytes berth reads from such a file`,
    );
    symlinkSync(outside, join(dir, "t2link"));
    const linked = new ConfinedTree(join(dir, "t2link"), { owner: "the app" });
    expect((await refusal(linked.readText("secret"))).code).toBe("UNSAFE_PATH");
  });

  it("writes and makes directories without going through symlinks, and copies out through the opened file", async () => {
    const root = join(dir, "t3");
    mkdirSync(join(root, "bp"), { recursive: true });
    symlinkSync(outside, join(root, "sbom"));
    symlinkSync(join(outside, "new"), join(root, "file"));
    writeFileSync(join(root, "bp/launch.sbom.cdx.json"), "{}");
    const t = new ConfinedTree(root, { owner: "the layers directory", seenAs: "/layers" });
    expect((await refusal(t.mkdirs("sbom/launch"))).message).toBe(
      "the layers directory: /layers/sbom is a symlink, not a directory; berth does not follow it",
    );
    expect((await refusal(t.writeFile("file", "x"))).message).toBe(
      "the layers directory: /layers/file is a symlink; berth does not write through it",
    );
    expect((await refusal(t.writeFile("sbom/x", "x"))).code).toBe("UNSAFE_PATH");
    expect(await t.writeFile("config/metadata.toml", "a = 1\n", 0o600)).toBe(
      join(root, "config/metadata.toml"),
    );
    expect(lstatSync(join(root, "config/metadata.toml")).mode & 0o777).toBe(0o600);
    const bp = new ConfinedTree(join(root, "bp"), { owner: "bp" });
    expect(await bp.copyOut("launch.sbom.cdx.json", t, "out/launch/sbom.cdx.json")).toBe(true);
    expect(readFileSync(join(root, "out/launch/sbom.cdx.json"), "utf8")).toBe("{}");
    expect(readFileSync(join(outside, "secret"), "utf8")).toBe("SECRET");
    expect(() => lstatSync(join(outside, "new"))).toThrow();
  });

  it("readFileWithin: confined inside the directory, the user's own file outside it, refused outside when it must be inside", async () => {
    const app = join(dir, "app");
    mkdirSync(app);
    symlinkSync(join(outside, "secret"), join(app, "project.toml"));
    const o = { owner: "the app", name: "the app directory" };
    expect((await refusal(readFileWithin(join(app, "project.toml"), app, o))).code).toBe("UNSAFE_PATH");
    expect((await readFileWithin(join(outside, "secret"), app, o))?.toString()).toBe("SECRET");
    expect(
      (await refusal(readFileWithin(join(outside, "secret"), app, { ...o, mustBeInside: true }))).code,
    ).toBe("UNSAFE_PATH");
    expect(await readFileWithin(join(app, "none"), app, o)).toBeUndefined();
  });
});

describe("readImageFile (a build image's root from its layer directories)", () => {
  it("resolves symlinks across layers inside the image (Debian's /etc/os-release), honours whiteouts, refuses links out", async () => {
    const lower = join(dir, "l0");
    const upper = join(dir, "l1");
    const top = join(dir, "l2");
    mkdirSync(join(lower, "usr/lib"), { recursive: true });
    mkdirSync(join(lower, "etc"), { recursive: true });
    writeFileSync(join(lower, "usr/lib/os-release"), "ID=debian\n");
    writeFileSync(join(lower, "etc/hostname"), "gone\n");
    mkdirSync(join(upper, "etc"), { recursive: true });
    symlinkSync("../usr/lib/os-release", join(upper, "etc/os-release"));
    symlinkSync("/usr/lib/os-release", join(upper, "etc/abs"));
    symlinkSync(join(outside, "secret"), join(upper, "etc/evil"));
    execFileSync("mknod", [join(upper, "etc/hostname"), "c", "0", "0"]);
    mkdirSync(top);
    const dirs = [top, upper, lower];
    const owner = "the build image b";
    expect(await readImageFile(dirs, "/etc/os-release", owner)).toBe("ID=debian\n");
    expect(await readImageFile(dirs, "/etc/abs", owner)).toBe("ID=debian\n");
    expect(await readImageFile(dirs, "/etc/hostname", owner)).toBeUndefined();
    expect(await readImageFile(dirs, "/etc/none", owner)).toBeUndefined();
    const err = await refusal(readImageFile(dirs, "/etc/evil", owner));
    expect(err.message).toBe(
      `the build image b: /etc/evil is a symlink to ${JSON.stringify(join(outside, "secret"))}, which does not exist in the image`,
    );
  });
});
