/**
 * `berth build` end to end with part 1's detect and build in the sandbox: a builder made by `berth builder
 * create` from a tiny busybox build image, a busybox run image, sh buildpacks; then `berth run`, a no-op rebuild.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildWithBuildpacks } from "../../../src/cnb/build.ts";
import type { PhaseLogger } from "../../../src/cnb/log.ts";
import { Store } from "../../../src/oci/store.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { busyboxImage } from "../../runtime/helpers.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";

let dir: string;
let home: string;
let layout: string;

beforeAll(async () => {
  dir = await tempDir("berth-cnb2-build-");
  home = join(dir, "home");
  layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bps = join(dir, "bps");
  const bp = await writeBuildpack(bps, {
    id: "examples/hello",
    version: "0.0.1",
    build: `set -e
L="$CNB_LAYERS_DIR/hello"
if [ -f "$L/stamp" ]; then echo "layer restored: $(cat "$L/stamp")"; else mkdir -p "$L/bin" "$L/env.launch"; echo built > "$L/stamp"; fi
printf '#!/bin/sh\\necho "hello $GREETING from $(cat /workspace/hello.txt)"\\n' > "$L/bin/hello"
chmod 755 "$L/bin/hello"
printf 'berth' > "$L/env.launch/GREETING"
printf '[types]\\nlaunch = true\\ncache = true\\n' > "$CNB_LAYERS_DIR/hello.toml"
printf '[[processes]]\\ntype = "web"\\ncommand = ["hello"]\\ndefault = true\\n[[processes]]\\ntype = "other"\\ncommand = ["echo", "other"]\\n' > "$CNB_LAYERS_DIR/launch.toml"
`,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "examples/hello"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "oci:${join(dir, "runlayout")}:run"\n`,
  );
  const r = await berth(
    ["builder", "create", "--no-lifecycle", `oci:${layout}:builder`, "--config", join(dir, "builder.toml")],
    {
      home,
    },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "hello.txt"), "the app");
});

describe("berth build with buildpacks", () => {
  let firstDigest = "";
  it("builds, and the app runs its default process with the launch env; another via /cnb/process", async () => {
    const b = await berth(["build", join(dir, "app"), "-t", "app:1", "--builder", `oci:${layout}:builder`], {
      home,
    });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("===> EXPORTING");
    expect(b.stderr).toContain("Successfully built image 'app:1'");
    firstDigest = JSON.parse((await berth(["inspect", "--json", "app:1"], { home })).stdout).digest;
    const r = await berth(["run", "app:1"], { home });
    expect(r.stdout).toBe("hello berth from the app\n");
    const o = await berth(["run", "--entrypoint", "/cnb/process/other", "app:1"], { home });
    expect(o.stdout).toBe("other\n");
  });

  it("a rebuild with nothing changed gives the same digest, the cache layer comes back, --clear-cache drops it", async () => {
    const b = await berth(["build", join(dir, "app"), "-t", "app:1", "--builder", `oci:${layout}:builder`], {
      home,
    });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toContain("layer restored: built");
    expect(b.stderr).toContain("Reusing layer 'examples/hello:hello'");
    expect(b.stderr).not.toContain("Adding layer");
    const again = await berth(["inspect", "--json", "app:1"], { home });
    expect(JSON.parse(again.stdout).digest).toBe(firstDigest);
    const c = await berth(
      ["build", join(dir, "app"), "-t", "app:1", "--builder", `oci:${layout}:builder`, "--clear-cache"],
      { home },
    );
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).not.toContain("layer restored");
  });

  it("a no-op rebuild extracts no cached layer: the kept layers directory is reused in place; a changed one is extracted again", async () => {
    const lines: string[] = [];
    const logger: PhaseLogger = {
      info: (l) => lines.push(l),
      warn: (l) => lines.push(l),
      debug: () => {},
      output: (c) => lines.push(c.toString("utf8")),
    };
    const build = (clearCache = false) =>
      buildWithBuildpacks({
        appDir: join(dir, "app"),
        image: parseImageArgument("counters:1"),
        builder: `oci:${layout}:builder`,
        ctx: { home, env: {} },
        hostEnv: { PATH: process.env.PATH },
        asRoot: process.getuid?.() === 0,
        clearCache,
        logger,
      });
    const cold = await build();
    expect(cold.restore).toMatchObject({ metadata: 0, restored: 0, kept: 0 });
    const noop = await build();
    expect(noop.digest).toBe(cold.digest);
    expect(noop.restore).toMatchObject({ metadata: 1, restored: 0, kept: 1 });
    expect(noop.stats.tarsWritten).toBe(0);
    expect(lines.join("\n")).toContain("layer restored: built");
    // The kept directory changed behind the cache's back: extracted again from the cache, the stray file gone.
    const hash = createHash("sha256").update(Store.normalize("counters:1")).digest("hex").slice(0, 24);
    const layer = join(home, "cache", "cnb", hash, "layers", "examples_hello", "hello");
    expect(await readFile(join(layer, "stamp"), "utf8")).toBe("built\n");
    await writeFile(join(layer, "stray"), "x");
    const changed = await build();
    expect(changed.restore).toMatchObject({ metadata: 1, restored: 1, kept: 0 });
    expect(changed.digest).toBe(cold.digest);
    expect(await readFile(join(layer, "stray"), "utf8").catch(() => "gone")).toBe("gone");
    // --clear-cache: nothing restored, nothing kept.
    const cleared = await build(true);
    expect(cleared.restore).toMatchObject({ metadata: 0, restored: 0, kept: 0 });
    expect(cleared.digest).toBe(cold.digest);
  });
});
