/**
 * src/cli/bin.ts, the CLI's entry: it turns Node's compile cache on (./compile-cache.test.ts: a per-user
 * folder, BERTH_HOME's cache/ when that is refused), and makes nothing in a shared (sticky) folder given as
 * BERTH_HOME (main.ts refuses that one).
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";

const mode = async (p: string) => (await stat(p)).mode & 0o7777;

describe("bin.ts", () => {
  it("makes a missing BERTH_HOME and its cache 0700, Node's compile cache in the user's cache folder", async () => {
    const home = join(await tempDir(), "new", "home");
    const r = await berth(["--version"], { home });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("0.1.0\n");
    // made private from the start: main.ts found nothing to tighten (it warns when it does)
    expect(r.stderr).toBe("");
    expect(await mode(home)).toBe(0o700);
    expect(await mode(join(home, "cache"))).toBe(0o700);
    // the helper's HOME is BERTH_HOME
    expect(await mode(join(home, ".cache", "berth", "node-compile"))).toBe(0o700);
    expect(existsSync(join(home, "cache", "node-compile"))).toBe(false);
  });

  it("makes no cache in a sticky shared folder, which main.ts then refuses", async () => {
    const shared = join(await tempDir(), "shared");
    await mkdir(shared);
    await chmod(shared, 0o1777);
    // HOME unusable (a file): BERTH_HOME's place would be the fallback
    const r = await berth(["--version"], { home: shared, env: { HOME: "/dev/null" } });
    expect(existsSync(join(shared, "cache"))).toBe(false);
    expect(await mode(shared)).toBe(0o1777);
    // main.ts then refuses it, in one sentence
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^berth: BERTH_HOME ${shared} is a shared folder`));
  });
});
