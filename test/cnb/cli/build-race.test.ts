/**
 * Issue 19: buildpack builds of one image name at once share its work folder (app copy, layers, cache under
 * `$BERTH_HOME/cache/cnb/<hash of the name>/`). Before the per-name lock, builds of one name at once failed
 * on each other's files. Now each waits for the one before it: all succeed, the last one's tag stays, the
 * cache stays whole and the store passes fsck. Builds in fresh BERTH_HOMEs at once share the user's compiled
 * helpers (util/compile.ts): both compile, one binary stays whole, and the next fresh BERTH_HOME starts no gcc.
 */
import { existsSync, readdirSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

const BUILDS = 4;
const ROUNDS = Number(process.env.BERTH_RACE_ROUNDS ?? 3);

let dir: string;
let home: string;
let builder: string;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-race-");
  home = join(dir, "home");
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bp = await writeBuildpack(join(dir, "bps"), {
    id: "examples/race",
    version: "0.0.1",
    build: `set -e
L="$CNB_LAYERS_DIR/race"
mkdir -p "$L/bin"
n=0; [ -f "$L/count" ] && n=$(cat "$L/count")
echo $((n + 1)) > "$L/count"
for i in 1 2 3 4 5 6 7 8; do cat /workspace/app.txt > "$L/copy-$i"; done
printf '#!/bin/sh\\ncat /workspace/app.txt\\n' > "$L/bin/show"
chmod 755 "$L/bin/show"
printf '[types]\\nlaunch = true\\ncache = true\\n' > "$CNB_LAYERS_DIR/race.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["show"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "examples/race"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  builder = `oci:${layout}:builder`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  for (let i = 0; i < BUILDS; i++) {
    await mkdir(join(dir, `app-${i}`), { recursive: true });
    await writeFile(join(dir, `app-${i}`, "app.txt"), `app ${i}\n`.repeat(2000));
  }
}, 180_000);

describe("buildpack builds of one image name at once", () => {
  it(`${BUILDS} builds of one name at once all succeed, the store and the cache stay whole`, async () => {
    const failures: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const results = await Promise.all(
        Array.from({ length: BUILDS }, (_, i) =>
          berth(["build", join(dir, `app-${i}`), "-t", "race:1", "--builder", builder], { home }),
        ),
      );
      results.forEach((r, i) => {
        if (r.code !== 0)
          failures.push(`round ${round} build ${i}: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
      });
      const fsck = await berth(["store", "fsck"], { home });
      expect(fsck.code, fsck.stdout).toBe(0);
      // The tag is one of the builds' images, complete and runnable: it shows one app's text.
      const run = await berth(["run", "race:1"], { home });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^(app \d\n)+$/);
      expect(new Set(run.stdout.trim().split("\n")).size).toBe(1);
    }
    console.log(`${ROUNDS} rounds of ${BUILDS} builds of one name: ${failures.length} failed`);
    expect(failures).toEqual([]);
    // The cache survived: the next build restores the layer and counts on.
    const next = await berth(["build", join(dir, "app-0"), "-t", "race:1", "--builder", builder], { home });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).not.toMatch(/warning|error/i);
  }, 300_000);

  it("fresh BERTH_HOMEs share the user's compiled helpers: at once both build, then no gcc is started", async () => {
    const bin = join(dir, "gcc-bin");
    const log = join(dir, "gcc.log");
    await mkdir(bin, { recursive: true });
    await writeFile(log, "");
    await writeFile(
      join(bin, "gcc"),
      `#!/bin/sh\necho "$@" >> ${log}\nPATH=${process.env.PATH} exec gcc "$@"\n`,
    );
    await chmod(join(bin, "gcc"), 0o755);
    const xdg = join(dir, "xdg");
    const env = { PATH: `${bin}:${process.env.PATH}`, XDG_CACHE_HOME: xdg };
    const build = (h: string) =>
      berth(["build", join(dir, "app-0"), "-t", "helpers:1", "--builder", builder], { home: h, env });
    const first = await Promise.all([build(join(dir, "fresh-1")), build(join(dir, "fresh-2"))]);
    for (const r of first) expect(r.code, r.stderr).toBe(0);
    const calls = (await readFile(log, "utf8")).split("\n").filter(Boolean);
    // each helper compiled once or by both builds (when both missed it), never more
    const compiles = calls.filter((c) => c.startsWith("-static")).length;
    expect(compiles).toBeGreaterThanOrEqual(2);
    expect(compiles).toBeLessThanOrEqual(4);
    const programs = join(xdg, "berth", "programs", "cnb");
    // The launcher is compiled unless the checkout carries it prebuilt (dist/launcher, which `npm pack` in
    // test/cli/package.test.ts makes while other test files run); the group runner always is.
    const sources = { launcher: "launcher.c", runner: "group-runner.c" };
    const compiled = Object.entries(sources)
      .filter(([, c]) => calls.some((call) => call.startsWith("-static") && call.endsWith(c)))
      .map(([p]) => p);
    expect(compiled).toContain("runner");
    expect(readdirSync(programs).sort()).toEqual(compiled);
    for (const p of compiled) expect(readdirSync(join(programs, p))).toHaveLength(1);
    const again = await build(join(dir, "fresh-3"));
    expect(again.code, again.stderr).toBe(0);
    expect((await readFile(log, "utf8")).split("\n").filter(Boolean)).toEqual(calls);
    for (const h of ["fresh-1", "fresh-2", "fresh-3"])
      expect(existsSync(join(dir, h, "cache", "programs"))).toBe(false);
  }, 120_000);
});
