/**
 * `detectWithLifecycle` (src/cnb/build/lifecycle-detect.ts) with a builder whose `detector` is a script: the
 * app copy, the platform env and the layers folder it is given, its exit code handed back, group.toml and
 * plan.toml read back — never through a link out of the layers folder. The reference lifecycle's detector is
 * test/cnb/lifecycle/phases.test.ts.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { detectWithLifecycle } from "../../../src/cnb/build/lifecycle-detect.ts";
import { tempDir } from "../../helpers/temp.ts";
import { memoryLogger } from "../helpers.ts";
import { fakeLifecycleBuilder } from "./fake-lifecycle.ts";

let dir: string;
let home: string;
let builder: string;
let app: string;

// What the script does is chosen by the app's `mode` file.
const DETECTOR = `cd /workspace
case "$(cat mode)" in
ok)
  printf '[[group]]\\nid = "test/bp"\\nversion = "%s"\\napi = "0.10"\\n' "$(cat /platform/env/BPV)" > /layers/group.toml
  printf '[[entries]]\\n[[entries.providers]]\\nid = "test/bp"\\nversion = "0.0.1"\\n[[entries.requires]]\\nname = "%s"\\n' "$(cat /platform/env/NEED)" > /layers/plan.toml
  echo "detector ran as $(id -u) with $*" >&2 ;;
fail) echo "no group" >&2; exit 20 ;;
link) ln -s /etc/passwd /layers/group.toml; : > /layers/plan.toml ;;
esac`;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-lc-detect-");
  home = join(dir, "home");
  ({ builder } = await fakeLifecycleBuilder(dir, home, { detector: DETECTOR }));
  app = join(dir, "app");
  await mkdir(app);
}, 300_000);

async function detect(mode: string, extra: { env?: string[]; envFiles?: string[] } = {}) {
  await writeFile(join(app, "mode"), mode);
  const logger = memoryLogger();
  const r = await detectWithLifecycle({
    builder,
    appDir: app,
    ctx: { home, env: {} },
    logger,
    hostEnv: { PATH: process.env.PATH },
    asRoot: process.getuid?.() === 0,
    ...extra,
  }).catch((e: unknown) => e);
  return { r, logger };
}

describe("detectWithLifecycle", () => {
  it("the group and plan the detector wrote, with -e and --env-file in its platform env", async () => {
    const envFile = join(dir, "need.env");
    await writeFile(envFile, "NEED=greeting\n");
    const { r, logger } = await detect("ok", { env: ["BPV=0.0.1"], envFiles: [envFile] });
    expect(r).toEqual({
      exitCode: 0,
      platformApi: "0.13",
      group: { group: [{ id: "test/bp", version: "0.0.1", api: "0.10" }] },
      plan: {
        entries: [{ providers: [{ id: "test/bp", version: "0.0.1" }], requires: [{ name: "greeting" }] }],
      },
    });
    expect(logger.lines).toContain("Using the builder's lifecycle 9.9.9 (Platform API 0.13)");
  });

  it("a non-zero exit is handed back as it is, with nothing read", async () => {
    const { r } = await detect("fail");
    expect(r).toEqual({ exitCode: 20, platformApi: "0.13" });
  });

  it("a group.toml the detector made a link out of the layers folder is refused, never followed", async () => {
    const { r } = await detect("link");
    expect(r).toMatchObject({ code: "UNSAFE_PATH" });
    expect((r as Error).message).toContain("group.toml");
    expect((r as Error).message).not.toContain("root:x:0:0");
  });
});
