/**
 * A builder carrying the reference lifecycle (v0.21.0) for the `--lifecycle builder` tests: a build image with
 * bash, its run image pushed to a local registry, a provider buildpack whose labels show what reached it (the
 * platform env's GREETING, FROMFILE and PROJ, the app's files, whether any process it can read holds
 * CNB_REGISTRY_AUTH; it passes on an app with index.txt, unless the platform env has NOPE), a
 * buildpack that never passes (and errors on an app holding `boom`), and one outside
 * the builder (`extraBp`, for --buildpack and project.toml). A test may bring its own test/provider and
 * test/never (build-lifecycle.test.ts does).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { type BpSpec, makeBuildImage, writeBuildpack } from "../helpers.ts";
import { withBash } from "../reference/lifecycle.ts";
import { lifecycleTgz } from "./helpers.ts";

export interface LifecycleFixture {
  dir: string;
  home: string;
  layout: string;
  reg: RegistryHarness;
  app: string;
  builder: string;
  /** builder.toml's text (its [lifecycle] last). */
  builderToml: string;
  /** A buildpack folder the builder does not hold (id test/extra): labels test.extra = "yes". */
  extraBp: string;
  cleanup(): Promise<void>;
}

const PROVIDER_BUILD = `mkdir -p "$CNB_LAYERS_DIR/say/bin"
printf '#!/bin/sh\\necho "say: $(cat /workspace/index.txt)"\\n' > "$CNB_LAYERS_DIR/say/bin/say"
chmod +x "$CNB_LAYERS_DIR/say/bin/say"
printf '[types]\\nlaunch = true\\ncache = true\\n[metadata]\\nv = "1"\\n' > "$CNB_LAYERS_DIR/say.toml"
env_of() { cat "$CNB_PLATFORM_DIR/env/$1" 2>/dev/null || echo unset; }
cat > "$CNB_LAYERS_DIR/launch.toml" <<EOF
[[labels]]
key = "test.greeting"
value = "$(env_of GREETING)"
[[labels]]
key = "test.fromfile"
value = "$(env_of FROMFILE)"
[[labels]]
key = "test.proj"
value = "$(env_of PROJ)"
[[labels]]
key = "test.authseen"
value = "$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '^CNB_REGISTRY_AUTH=' || true)"
[[labels]]
key = "test.files"
value = "$(ls /workspace | tr '\\n' ' ')"
[[processes]]
type = "web"
command = ["say"]
default = true
[[processes]]
type = "other"
command = ["echo", "other"]
EOF`;

/** The builder's two buildpacks, test/provider and test/never (its order tries test/never first). */
export interface FixtureBuildpacks {
  provider: Pick<BpSpec, "detect" | "build">;
  never: Pick<BpSpec, "detect">;
}

const BUILDPACKS: FixtureBuildpacks = {
  provider: {
    detect: `test -f index.txt || exit 100
test -f "$CNB_PLATFORM_DIR/env/NOPE" && exit 100
printf '[[provides]]\\nname = "greeting"\\n[[requires]]\\nname = "greeting"\\n' >> "$CNB_BUILD_PLAN_PATH"`,
    build: PROVIDER_BUILD,
  },
  // Errors (exit 1) on an app holding `boom`, for the detector's exit code 21.
  never: { detect: "test -f boom && exit 1\nexit 100" },
};

/**
 * `o.reg`: the registry to use (the caller's, which it stops), with `o.env` for berth's push to it (its
 * DOCKER_CONFIG); default a registry of the fixture's own, without auth.
 */
export async function lifecycleFixture(
  prefix: string,
  buildpacks: FixtureBuildpacks = BUILDPACKS,
  o: { reg?: RegistryHarness | undefined; env?: Record<string, string> | undefined } = {},
): Promise<LifecycleFixture> {
  const dir = await tempDir(prefix);
  const home = join(dir, "home");
  const layout = join(dir, "images");
  const reg = o.reg ?? (await startRegistry());
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
  const push = await berth(["copy", `oci:${layout}:run`, `docker://${reg.host}/base/run:1`], {
    home,
    env: o.env ?? {},
  });
  if (push.code !== 0) throw new Error(`pushing the run image: ${push.stderr}`);
  const bps = join(dir, "bps");
  await writeBuildpack(bps, { id: "test/provider", ...buildpacks.provider });
  await writeBuildpack(bps, { id: "test/never", ...buildpacks.never });
  const extraBp = await writeBuildpack(join(dir, "extra"), {
    id: "test/extra",
    build: `printf '[[labels]]\\nkey = "test.extra"\\nvalue = "yes"\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
  });
  const tgz = await lifecycleTgz(dir);
  const builderToml = `[[buildpacks]]
uri = "bps/test_provider-0.0.1"
[[buildpacks]]
uri = "bps/test_never-0.0.1"

[[order]]
[[order.group]]
id = "test/never"
[[order]]
[[order.group]]
id = "test/provider"

[build]
image = "oci:${layout}:build"

[[run.images]]
image = "${reg.host}/base/run:1"

[lifecycle]
uri = "${tgz}"
`;
  await writeFile(join(dir, "builder.toml"), builderToml);
  const builder = "test/lc-builder:1";
  const bc = await berth(["builder", "create", builder, "--config", join(dir, "builder.toml")], { home });
  if (bc.code !== 0) throw new Error(`builder create: ${bc.stderr}`);
  const app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, "index.txt"), "the app\n");
  return {
    dir,
    home,
    layout,
    reg,
    app,
    builder,
    builderToml,
    extraBp,
    cleanup: async () => {
      if (!o.reg) await reg.stop();
    },
  };
}

/** An image's config labels. */
export async function labelsOf(image: string, home: string): Promise<Record<string, string>> {
  const r = await berth(["inspect", "--config", image], { home });
  if (r.code !== 0) throw new Error(`inspect ${image}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { config: { Labels?: Record<string, string> } }).config.Labels ?? {};
}
