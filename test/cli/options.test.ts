/**
 * Every option that changes behaviour reaches the code that uses it (issue 17 §2): one row per command and
 * option, each run through the real CLI and checked by what the option changes — which runtime binary ran
 * (a recording wrapper given as --runtime or $BERTH_RUNTIME), which network a container or step had (its
 * interfaces), which manifest of an index was chosen (digests, the platform stamped on the output), and the
 * times SOURCE_DATE_EPOCH sets (created, file mtimes).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Descriptor } from "../../src/oci/descriptor.ts";
import { makeBuildImage, writeBuildpack } from "../cnb/helpers.ts";
import { twoPlatformBase } from "../dockerfile/helpers/multiarch.ts";
import { berth, type RunResult } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { randomLayout } from "../registry/helpers/images.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { busyboxImage, recordingRuntime } from "../runtime/helpers.ts";

const EPOCH = 1_700_000_000;
const EPOCH_TIME = "2023-11-14T22:13:20Z";
/** What a container or step prints of its network: its interfaces but loopback. */
const IFACES = "printf 'if%s: %s\\n' aces \"$(ls /sys/class/net | grep -v '^lo$' | sort | tr '\\n' ' ')\"";

let dir: string;
let home: string;
let bb: string;
let index: string;
let arm64: Descriptor;
let reg: RegistryHarness;
/** A linux/amd64 + linux/arm64 busybox index, or why there is none (no arm64 busybox cached or fetchable). */
let twoPlatform: string | Error;
// Recording wrappers of runc and crun (crun: where it can start containers here, see recordingRuntime).
const wrappers = await tempDir("berth-options-runtimes-");
const runc = (await recordingRuntime(wrappers, "runc"))!;
const crun = await recordingRuntime(wrappers, "crun");
let builder: string;
let n = 0;

const b = (args: string[], env: Record<string, string> = {}) => berth(args, { home, env });
const ok = (r: RunResult) => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};
const configOf = async (image: string) =>
  JSON.parse(ok(await b(["inspect", "--config", image])).stdout) as {
    created?: string;
    architecture: string;
  };
/** Lines the recording runtime logged since `from` (its log's length before the command). */
const ranSince = async (log: string, from: number) =>
  (await readFile(log, "utf8").catch(() => "")).slice(from);
const logSize = async (log: string) => (await readFile(log, "utf8").catch(() => "")).length;

beforeAll(async () => {
  dir = await tempDir("berth-options-");
  home = join(dir, "home");
  await busyboxImage(join(dir, "layout"), "bb", { env: ["PATH=/bin"] });
  bb = `oci:${join(dir, "layout")}:bb`;
  const platforms = [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64" },
  ];
  const idx = await randomLayout(join(dir, "index"), "t", { platforms, layers: 1 });
  index = `oci:${join(dir, "index")}:t`;
  const children = (
    JSON.parse((await idx.layout.readBlob(idx.root)).toString()) as { manifests: Descriptor[] }
  ).manifests;
  arm64 = children.find((c) => c.platform?.architecture === "arm64")!;
  reg = await startRegistry();
  twoPlatform = await twoPlatformBase(join(dir, "two")).catch((e: unknown) =>
    e instanceof Error ? e : new Error(String(e)),
  );
  ok(await b(["copy", "--all", index, `docker://${reg.host}/opts/index:1`]));
  // A builder whose one buildpack prints the build container's interfaces.
  const buildLayout = join(dir, "cnb-layout");
  await makeBuildImage(dir, `oci:${buildLayout}:build`, home, ["sort"]);
  const bp = await writeBuildpack(join(dir, "bps"), {
    id: "test/net",
    build: `${IFACES}\nprintf '[[processes]]\\ntype = "web"\\ncommand = ["true"]\\ndefault = true\\n' > "$CNB_LAYERS_DIR/launch.toml"`,
  });
  await writeFile(
    join(dir, "builder.toml"),
    `[[buildpacks]]\nuri = "${bp}"\n\n[[order]]\n[[order.group]]\nid = "test/net"\n\n[build]\nimage = "oci:${buildLayout}:build"\n\n[[run.images]]\nimage = "${bb}"\n`,
  );
  builder = `oci:${buildLayout}:builder`;
  ok(await b(["builder", "create", "--no-lifecycle", builder, "--config", join(dir, "builder.toml")]));
  await mkdir(join(dir, "app"), { recursive: true });
  await writeFile(join(dir, "app", "x.txt"), "x");
}, 300_000);

afterAll(async () => {
  await reg?.stop();
});

/** A Dockerfile build of `df` (with a file f in its context) to a fresh layout; the output image. */
async function dockerfileBuild(
  df: string,
  args: string[] = [],
  env: Record<string, string> = {},
): Promise<{ r: RunResult; image: string }> {
  const ctx = join(dir, `ctx${++n}`);
  await mkdir(ctx, { recursive: true });
  await writeFile(join(ctx, "Dockerfile"), df);
  await writeFile(join(ctx, "f"), "f");
  const image = `oci:${join(dir, `out${n}`)}:img`;
  const r = await b(["build", ctx, "--dockerfile", "-t", image, "--no-cache", ...args], env);
  return { r, image };
}

const buildpacks = (args: string[], env: Record<string, string> = {}) =>
  b(
    ["build", join(dir, "app"), "-t", `oci:${join(dir, `cnb-out${++n}`)}:app`, "--builder", builder, ...args],
    env,
  );
const detect = (args: string[], env: Record<string, string> = {}) =>
  b(["detect", join(dir, "app"), "--builder", builder, ...args], env);

interface Row {
  name: string;
  run: (ctx: { skip: (note: string) => void }) => Promise<void>;
  skip?: boolean;
}

/** The runtime a command ran: `--runtime PATH`, $BERTH_RUNTIME, and crun by name of a wrapper. */
const runtimeRows = (
  command: string,
  go: (args: string[], env: Record<string, string>) => Promise<RunResult>,
): Row[] => [
  {
    name: `${command} --runtime PATH`,
    run: async () => {
      const from = await logSize(runc.log);
      ok(await go(["--runtime", runc.path], {}));
      expect(await ranSince(runc.log, from)).toMatch(/(^| )(run|create) /m);
    },
  },
  {
    name: `${command} with BERTH_RUNTIME`,
    run: async () => {
      const from = await logSize(runc.log);
      ok(await go([], { BERTH_RUNTIME: runc.path }));
      expect(await ranSince(runc.log, from)).toMatch(/(^| )(run|create) /m);
    },
  },
  {
    name: `${command} --runtime crun (a wrapper named crun)`,
    skip: !crun,
    run: async () => {
      if (!crun) return;
      const from = await logSize(crun.log);
      ok(await go(["--runtime", crun.path], {}));
      expect(await ranSince(crun.log, from)).toMatch(/(^| )(run|create) /m);
    },
  },
];

/** The network a container or step had, from its interfaces: tap0 (slirp4netns), none, or the host's. */
const networkRows = (command: string, go: (args: string[]) => Promise<string>): Row[] => [
  {
    name: `${command} (default network)`,
    run: async () => expect(await go([])).toBe("tap0"),
  },
  {
    name: `${command} --network none`,
    run: async () => expect(await go(["--network", "none"])).toBe(""),
  },
  {
    name: `${command} --network host`,
    run: async () => {
      const got = await go(["--network", "host"]);
      expect(got).not.toBe("tap0");
      expect(got).not.toBe("");
    },
  },
];

const ifacesIn = (text: string) => /ifaces: ?(.*)$/m.exec(text)?.[1]?.trim() ?? "(no ifaces line)";

const rows: Row[] = [
  // berth run
  ...runtimeRows("run", (args, env) => b(["run", ...args, bb, "true"], env)),
  ...networkRows("run", async (args) =>
    ifacesIn(ok(await b(["run", ...args, bb, "sh", "-c", IFACES])).stdout),
  ),
  ...[undefined, "linux/arm64", "linux/amd64"].map((platform) => ({
    name: `run ${platform ? `--platform ${platform}` : "(default platform)"} of a two-platform index`,
    run: async (ctx: { skip: (note: string) => void }) => {
      if (twoPlatform instanceof Error) return ctx.skip(`no arm64 busybox: ${twoPlatform.message}`);
      const args = platform ? ["--platform", platform] : [];
      const r = ok(await b(["run", "--network", "none", ...args, twoPlatform, "uname", "-m"]));
      expect(r.stdout).toBe(platform === "linux/arm64" ? "aarch64\n" : "x86_64\n");
    },
  })),
  // berth bundle: the network namespace in config.json
  ...(["host", "none"] as const).map((network) => ({
    name: `bundle --network ${network}`,
    run: async () => {
      const out = join(dir, `bundle${++n}`);
      ok(await b(["bundle", "--network", network, bb, out, "true"]));
      const config = JSON.parse(await readFile(join(out, "config.json"), "utf8")) as {
        linux: { namespaces: { type: string }[] };
      };
      expect(config.linux.namespaces.some((ns) => ns.type === "network")).toBe(network === "none");
    },
  })),
  // berth build --dockerfile
  ...runtimeRows(
    "build --dockerfile",
    async (args, env) => (await dockerfileBuild(`FROM ${bb}\nRUN true\n`, args, env)).r,
  ),
  ...networkRows("build --dockerfile", async (args) => {
    const { r } = await dockerfileBuild(`FROM ${bb}\nRUN ${IFACES}\n`, args);
    return ifacesIn(ok(r).stderr);
  }),
  {
    name: "build --dockerfile --platform",
    run: async () => {
      const { r, image } = await dockerfileBuild("FROM scratch\nCOPY f /f\n", ["--platform", "linux/arm64"]);
      ok(r);
      expect((await configOf(image)).architecture).toBe("arm64");
    },
  },
  {
    name: "build --dockerfile with SOURCE_DATE_EPOCH",
    run: async () => {
      const { r, image } = await dockerfileBuild(`FROM ${bb}\nCOPY f /f\n`, [], {
        SOURCE_DATE_EPOCH: String(EPOCH),
      });
      ok(r);
      expect((await configOf(image)).created).toBe(EPOCH_TIME);
      expect(ok(await b(["run", "--network", "none", image, "stat", "-c", "%Y", "/f"])).stdout).toBe(
        `${EPOCH}\n`,
      );
    },
  },
  // berth build with buildpacks, berth detect
  ...runtimeRows("build (buildpacks)", (args, env) => buildpacks(args, env)),
  ...networkRows("build (buildpacks)", async (args) => {
    const r = ok(await buildpacks(args));
    return ifacesIn(r.stdout + r.stderr);
  }),
  {
    name: "build (buildpacks) with SOURCE_DATE_EPOCH; --creation-time wins",
    run: async () => {
      const sde = { SOURCE_DATE_EPOCH: String(EPOCH) };
      const out = `oci:${join(dir, `cnb-sde${++n}`)}:app`;
      ok(await b(["build", join(dir, "app"), "-t", out, "--builder", builder], sde));
      expect((await configOf(out)).created).toBe(EPOCH_TIME);
      const both = `oci:${join(dir, `cnb-sde${++n}`)}:app`;
      ok(
        await b(
          ["build", join(dir, "app"), "-t", both, "--builder", builder, "--creation-time", "1600000000"],
          sde,
        ),
      );
      expect((await configOf(both)).created).toBe("2020-09-13T12:26:40Z");
    },
  },
  ...runtimeRows("detect", (args, env) => detect(args, env)),
  // berth copy, pull, inspect, digest: the platform chosen from an index
  {
    name: "copy --platform",
    run: async () => {
      const out = join(dir, `copied${++n}`);
      ok(await b(["copy", "--platform", "linux/arm64", index, `oci:${out}:c`]));
      expect(ok(await b(["digest", `oci:${out}:c`])).stdout).toBe(`${arm64.digest}\n`);
    },
  },
  {
    name: "pull --platform",
    run: async () => {
      ok(await b(["pull", "--platform", "linux/arm64", `docker://${reg.host}/opts/index:1`]));
      expect(ok(await b(["digest", `${reg.host}/opts/index:1`])).stdout).toBe(`${arm64.digest}\n`);
    },
  },
  {
    name: "inspect --platform",
    run: async () => {
      const r = ok(await b(["inspect", "--json", "--platform", "linux/arm64", index]));
      expect((JSON.parse(r.stdout) as { digest: string }).digest).toBe(arm64.digest);
    },
  },
  {
    name: "history --platform",
    run: async () => {
      const config = async (p: string) =>
        (
          JSON.parse(ok(await b(["inspect", "--json", "--platform", p, index])).stdout) as {
            configDigest: string;
          }
        ).configDigest;
      const r = ok(await b(["history", "--json", "--platform", "linux/arm64", index]));
      expect((JSON.parse(r.stdout) as { id: string }).id).toBe(await config("linux/arm64"));
      expect(await config("linux/arm64")).not.toBe(await config("linux/amd64"));
    },
  },
  {
    name: "digest --platform",
    run: async () =>
      expect(ok(await b(["digest", "--platform", "linux/arm64", index])).stdout).toBe(`${arm64.digest}\n`),
  },
  // berth append, mutate: SOURCE_DATE_EPOCH and --platform
  {
    name: "append with SOURCE_DATE_EPOCH, --platform",
    run: async () => {
      const out = `oci:${join(dir, `appended${++n}`)}:a`;
      const files = join(dir, `files${n}`);
      await mkdir(files, { recursive: true });
      await writeFile(join(files, "g"), "g");
      ok(
        await b(["append", "--platform", "linux/arm64", index, files, "-t", out], {
          SOURCE_DATE_EPOCH: String(EPOCH),
        }),
      );
      const config = await configOf(out);
      expect(config.created).toBe(EPOCH_TIME);
      expect(config.architecture).toBe("arm64");
    },
  },
  {
    name: "mutate with SOURCE_DATE_EPOCH, --platform",
    run: async () => {
      const out = `oci:${join(dir, `mutated${++n}`)}:m`;
      ok(
        await b(["mutate", bb, "--platform", "linux/arm64", "--label", "a=b", "-t", out], {
          SOURCE_DATE_EPOCH: String(EPOCH),
        }),
      );
      const config = await configOf(out);
      expect(config.created).toBe(EPOCH_TIME);
      expect(config.architecture).toBe("arm64");
    },
  },
];

describe("every behaviour-changing option reaches the code", () => {
  for (const row of rows) it.skipIf(row.skip)(row.name, row.run, 120_000);
});
