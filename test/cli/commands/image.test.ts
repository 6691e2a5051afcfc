/**
 * src/cli/commands/image.ts: `berth image self` puts an executable (here /bin/true standing in for berth's)
 * into an image as its entrypoint, reproducibly, on a stored base or on scratch; and refuses one that is not
 * there. In process.
 */
import { describe, expect, it } from "vitest";
import { runCommand, storedImage } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

interface Summary {
  entrypoint: string[] | null;
  labels: Record<string, string>;
  created: string;
  layers: unknown[];
}

async function summary(home: string, image: string): Promise<Summary> {
  const r = await runCommand(["inspect", "--json", image], { home });
  if (r.error) throw r.error;
  return JSON.parse(r.stdout) as Summary;
}

describe("berth image self", () => {
  it("adds the executable at --dest on a base as its entrypoint, the same digest each time", async () => {
    const home = await tempDir();
    await storedImage(home, "base:1", { "a.txt": "a" });
    const make = async (target: string) => {
      const r = await runCommand(
        ["image", "self", target, "--base", "base:1", "--executable", "/bin/true", "--dest", "/opt/berth"],
        { home, env: { SOURCE_DATE_EPOCH: "1700000000" } },
      );
      if (r.error) throw r.error;
      expect(r.stderr).toMatch(new RegExp(`^Wrote sha256:[0-9a-f]{64} to ${target}\\n$`));
      return (await runCommand(["digest", target], { home })).stdout;
    };
    expect(await make("self:1")).toBe(await make("self:2"));
    const s = await summary(home, "self:1");
    expect(s.entrypoint).toEqual(["/opt/berth"]);
    expect(s.labels).toMatchObject({ "org.opencontainers.image.title": "berth" });
    expect(s.created).toBe("2023-11-14T22:13:20Z");
    expect(s.layers).toHaveLength(2);
  });

  it("refuses an executable that is not there", async () => {
    const home = await tempDir();
    const r = await runCommand(["image", "self", "self:1", "--executable", "/nonexistent/berth"], { home });
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: "--executable /nonexistent/berth does not exist",
    });
  });
});
