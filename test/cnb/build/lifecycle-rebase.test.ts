/**
 * `rebaseWithLifecycle` (src/cnb/build/lifecycle-rebase.ts) with a `rebaser` that is a script, from a builder
 * or a lifecycle image: the arguments it is given, the user it runs as, the digest read from its report, its
 * failure as one sentence with its last line. The
 * reference lifecycle's rebaser on registry images is test/cnb/lifecycle/phases.test.ts.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { rebaseWithLifecycle } from "../../../src/cnb/build/lifecycle-rebase.ts";
import { appendLayers, mutateImage } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";
import { memoryLogger } from "../helpers.ts";
import { fakeLifecycleBuilder } from "./fake-lifecycle.ts";

let dir: string;
let home: string;
let builder: string;
let lifecycleImage: string;
const DIGEST = `sha256:${"ab".repeat(32)}`;

// What the script does is chosen by the image's tag (its last argument).
const REBASER = `for a; do img=$a; done
report=""
while [ $# -gt 0 ]; do
  if [ "$1" = -report ]; then report=$2; fi
  shift
done
case "$img" in
*:ok) printf 'args = "%s"\\nuser = "%s"\\n[image]\\ndigest = "${DIGEST}"\\n' "$ARGS" "$(id -u):$(id -g)" > "$report" ;;
*:nodigest) printf '[image]\\ntags = ["x"]\\n' > "$report" ;;
*:fail) echo "working" >&2; echo "ERROR: failed to rebase: run image not found" >&2; exit 7 ;;
esac`;

beforeAll(async () => {
  dir = await tempDir("berth-cnb-lc-rebase-");
  home = join(dir, "home");
  // ARGS: the arguments as the script got them, before it shifts them away.
  const made = await fakeLifecycleBuilder(dir, home, { rebaser: `ARGS="$*"\n${REBASER}` });
  builder = made.builder;
  // A lifecycle image as pack's: the lifecycle under /cnb/lifecycle, run as the image's numeric user.
  const ctx = { home, env: {} };
  const withLifecycle = `oci:${join(dir, "images")}:lc-layer`;
  await appendLayers(
    parseImageArgument(made.buildImage),
    [{ source: made.lifecycleDir, dest: "/cnb/lifecycle" }],
    parseImageArgument(withLifecycle),
    ctx,
  );
  lifecycleImage = `oci:${join(dir, "images")}:lifecycle`;
  await mutateImage(
    parseImageArgument(withLifecycle),
    parseImageArgument(lifecycleImage),
    { user: "4242:4243" },
    ctx,
  );
}, 300_000);

const rebase = (
  image: string,
  extra: { previousImage?: string; runImage?: string; force?: boolean; lifecycleImage?: string } = {},
) =>
  rebaseWithLifecycle({
    image,
    ...(extra.lifecycleImage ? {} : { builder }),
    ctx: { home, env: {} },
    logger: memoryLogger(),
    hostEnv: { PATH: process.env.PATH },
    ...extra,
  }).catch((e: unknown) => e);

describe("rebaseWithLifecycle", () => {
  it("the rebaser gets the report path, -previous-image, -run-image, -force and the image; its report's digest comes back", async () => {
    const r = await rebase("127.0.0.1:5999/app:ok", {
      previousImage: "127.0.0.1:5999/app:old",
      runImage: "127.0.0.1:5999/run:2",
      force: true,
    });
    expect(r).toMatchObject({ digest: DIGEST, platformApi: "0.13", lifecycleVersion: "9.9.9" });
    expect((r as { report: string }).report).toContain(
      'args = "-report /berth/report/report.toml -previous-image 127.0.0.1:5999/app:old -run-image 127.0.0.1:5999/run:2 -force 127.0.0.1:5999/app:ok"',
    );
    expect((r as { report: string }).report).toContain('user = "1000:1000"');
    expect(((await rebase("127.0.0.1:5999/app:ok")) as { report: string }).report).toContain(
      'args = "-report /berth/report/report.toml 127.0.0.1:5999/app:ok"',
    );
  });

  it("--lifecycle-image: its lifecycle runs as the image's numeric user", async () => {
    const r = await rebase("127.0.0.1:5999/app:ok", { lifecycleImage });
    expect(r).toMatchObject({ digest: DIGEST, platformApi: "0.13", lifecycleVersion: "9.9.9" });
    expect((r as { report: string }).report).toContain('user = "4242:4243"');
  });

  it("a failing rebaser is one sentence naming the image, its exit code and its last line", async () => {
    expect(await rebase("127.0.0.1:5999/app:fail")).toMatchObject({
      code: "CNB_REBASE_FAILED",
      message:
        "the lifecycle's rebaser failed on 127.0.0.1:5999/app:fail (exit code 7): ERROR: failed to rebase: run image not found",
      details: { exitCode: 7 },
    });
  });

  it("a report without a digest is refused", async () => {
    expect(await rebase("127.0.0.1:5999/app:nodigest")).toMatchObject({
      code: "CNB_REBASE_FAILED",
      message: "the lifecycle's rebaser reported no image digest",
    });
  });
});
