/**
 * Issue 14, part 2: `berth build --lifecycle builder` runs the builder's own lifecycle (the reference lifecycle
 * v0.21.0, put in the builder by `berth builder create`) in berth's sandbox — untrusted, one container per phase,
 * and trusted (`--trust-builder`, `$BERTH_HOME/trusted-builders`), `creator` — and the app lands in the store.
 * The same app built by berth's own engine gives the same group, plan, processes and labels; every image runs.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import type { RegistryHarness } from "../../registry/helpers/registry.ts";
import { writeBuildpack } from "../helpers.ts";
import { explain, mask, parseTomlText } from "../reference/compare.ts";
import { type LifecycleFixture, lifecycleFixture } from "./fixture.ts";

let f: LifecycleFixture;
let dir: string;
let home: string;
let reg: RegistryHarness;
let app: string;
const builder = "test/lc-builder:1";
const builds: Record<string, { code: number | null; out: string }> = {};

interface Config {
  config: { Entrypoint?: string[]; Env?: string[]; Labels?: Record<string, string>; WorkingDir?: string };
}

async function configOf(image: string): Promise<Config> {
  const r = await berth(["inspect", "--config", image], { home });
  if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Config;
}

const label = (c: Config, k: string) => JSON.parse(c.config.Labels?.[k] ?? "null");
/** Digests, the run image's reference and the launcher's own version differ by nature. */
const MASKED = ["sha", "topLayer", "reference", "launcher"];

async function lifecycleLayers(image: string): Promise<string> {
  const hash = createHash("sha256").update(image).digest("hex").slice(0, 24);
  return join(home, "cache", "cnb-lifecycle", hash, "layers");
}

beforeAll(async () => {
  f = await lifecycleFixture("berth-build-lifecycle-", {
    provider: {
      detect: `cat >> "$CNB_BUILD_PLAN_PATH" <<'EOF'
[[provides]]
name = "greeting"
[[requires]]
name = "greeting"
[requires.metadata]
word = "hello"
EOF`,
      build: `mkdir -p "$CNB_LAYERS_DIR/say/bin"
printf '#!/bin/sh\\necho "say: $(cat /workspace/index.txt)"\\n' > "$CNB_LAYERS_DIR/say/bin/say"
chmod +x "$CNB_LAYERS_DIR/say/bin/say"
printf '[types]\\nlaunch = true\\n[metadata]\\nv = "1"\\n' > "$CNB_LAYERS_DIR/say.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF'
[[labels]]
key = "test.label"
value = "from the provider"
[[processes]]
type = "web"
command = ["say"]
default = true
[[processes]]
type = "other"
command = ["echo", "other"]
EOF`,
    },
    never: { detect: "exit 100" },
  });
  ({ dir, home, reg, app } = f);
  const run = async (name: string, args: string[]) => {
    const r = await berth(["build", app, "-t", name, "--builder", builder, ...args], { home });
    builds[name] = { code: r.code, out: r.stdout + r.stderr };
  };
  await run("ours:1", []);
  await run("untrusted:1", ["--lifecycle", "builder"]);
  await run("trusted:1", ["--lifecycle", "builder", "--trust-builder"]);
}, 1_200_000);

afterAll(async () => {
  await f?.cleanup();
});

describe("berth build --lifecycle builder", () => {
  it("builds untrusted (one container per phase) and trusted (creator)", () => {
    expect(builds["ours:1"]!.code, builds["ours:1"]!.out).toBe(0);
    expect(builds["untrusted:1"]!.code, builds["untrusted:1"]!.out).toBe(0);
    expect(builds["untrusted:1"]!.out).toContain("untrusted: one container per phase");
    expect(builds["trusted:1"]!.code, builds["trusted:1"]!.out).toBe(0);
    expect(builds["trusted:1"]!.out).toContain("trusted: creator");
    // The lifecycle's own phase lines.
    expect(builds["untrusted:1"]!.out).toContain("Adding layer 'buildpacksio/lifecycle:launcher'");
    expect(builds["untrusted:1"]!.out).not.toContain("experimental feature");
  });

  it("the same group and plan as berth's engine", async () => {
    const det = await berth(["detect", app, "--builder", builder, "--json"], { home });
    expect(det.code, det.stderr).toBe(0);
    const ours = JSON.parse(det.stdout) as { group: unknown; plan: unknown };
    for (const name of ["untrusted:1", "trusted:1"]) {
      const layers = await lifecycleLayers(name);
      const group = parseTomlText(await readFile(join(layers, "group.toml"), "utf8"));
      const plan = parseTomlText(await readFile(join(layers, "plan.toml"), "utf8"));
      expect(ours.group, explain("group", group, ours.group)).toEqual(group);
      expect(ours.plan, explain("plan", plan, ours.plan)).toEqual(plan);
    }
  });

  it("the same processes and labels as berth's engine", async () => {
    const ours = await configOf("ours:1");
    for (const name of ["untrusted:1", "trusted:1"]) {
      const theirs = await configOf(name);
      for (const k of ["io.buildpacks.build.metadata", "io.buildpacks.lifecycle.metadata"]) {
        const a = mask(label(theirs, k), MASKED);
        const b = mask(label(ours, k), MASKED);
        expect(b, explain(k, a, b)).toEqual(a);
      }
      expect(theirs.config.Labels?.["test.label"]).toBe("from the provider");
      expect(theirs.config.Entrypoint).toEqual(ours.config.Entrypoint);
    }
  });

  it("the images run", async () => {
    for (const name of ["ours:1", "untrusted:1", "trusted:1"]) {
      const r = await berth(["run", name], { home });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("say: the app\n");
    }
  });

  it("a rebuild restores from the cache and reuses the previous image's layers", async () => {
    const r = await berth(
      ["build", app, "-t", "untrusted:1", "--builder", builder, "--lifecycle", "builder"],
      {
        home,
      },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(
      /Reusing layer 'test\/provider:say'|Restoring metadata for "test\/provider:say"/,
    );
  });

  it("a builder listed in $BERTH_HOME/trusted-builders runs creator; --publish writes to the registry", async () => {
    await writeFile(join(home, "trusted-builders"), `# builders berth trusts\n${builder}\n`);
    const image = `${reg.host}/app/lc:1`;
    const r = await berth(
      ["build", app, "-t", image, "--builder", builder, "--lifecycle", "builder", "--publish"],
      { home },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain("trusted: creator");
    const run = await berth(["run", "--pull", "always", `docker://${image}`], { home });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("say: the app\n");
  });

  it("attack: a buildpack's symlink at /layers/analyzed.toml to a host file is not followed by berth", async () => {
    // berth (root) rewrites analyzed.toml between the builder and the exporter (the lifecycle's layout refs).
    const victim = join(dir, "victim.toml");
    const text = '[run-image]\n  reference = "/layout-repo/127.0.0.1:5000/base/run/1@sha256:00"\n';
    await writeFile(victim, text);
    await writeBuildpack(join(dir, "evil-bps"), {
      id: "test/evil",
      build: `rm -f "$CNB_LAYERS_DIR/../analyzed.toml"; ln -s ${victim} "$CNB_LAYERS_DIR/../analyzed.toml"`,
    });
    await writeFile(
      join(dir, "evil.toml"),
      (await readFile(join(dir, "builder.toml"), "utf8")).replace(
        /\[\[buildpacks\]\][\s\S]*?\[\[order\]\][\s\S]*?\[build\]/,
        '[[buildpacks]]\nuri = "evil-bps/test_evil-0.0.1"\n\n[[order]]\n[[order.group]]\nid = "test/evil"\n\n[build]',
      ),
    );
    const bc = await berth(["builder", "create", "test/evil:1", "--config", join(dir, "evil.toml")], {
      home,
    });
    expect(bc.code, bc.stderr).toBe(0);
    const r = await berth(
      ["build", app, "-t", "evil:1", "--builder", "test/evil:1", "--lifecycle", "builder"],
      {
        home,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("/layers/analyzed.toml");
    expect(await readFile(victim, "utf8")).toBe(text);
  });

  it("a builder without a lifecycle is one sentence", async () => {
    await writeFile(
      join(dir, "none.toml"),
      (await readFile(join(dir, "builder.toml"), "utf8")).replace(/\[lifecycle\][\s\S]*$/, ""),
    );
    const bc = await berth(
      ["builder", "create", "--no-lifecycle", "test/none:1", "--config", join(dir, "none.toml")],
      {
        home,
      },
    );
    expect(bc.code, bc.stderr).toBe(0);
    const r = await berth(["build", app, "-t", "x:1", "--builder", "test/none:1", "--lifecycle", "builder"], {
      home,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("builder test/none:1 carries no lifecycle");
  });
});
