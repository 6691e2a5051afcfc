/**
 * Launch, differential: one app with buildpacks of Buildpack API 0.7, 0.8, 0.9, 0.10 and 0.12 is built by
 * `berth build` (berth's own launcher: the builder carries no lifecycle) and by the reference lifecycle's
 * `creator` (its launcher); both images then run every process type, with and without user args, the bare
 * launcher with a command (through bash, each arg evaluated alone) and with `--`, CNB_PROCESS_TYPE set, and
 * failures; stdout, stderr (colours stripped) and the exit code must be the same.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";
import { explain, parseTomlText, plain } from "./compare.ts";
import { layersFile, referenceLifecycle, runCreator, withBash } from "./lifecycle.ts";

let dir: string;
let home: string;
let reg: RegistryHarness;
let berthImage: string;
/** Built by berth with a builder that carries the reference lifecycle: its launcher goes into the image. */
let berthLcImage: string;
let refImage: string;
let refLayers: string;
const bps: { id: string; version: string; dir: string }[] = [];

const layerToml = "[types]\\nlaunch = true\\n";

beforeAll(async () => {
  dir = await tempDir("berth-reference-launch-");
  home = join(dir, "home");
  const [, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await withBash(dir, `oci:${layout}:build`, `oci:${layout}:run`, home);
  const push = await berth(["copy", `oci:${layout}:run`, `docker://${reg.host}/base/run:1`], { home });
  if (push.code !== 0) throw new Error(`pushing the run image failed: ${push.stderr}`);

  const root = join(dir, "bps");
  // Buildpack API 0.7 and 0.8: string commands, `direct`, args appended to user args, profile.d.
  bps.push({
    id: "test/old",
    version: "0.0.1",
    dir: await writeBuildpack(root, {
      id: "test/old",
      api: "0.8",
      build: `L="$CNB_LAYERS_DIR/tools"
mkdir -p "$L/bin" "$L/profile.d/shell" "$L/env.launch/printer" "$L/env.launch"
printf '#!/bin/sh\\necho "tool: $*"\\n' > "$L/bin/tool"; chmod 755 "$L/bin/tool"
printf 'export GREETING=hello\\n' > "$L/profile.d/10-greet.sh"
printf 'export ONLY_SHELL="for shell"\\n' > "$L/profile.d/shell/only.sh"
printf 'printer-only' > "$L/env.launch/printer/SCOPED"
printf 'from-env' > "$L/env.launch/LAUNCH_VAR"
printf '${layerToml}' > "$L.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF'
[[processes]]
type = "shell"
command = "echo \\"$GREETING,$ONLY_SHELL,$APP_PROFILE,$LAUNCH_VAR,$SCOPED,$(pwd)\\""
direct = false
default = true

[[processes]]
type = "printer"
command = "printf"
args = ["<%s>", "$GREETING", "a;b", "x  y", "$SCOPED"]
direct = false

[[processes]]
type = "direct"
command = "printf"
args = ["[%s]", "$GREETING", "fixed"]
direct = true

[[processes]]
type = "shellwd"
command = "pwd; echo $GREETING"
direct = false
working-dir = "/layers"

[[processes]]
type = "tool"
command = "tool"
args = ["one"]
direct = true
working-dir = "/layers"
EOF
`,
    }),
  });
  // Buildpack API 0.7: no working-dir.
  bps.push({
    id: "test/oldest",
    version: "0.0.1",
    dir: await writeBuildpack(root, {
      id: "test/oldest",
      api: "0.7",
      // API 0.7 has no CNB_LAYERS_DIR: the layers dir is the first argument.
      build: `cat > "$1/launch.toml" <<'EOF'
[[processes]]
type = "seven"
command = "echo"
args = ["seven", "$GREETING"]
direct = false
EOF
`,
    }),
  });
  // Buildpack API 0.9+: command arrays, user args replace the defaults, exec.d, exit codes.
  bps.push({
    id: "test/new",
    version: "0.0.1",
    dir: await writeBuildpack(root, {
      id: "test/new",
      api: "0.10",
      build: `L="$CNB_LAYERS_DIR/rt"
mkdir -p "$L/exec.d/arr" "$L/env.launch"
cat > "$L/exec.d/10-set" <<'X'
#!/bin/sh
[ -z "$EXECD_FAIL" ] || exit 3
echo "exec.d ran in $(pwd)"
echo "EXECD = \\"\${EXECD_IN:-none}:from exec.d\\"" >&3
X
chmod 755 "$L/exec.d/10-set"
printf '#!/bin/sh\\necho "ARR_ONLY = \\\\"yes\\\\"" >&3\\n' > "$L/exec.d/arr/only"; chmod 755 "$L/exec.d/arr/only"
printf ':/appended' > "$L/env.launch/PATH.append"
printf '${layerToml}' > "$L.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF'
[[processes]]
type = "arr"
command = ["printf", "[%s]"]
args = ["default1", "default 2"]

[[processes]]
type = "env"
command = ["sh", "-c", "echo \\"$EXECD|$ARR_ONLY|$GREETING|$0|$*\\"", "zero"]
args = ["d1"]
working-dir = "/cnb"

[[processes]]
type = "process.with.period"
command = ["echo", "period"]

[[processes]]
type = "fail"
command = ["sh", "-c", "echo failing >&2; exit 7"]
EOF
`,
    }),
  });
  bps.push({
    id: "test/v12",
    version: "0.0.1",
    dir: await writeBuildpack(root, {
      id: "test/v12",
      api: "0.12",
      build: `L="$CNB_LAYERS_DIR/v12"
mkdir -p "$L/env.launch/twelve"
printf 'scoped' > "$L/env.launch/twelve/TWELVE"
printf '${layerToml}' > "$L.toml"
cat > "$CNB_LAYERS_DIR/launch.toml" <<'EOF'
[[processes]]
type = "twelve"
command = ["sh", "-c", "echo \\"$TWELVE|$CNB_PLATFORM_API|$CNB_LAYERS_DIR|$CNB_APP_DIR|$PATH\\""]
EOF
`,
    }),
  });
  const order = `[[order]]\n${bps.map((b) => `[[order.group]]\nid = "${b.id}"\nversion = "${b.version}"\n`).join("")}`;
  await writeFile(
    join(dir, "builder.toml"),
    `${bps.map((b) => `[[buildpacks]]\nuri = "${b.dir}"\n`).join("\n")}\n${order}\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${reg.host}/base/run:1"\n`,
  );
  const builder = `oci:${layout}:builder`;
  const bc = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")],
    { home },
  );
  if (bc.code !== 0) throw new Error(`builder create failed: ${bc.stderr}`);
  const app = join(dir, "app");
  await mkdir(app, { recursive: true });
  await writeFile(join(app, ".profile"), "export APP_PROFILE=app-profile\n");
  await writeFile(join(app, "file.txt"), "app\n");

  berthImage = `${reg.host}/berth/launch:1`;
  const b = await berth(
    [
      "build",
      app,
      "-t",
      berthImage,
      "--builder",
      builder,
      "--publish",
      "--run-image",
      `${reg.host}/base/run:1`,
    ],
    { home },
  );
  if (b.code !== 0) throw new Error(`berth build failed: ${b.stderr}`);
  // The same builder plus the reference lifecycle at /cnb/lifecycle (as pack's builders carry it).
  const lcBuilder = `oci:${layout}:builder-lc`;
  await appendLayers(
    parseImageArgument(builder),
    [{ source: await referenceLifecycle(), dest: "/cnb/lifecycle" }],
    parseImageArgument(lcBuilder),
    { home, env: {} },
  );
  berthLcImage = `${reg.host}/berth/launch-lc:1`;
  const blc = await berth(
    [
      "build",
      app,
      "-t",
      berthLcImage,
      "--builder",
      lcBuilder,
      "--publish",
      "--run-image",
      `${reg.host}/base/run:1`,
    ],
    { home },
  );
  if (blc.code !== 0) throw new Error(`berth build with the lifecycle's launcher failed: ${blc.stderr}`);
  refImage = `${reg.host}/reference/launch:1`;
  const r = await runCreator({
    home,
    work: join(dir, "ref"),
    buildImage: `oci:${layout}:build`,
    app,
    buildpacks: bps,
    order,
    runImage: `${reg.host}/base/run:1`,
    image: refImage,
  });
  if (r.exitCode !== 0) throw new Error(`the reference creator failed (${r.exitCode}):\n${r.output}`);
  refLayers = r.layers;
  // Pull both now, so that each run prints only what the image prints.
  for (const image of [berthImage, berthLcImage, refImage]) {
    const p = await berth(["run", "--entrypoint", "/bin/true", `docker://${image}`], { home });
    if (p.code !== 0) throw new Error(`pulling ${image} failed: ${p.stderr}`);
  }
}, 900_000);

afterAll(async () => {
  await reg?.stop();
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function runIn(
  image: string,
  opts: { entrypoint?: string; env?: string[]; args?: string[] },
): Promise<Outcome> {
  const a = ["run", "--pull", "missing"];
  if (opts.entrypoint) a.push("--entrypoint", opts.entrypoint);
  for (const e of opts.env ?? []) a.push("-e", e);
  a.push(`docker://${image}`, ...(opts.args ?? []));
  const r = await berth(a, { home });
  return { code: r.code, stdout: plain(r.stdout), stderr: plain(r.stderr) };
}

const cases: [string, { entrypoint?: string; env?: string[]; args?: string[] }][] = [
  ["the default process", {}],
  ["the default process with user args (API < 0.9: appended)", { args: ["u1", "u 2"] }],
  ["a shell process with args, each evaluated alone", { entrypoint: "/cnb/process/printer" }],
  [
    "a shell process with user args appended",
    { entrypoint: "/cnb/process/printer", args: ["$GREETING", "p;q"] },
  ],
  ["a direct process (API 0.8)", { entrypoint: "/cnb/process/direct" }],
  ["a direct process with user args appended (API 0.8)", { entrypoint: "/cnb/process/direct", args: ["u"] }],
  ["working-dir and a layer's bin on PATH", { entrypoint: "/cnb/process/tool" }],
  ["API 0.7's shell process", { entrypoint: "/cnb/process/seven", args: ["x"] }],
  ["a command array's defaults (API 0.10)", { entrypoint: "/cnb/process/arr" }],
  ["user args replace the defaults (API 0.10)", { entrypoint: "/cnb/process/arr", args: ["u1", "u 2"] }],
  ["exec.d, exec.d/<type> and the command's own args", { entrypoint: "/cnb/process/env" }],
  ["the command's own args stay, user args replace args", { entrypoint: "/cnb/process/env", args: ["x y"] }],
  ["a process's exit code", { entrypoint: "/cnb/process/fail" }],
  ["a process type with a period", { entrypoint: "/cnb/process/process.with.period", args: ["x"] }],
  ["a shell process's working-dir", { entrypoint: "/cnb/process/shellwd" }],
  [
    "exec.d sees the user's env and runs in the app dir",
    { entrypoint: "/cnb/process/env", env: ["EXECD_IN=orig"] },
  ],
  [
    "CNB_APP_DIR from the user: the launcher changes to it",
    { entrypoint: "/cnb/lifecycle/launcher", env: ["CNB_APP_DIR=/layers"], args: ["pwd"] },
  ],
  ["env.launch/<type> (API 0.12)", { entrypoint: "/cnb/process/twelve" }],
  ["the launcher with no command and no default", { entrypoint: "/cnb/lifecycle/launcher" }],
  [
    "the launcher with a command: bash, profiles, each arg evaluated alone",
    { entrypoint: "/cnb/lifecycle/launcher", args: ["echo", "a;b", "x  y", "$GREETING", "$(echo sub)"] },
  ],
  [
    "the launcher with a script (no args)",
    { entrypoint: "/cnb/lifecycle/launcher", args: ["echo $GREETING-$APP_PROFILE; echo second"] },
  ],
  [
    "the launcher with -- runs directly, nothing evaluated",
    { entrypoint: "/cnb/lifecycle/launcher", args: ["--", "printf", "<%s>", "$GREETING", "a b", "c;d"] },
  ],
  [
    "the launcher with -- and a missing command",
    { entrypoint: "/cnb/lifecycle/launcher", args: ["--", "nosuch"] },
  ],
  [
    "the launcher given a process type name as its command",
    { entrypoint: "/cnb/lifecycle/launcher", args: ["arr"] },
  ],
  ["CNB_PROCESS_TYPE: warned about, not used", { env: ["CNB_PROCESS_TYPE=arr"] }],
  ["a failing exec.d program", { entrypoint: "/cnb/process/arr", env: ["EXECD_FAIL=1"] }],
];

describe("launch: a berth image runs as the reference lifecycle's image", () => {
  it("the launcher's input, <layers>/config/metadata.toml, has the same buildpacks and processes", async () => {
    const ref = parseTomlText(await layersFile(refLayers, "config/metadata.toml")) as Record<string, unknown>;
    const cat = await berth(
      ["run", "--entrypoint", "/bin/cat", `docker://${berthImage}`, "/layers/config/metadata.toml"],
      { home },
    );
    expect(cat.code, cat.stderr).toBe(0);
    const ours = parseTomlText(cat.stdout) as Record<string, unknown>;
    const pick = (m: Record<string, unknown>) => ({ buildpacks: m.buildpacks, processes: m.processes });
    expect(pick(ours), explain("metadata.toml", pick(ref), pick(ours))).toEqual(pick(ref));
  });

  for (const [name, opts] of cases) {
    it(name, async () => {
      const ref = await runIn(refImage, opts);
      const ours = await runIn(berthImage, opts);
      expect(ours, explain(name, ref, ours)).toEqual(ref);
      const lc = await runIn(berthLcImage, opts);
      expect(lc, explain(`${name}, berth image with the builder's lifecycle launcher`, ref, lc)).toEqual(ref);
    });
  }

  it("berth places the builder's own lifecycle launcher when there is one (it colours its warnings)", async () => {
    const a = ["run", "-e", "CNB_PROCESS_TYPE=x", "--entrypoint", "/cnb/process/arr"];
    const lc = await berth([...a, `docker://${berthLcImage}`], { home });
    expect(lc.stdout).toContain("\x1b[33;1mWarning: \x1b[0mCNB_PROCESS_TYPE is not supported");
    const own = await berth([...a, `docker://${berthImage}`], { home });
    expect(own.stdout).toContain("Warning: CNB_PROCESS_TYPE is not supported");
    expect(own.stdout).not.toContain("\x1b[");
  });

  it("env: the process sees the same variables", async () => {
    const opts = {
      entrypoint: "/cnb/lifecycle/launcher",
      args: ["--", "env"],
      env: [
        "USER_VAR=from user",
        "CNB_DEPRECATION_MODE=warn",
        "CNB_PLATFORM_API=0.13",
        "PATH=/cnb/process:/bin:/cnb/lifecycle",
      ],
    };
    const sorted = (o: Outcome) => ({
      ...o,
      stdout: o.stdout
        .split("\n")
        .filter((l) => !l.startsWith("HOSTNAME="))
        .sort()
        .join("\n"),
    });
    const ref = sorted(await runIn(refImage, opts));
    const ours = sorted(await runIn(berthImage, opts));
    expect(ours, explain("env", ref, ours)).toEqual(ref);
  });
});
