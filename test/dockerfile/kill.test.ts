/**
 * Issue 19, "leftovers after a kill": a Dockerfile build killed (SIGKILL) in a RUN step leaves its build
 * folder in the step cache's tmp/, its container folder (root mounted, container running) and runtime state.
 * The next berth command, whatever it is, sweeps them all by the owner pid and start time they record, the
 * read-only roots of the stages `--from` read (mounted in the build folder) too.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { mountsUnder } from "../../src/runtime/sweep.ts";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-kill-");
  base = await localBase(join(tmp, "base"));
});

const list = (dir: string) => readdir(dir).catch(() => [] as string[]);

/**
 * Start `berth build` of `dockerfile` with BERTH_HOME `tmp/<name>`, kill it (SIGKILL) once a RUN step printed
 * STEP-42; returns the home.
 */
async function killedBuild(name: string, dockerfile: string): Promise<string> {
  const home = join(tmp, name);
  const ctx = await writeContext(join(tmp, `${name}-ctx`), { Dockerfile: dockerfile });
  const build = spawnBerth(["build", ctx, "--dockerfile", "-t", "killed:1"], { home });
  let stderr = "";
  const started = new Promise<boolean>((resolve) => {
    build.child.stderr!.on("data", (c: Buffer) => {
      stderr += c.toString();
      if (stderr.includes("STEP-42")) resolve(true);
    });
    void build.done.then(() => resolve(false));
  });
  expect(await started, stderr).toBe(true);
  build.child.kill("SIGKILL");
  await build.done;
  return home;
}

describe("a Dockerfile build killed in a RUN step", () => {
  it("leaves a build folder, a container and its mounted root that the next command sweeps", async () => {
    const home = await killedBuild("home", `FROM ${base}\nRUN echo STEP-$((40 + 2)) && sleep 60\n`);
    const dfTmp = join(home, "cache", "dockerfile", "tmp");
    const containers = join(home, "run", "containers");
    expect((await list(dfTmp)).filter((n) => n.startsWith("build-"))).toHaveLength(1);
    expect(await list(containers)).toHaveLength(1);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect((await list(dfTmp)).filter((n) => n.startsWith("build-"))).toEqual([]);
    expect(await list(containers)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
    expect(await list(join(home, "run", "state"))).toEqual([]);
  }, 120_000);

  it("leaves the stage roots --from mounted (read-only overlays in the build folder), which the next command unmounts", async () => {
    // a wildcard source: read through the stage's mounted root (a literal one is read without it)
    const dockerfile = `FROM ${base} AS a\nRUN echo a > /a.txt\nFROM ${base}\nCOPY --from=a /a*.txt /\nRUN echo STEP-$((40 + 2)) && sleep 60\n`;
    const home = await killedBuild("home-from", dockerfile);
    const dfTmp = join(home, "cache", "dockerfile", "tmp");
    const [build] = (await list(dfTmp)).filter((n) => n.startsWith("build-"));
    expect(await mountsUnder(join(dfTmp, build!))).toEqual([join(dfTmp, build!, "stage-0")]);

    const next = await berth(["images"], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(await list(dfTmp)).toEqual([]);
    expect(await mountsUnder(home)).toEqual([]);
  }, 120_000);
});
