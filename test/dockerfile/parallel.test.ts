/**
 * Independent stages build at the same time (issue 20, "Speed"; src/dockerfile/schedule.ts): two stages that
 * need nothing of each other run their RUN steps concurrently, the result is the same image a build with one
 * stage at a time gives, and a stage that fails stops the others.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { run } from "../helpers/exec.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;
let n = 0;

beforeAll(async () => {
  tmp = await tempDir("berth-df-parallel-");
  base = await localBase(join(tmp, "base"));
});

async function build(dockerfile: string, extra: string[] = [], files: Record<string, string> = {}) {
  const i = n++;
  const ctx = await writeContext(join(tmp, `ctx-${i}`), {
    ...files,
    Dockerfile: dockerfile.replaceAll("{{BASE}}", base),
  });
  const out = join(tmp, `out-${i}`);
  // a home of its own: nothing cached, and a cache mount no earlier build left files in
  const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${out}:img`, "--json", ...extra], {
    home: join(tmp, `home-${i}`),
    env: { SOURCE_DATE_EPOCH: "0" },
  });
  return { ...r, out };
}

/**
 * A stage that marks its start in a cache mount both stages share, waits (up to 20 s) for the other's mark,
 * and records the times it started and ended (whole seconds) and whether it met the other.
 */
const meeting = (me: string, other: string) =>
  `RUN --mount=type=cache,id=meet,target=/meet /bin/busybox date +%s > /start && touch /meet/${me} && ` +
  `i=0; while ! test -e /meet/${other} && test $i -lt 40; do sleep 0.5; i=$((i+1)); done; ` +
  `if test -e /meet/${other}; then echo met > /seen; else echo alone > /seen; fi; sleep 2; /bin/busybox date +%s > /end`;

describe("stages in parallel", () => {
  it("two independent stages run at the same time: each sees the other's mark, their times overlap", async () => {
    const r = await build(`FROM {{BASE}} AS a
${meeting("a", "b")}
FROM {{BASE}} AS b
${meeting("b", "a")}
FROM {{BASE}}
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=a /seen /a.seen
COPY --from=b /start /b.start
COPY --from=b /end /b.end
COPY --from=b /seen /b.seen
`);
    if (r.code !== 0) throw new Error(r.stderr);
    await run("umoci", ["unpack", "--image", `${r.out}:img`, `${r.out}-bundle`]);
    const read = async (p: string) => (await readFile(join(`${r.out}-bundle/rootfs`, p), "utf8")).trim();
    expect(await read("a.seen")).toBe("met");
    expect(await read("b.seen")).toBe("met");
    const [as, ae, bs, be] = await Promise.all(["a.start", "a.end", "b.start", "b.end"].map(read));
    // one after the other, one would start after the other ended; here each started before the other ended
    expect(Number(as)).toBeLessThan(Number(be));
    expect(Number(bs)).toBeLessThan(Number(ae));
    // Progress lines name their stage, as BuildKit's do.
    expect(r.stderr).toMatch(/^\[stage 1\/3\] STEP 2\/2: RUN /m);
    expect(r.stderr).toMatch(/^\[stage 2\/3\] --> [0-9a-f]{12} \([0-9.]+ m?s\)$/m);
  });

  it("gives the digest a build with one stage at a time gives", async () => {
    const dockerfile = `FROM {{BASE}} AS deps
COPY deps/ /deps/
RUN mkdir -p /out && cat /deps/* > /out/deps.lock
FROM {{BASE}} AS tools
RUN mkdir -p /opt/tool && echo tool > /opt/tool/bin && echo RAN-TOOLS
FROM {{BASE}} AS build
COPY --from=deps /out/deps.lock /build/deps.lock
COPY src/ /src/
RUN cat /src/* /build/deps.lock > /app && echo RAN-BUILD
FROM {{BASE}}
COPY --from=tools /opt/tool /opt/tool
COPY --from=build /app /app
CMD ["cat", "/app"]
`;
    const files = { "deps/a": "a\n", "deps/b": "b\n", "src/main.c": "int main;\n", "src/x.c": "x\n" };
    const parallel = await build(dockerfile, [], files);
    if (parallel.code !== 0) throw new Error(parallel.stderr);
    const serial = await build(dockerfile, ["--stage-jobs", "1"], files);
    if (serial.code !== 0) throw new Error(serial.stderr);
    const p = JSON.parse(parallel.stdout);
    const s = JSON.parse(serial.stdout);
    expect(p.digest).toBe(s.digest);
    // the steps are reported stage by stage whatever order they ran in
    expect(p.steps).toEqual(s.steps);
    // RUN output of concurrent stages comes in whole lines with the stage's prefix
    expect(parallel.stderr).toMatch(/^\[stage 2\/4\] RAN-TOOLS$/m);
    expect(serial.stderr).toMatch(/^RAN-TOOLS$/m);
  });

  it("a stage's files go first to a stage that runs a RUN with them, then to the target's COPY --from", async () => {
    // test's COPY --from=build is the heavier (16 MiB); before, both took build's files at once and the target's
    // single-file copy was through first, delaying test's RUN
    const r = await build(`FROM {{BASE}} AS build
RUN mkdir -p /out && /bin/busybox dd if=/dev/urandom of=/out/big bs=1M count=16 && echo app > /out/app
FROM {{BASE}} AS test
COPY --from=build /out/ /out/
RUN test -s /out/app && echo ok > /tested
FROM {{BASE}}
COPY --from=build /out/app /app
COPY --from=test /tested /tested
`);
    if (r.code !== 0) throw new Error(r.stderr);
    const lines = r.stderr.split("\n");
    const at = (re: RegExp, from = 0) => lines.findIndex((l, i) => i >= from && re.test(l));
    const testRun = at(/^\[stage 2\/3\] STEP 3\/3: RUN /);
    const targetCopy = at(/^\[stage 3\/3\] --> /, at(/^\[stage 3\/3\] STEP 2\/3: COPY --from=build/));
    expect(testRun).toBeGreaterThan(0);
    // the target's copy is through only after test's RUN started (its process runs while the copy is made)
    expect(targetCopy).toBeGreaterThan(testRun);
  });

  it("a failing stage stops the others, and its error is the one reported", async () => {
    const r = await build(`FROM {{BASE}} AS slow
RUN sleep 30 && echo SLOW-FIN""ISHED
FROM {{BASE}} AS broken
RUN sleep 1 && exit 3
FROM {{BASE}}
COPY --from=slow /etc/motd /a
COPY --from=broken /etc/motd /b
`);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:4: RUN .* exited with code 3/);
    // the slow stage's RUN was stopped: it never printed, and berth did not wait for it to end
    expect(r.stderr).not.toContain("SLOW-FINISHED");
    expect(r.stderr).not.toMatch(/Successfully built/);
  });

  it("--stage-jobs must be a whole number", async () => {
    const r = await build("FROM {{BASE}}\n", ["--stage-jobs", "0"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--stage-jobs");
  });
});
