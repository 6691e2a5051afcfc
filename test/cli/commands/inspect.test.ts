/**
 * src/cli/commands/inspect.ts: `berth inspect` (the summary as text and --json, --raw and --config bytes as
 * stored, an index's manifests) and `berth digest`, in process on images made by `berth append`.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function appImage(): Promise<{ home: string; digest: string }> {
  const home = await tempDir();
  const digest = await storedImage(home, "app:1", { "server.js": "listen()" }, [
    "--env",
    "PORT=8080",
    "--cmd",
    '["node", "server.js"]',
    "--workdir",
    "/app",
    "--user",
    "1000",
    "--label",
    "team=web",
    "--expose",
    "8080/tcp",
  ]);
  return { home, digest };
}

describe("berth inspect", () => {
  it("--json summarises the image: digest, platform, config, layers with their diff ids, size", async () => {
    const { home, digest } = await appImage();
    const r = await runCommand(["inspect", "--json", "app:1"], { home });
    const s = JSON.parse(r.stdout) as Record<string, unknown> & {
      layers: { digest: string; diffId: string; size: number }[];
    };
    expect(s).toMatchObject({
      schemaVersion: 1,
      digest,
      os: "linux",
      env: ["PORT=8080"],
      entrypoint: null,
      cmd: ["node", "server.js"],
      workingDir: "/app",
      user: "1000",
      exposedPorts: ["8080/tcp"],
      labels: { team: "web" },
      annotations: {},
    });
    expect(s.name).toMatch(/\/app:1$/);
    expect(s.layers).toHaveLength(1);
    expect(s.layers[0]!.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const raw = await runCommand(["inspect", "--raw", "app:1"], { home });
    const manifest = JSON.parse(raw.stdout) as { config: { size: number }; layers: { size: number }[] };
    expect(s.size).toBe(manifest.config.size + manifest.layers[0]!.size);
  });

  it("--raw and --config print the bytes whose digests the manifest names", async () => {
    const { home, digest } = await appImage();
    const raw = await runCommand(["inspect", "--raw", "app:1"], { home });
    expect(sha256(raw.stdout)).toBe(digest);
    const config = await runCommand(["inspect", "--config", "app:1"], { home });
    expect(sha256(config.stdout)).toBe(
      (JSON.parse(raw.stdout) as { config: { digest: string } }).config.digest,
    );
  });

  it("prints the summary as text for people", async () => {
    const { home, digest } = await appImage();
    const r = await runCommand(["inspect", "app:1"], { home });
    const lines = r.stdout.split("\n");
    expect(lines).toContain(`Digest:      ${digest}`);
    expect(lines).toContain('Cmd:         ["node","server.js"]');
    expect(lines).toContain("WorkingDir:  /app");
    expect(lines).toContain("Ports:       8080/tcp");
    expect(lines).toContain("  PORT=8080");
    expect(lines).toContain("  team=web");
    expect(lines).toContain("Layers (1):");
  });

  it("names an image that is not there", async () => {
    const home = await tempDir();
    const r = await runCommand(["inspect", "absent:1"], { home });
    expect(r.error).toBeInstanceOf(BerthError);
    expect(r.error).toMatchObject({ code: "IMAGE_NOT_FOUND" });
    expect((r.error as BerthError).message).toContain("absent:1");
  });
});

describe("berth digest", () => {
  it("prints the manifest digest", async () => {
    const { home, digest } = await appImage();
    expect((await runCommand(["digest", "app:1"], { home })).stdout).toBe(`${digest}\n`);
  });
});
