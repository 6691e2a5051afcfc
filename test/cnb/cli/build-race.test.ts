/**
 * Issue 19: buildpack builds of one image name at once share its work folder (app copy, layers, cache under
 * `$BERTH_HOME/cache/cnb/<hash of the name>/`). Before the per-name lock, builds of one name at once failed
 * on each other's files. Now each waits for the one before it: all succeed, the last one's tag stays, the
 * cache stays whole and the store passes fsck.
 */
import { mkdir, writeFile } from "node:fs/promises";
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
});
