/**
 * pack's build habits through the real CLI (issue 16, point 3): `berth build IMAGE --path APP`, `--pull-policy`
 * for a builder and run image held in a registry (a missing builder is pulled, as `run` pulls), flags of the
 * other way of building refused, and `--json` with one schema for both ways.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBuildImage, writeBuildpack } from "../cnb/helpers.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { busyboxImage } from "../runtime/helpers.ts";

let dir: string;
let home: string;
let builder: string;
let app: string;
let reg: RegistryHarness;

const WEB = `printf '[[processes]]\\ntype = "web"\\ncommand = ["/bin/echo", "hi"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"
mkdir -p "$CNB_LAYERS_DIR/dep" && echo dep > "$CNB_LAYERS_DIR/dep/file"
printf '[types]\\nlaunch = true\\n' > "$CNB_LAYERS_DIR/dep.toml"`;

beforeAll(async () => {
  dir = await tempDir("berth-build-habits-");
  home = join(dir, "home");
  reg = await startRegistry();
  const layout = join(dir, "layout");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await busyboxImage(join(dir, "runlayout"), "run", { env: ["PATH=/bin"], user: "app" });
  const bp = await writeBuildpack(join(dir, "bps"), { id: "test/web", build: WEB });
  // The run image lives in the registry under the name the builder gives it.
  const run = `${reg.host}/stack/run:1`;
  const copied = await berth(["copy", `oci:${join(dir, "runlayout")}:run`, `docker://${run}`], { home });
  if (copied.code !== 0) throw new Error(copied.stderr);
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/web"\n\n[build]\nimage = "oci:${layout}:build"\n\n[[run.images]]\nimage = "${run}"\n`,
  );
  builder = `${reg.host}/team/builder:1`;
  const r = await berth(
    ["builder", "create", "--no-lifecycle", builder, "--publish", "--config", join(dir, "builder.toml")],
    {
      home,
    },
  );
  if (r.code !== 0) throw new Error(`builder create failed: ${r.stderr}`);
  app = join(dir, "app");
  await mkdir(app);
  await writeFile(join(app, "main.txt"), "m");
}, 300_000);
afterAll(async () => {
  await reg?.stop();
});

describe("berth build as pack users type it", () => {
  it("--pull-policy never refuses a builder missing from the store, naming it", async () => {
    const r = await berth(["build", "app:never", "--path", app, "-B", builder, "--pull-policy", "never"], {
      home,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no builder ${builder} in the local store (--pull-policy never)`);
    expect(r.stderr).toContain(`hint: pull it first (berth pull ${builder})`);
  });

  it("a missing builder is pulled (if-not-present, the default); IMAGE --path APP; --json", async () => {
    const r = await berth(["build", "app:1", "--path", app, "-B", builder, "--json"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`No builder ${builder} in the local store, pulling it`);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      schemaVersion: 1,
      way: "buildpacks",
      image: "app:1",
      tags: ["app:1"],
      processes: [{ type: "web", command: ["/bin/echo", "hi"], default: true }],
      buildpacks: [{ id: "test/web", version: "0.0.1" }],
    });
    expect(j.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(j.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(j.layers.total).toBeGreaterThan(1);
    const images = await berth(["images"], { home });
    expect(images.stdout).toContain(`${reg.host}/team/builder`);
    // a second build reuses the launch layer of the first
    const again = await berth(["build", "app:1", "--path", app, "-B", builder, "--json"], { home });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).layers.reused).toBeGreaterThan(0);
  }, 180_000);

  it("--pull-policy always pulls the builder and its run image into the store", async () => {
    const r = await berth(["build", "app:2", "--path", app, "-B", builder, "--pull-policy", "always"], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Pulling builder ${builder} (--pull-policy always)`);
    expect(r.stderr).toContain(`Pulling run image ${reg.host}/stack/run:1 (--pull-policy always)`);
    const never = await berth(["build", "app:3", "--path", app, "-B", builder, "--pull-policy", "never"], {
      home,
    });
    expect(never.code, never.stderr).toBe(0);
  }, 180_000);

  it("flags of the other way of building are errors", async () => {
    const bp = await berth(["build", app, "-t", "x:1", "-B", builder, "--build-arg", "A=1"], { home });
    expect(bp.code).toBe(2);
    expect(bp.stderr.split("\n")[0]).toBe(
      "berth: --build-arg applies only to Dockerfile builds; this is a buildpacks build (the default (no --dockerfile, project.toml does not ask for one))",
    );
    const ctx = join(dir, "ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY a.txt /a.txt\n");
    await writeFile(join(ctx, "a.txt"), "a");
    const df = await berth(
      ["build", ctx, "--dockerfile", "-t", "x:1", "-B", builder, "--pull-policy", "never"],
      {
        home,
      },
    );
    expect(df.code).toBe(2);
    expect(df.stderr.split("\n")[0]).toBe(
      "berth: -B/--builder, --pull-policy apply only to buildpacks builds; this is a Dockerfile build (--dockerfile)",
    );
    const none = await berth(["build", app], { home });
    expect(none.code).toBe(2);
    expect(none.stderr.split("\n")[0]).toBe("berth: no image to write: give -t IMAGE");
  });

  it("--json on a Dockerfile build: the same schema", async () => {
    const ctx = join(dir, "ctx2");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "Dockerfile"), 'FROM scratch\nCOPY a.txt /a.txt\nCMD ["/a.txt"]\n');
    await writeFile(join(ctx, "a.txt"), "a");
    const r = await berth(["build", "df:1", "--path", ctx, "--dockerfile", "--json"], { home });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      schemaVersion: 1,
      way: "dockerfile",
      image: "df:1",
      tags: ["df:1"],
      processes: [{ type: "default", command: ["/a.txt"], default: true }],
      layers: { total: 1, reused: 0 },
      unusedBuildArgs: [],
    });
    const again = JSON.parse(
      (await berth(["build", "df:1", "--path", ctx, "--dockerfile", "--json"], { home })).stdout,
    );
    expect(again.layers).toEqual({ total: 1, reused: 1 });
    expect(again.digest).toBe(j.digest);
  });
});
