/**
 * src/cli/commands/bundle.ts: `berth bundle` writes a runtime bundle (rootfs/ and config.json) from a stored
 * image with the flags' process settings, in process (nothing runs it here: test/runtime/ starts bundles).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

interface Spec {
  process: { args: string[]; env: string[]; cwd: string; user: { uid: number; gid: number } };
  hostname?: string;
  linux: { namespaces: { type: string }[] };
}

describe("berth bundle", () => {
  it("writes the image's files and a config.json with the command, env, workdir and user asked for", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "server.js": "listen()" }, [
      "--cmd",
      '["node", "server.js"]',
      "--env",
      "A=1",
    ]);
    const dir = join(await tempDir(), "bundle");
    const r = await runCommand(
      [
        "bundle",
        "-e",
        "B=2",
        "-w",
        "/app",
        "-u",
        "1000:1000",
        "--hostname",
        "box",
        "--network",
        "none",
        "app:1",
        dir,
        "sh",
        "-c",
        "id",
      ],
      { home },
    );
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe(`Wrote bundle ${dir} (1 layers): runc run -b ${dir} NAME\n`);
    expect(await readFile(join(dir, "rootfs", "app", "server.js"), "utf8")).toBe("listen()");
    const spec = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Spec;
    expect(spec.process.args).toEqual(["sh", "-c", "id"]);
    expect(spec.process.env).toEqual(expect.arrayContaining(["A=1", "B=2"]));
    expect(spec.process.cwd).toBe("/app");
    expect(spec.process.user).toMatchObject({ uid: 1000, gid: 1000 });
    expect(spec.hostname).toBe("box");
    expect(spec.linux.namespaces.map((n) => n.type)).toContain("network");
  });

  it("keeps the image's command when none is given, and shares the host's network by default", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "server.js": "x" }, ["--cmd", '["node", "server.js"]']);
    const dir = join(await tempDir(), "bundle");
    await runCommand(["bundle", "app:1", dir], { home });
    const spec = JSON.parse(await readFile(join(dir, "config.json"), "utf8")) as Spec;
    expect(spec.process.args).toEqual(["node", "server.js"]);
    expect(spec.linux.namespaces.map((n) => n.type)).not.toContain("network");
  });

  it("refuses a network other than host or none, and a missing image with --pull never", async () => {
    const home = await tempDir();
    const dir = join(home, "b");
    const net = await runCommand(["bundle", "--network", "bridge", "app:1", dir], { home });
    expect(net.error).toMatchObject({
      code: "USAGE",
      message: '--network must be host or none, not "bridge"',
    });
    const missing = await runCommand(["bundle", "--pull", "never", "absent:1", dir], { home });
    expect(missing.error).toMatchObject({
      code: "IMAGE_NOT_FOUND",
      message: "no image absent:1 in the local store (--pull never)",
      hint: "pull it first: berth pull absent:1",
    });
  });
});
