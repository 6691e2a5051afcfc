/**
 * RUN --mount=type=cache,from=…,source=… keyed on what it reads (issue 20), as BuildKit keys it: the exec op's
 * definition (the mount's target, cache id, sharing and readonly; mode/uid/gid only where the frontend makes a
 * directory of them, that is without a source) and, for the `from` input, a content checksum of the `source`
 * subtree. One sequence of builds, each built by BuildKit (the engine with the Dockerfile frontend the oracle
 * loads) and by berth, each on its own long-lived cache; every build says whether the RUN ran (and what it saw
 * at the mount), and berth must run it exactly when BuildKit does (and see the same).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendLayers } from "../../../src/image/index.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeContext } from "../helpers/local.ts";
import { dockerBuild, type Engine, FRONTEND_IMAGE, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;
/** Each seed image by number, as berth names it and as the engine does. */
const images = new Map<number, { berth: string; buildkit: string }>();

/** Seed images on the base: /data/x (the mounted source) and /etc/note (outside it). */
const IMAGE_FILES: Record<number, Record<string, string>> = {
  1: { "data/x": "one\n", "etc/note": "first\n" },
  2: { "data/x": "one\n", "etc/note": "second\n" },
  3: { "data/x": "three\n", "etc/note": "second\n" },
};

beforeAll(async () => {
  tmp = await tempDir("berth-df-cache-mount-from-");
  engine = await startEngine(join(tmp, "engine"), { frontend: true });
  for (const [n, files] of Object.entries(IMAGE_FILES)) {
    const rootfs = await writeContext(join(tmp, `image-${n}`), files);
    const ref = `oci:${tmp}/images:v${n}`;
    await appendLayers(
      parseImageArgument(engine.base),
      [{ source: rootfs, dest: "/" }],
      parseImageArgument(ref),
      { home: join(tmp, "image-home"), env: {} },
      { sourceDateEpoch: 0 },
    );
    const name = `berth-test/seed:${n}`;
    const archive = join(tmp, `image-${n}.tar`);
    await run("skopeo", ["copy", "-q", ref, `docker-archive:${archive}:${name}`]);
    await engine.engine.docker(["load", "-i", archive]);
    images.set(Number(n), { berth: ref, buildkit: name });
  }
}, 900_000);
afterAll(async () => {
  await engine?.engine.stop();
});

/**
 * A directory on this host that stage a also makes, with other content, and links to from /escape (an absolute
 * link: inside the stage it means the stage's directory, followed on the host it would mean this one).
 */
const hostDir = () => join(tmp, "host-only");

/**
 * Stage a has /seed (the source), /other and /escape; stage b has /data as seed image 3 has it. The last stage's one RUN
 * mounts a cache as `mount` says; `IMG1`… name the seed images.
 */
const dockerfile = (base: string, mount: string) => `FROM ${base} AS a
COPY seed /seed
COPY other /other
RUN mkdir -p ${hostDir()} && echo stage > ${hostDir()}/x && ln -s ${hostDir()} /escape
FROM ${base} AS b
COPY data /data
FROM ${base}
RUN --mount=type=cache,${mount} echo "RAN-M" && echo "SEEN $(stat -c '%a %u:%g %n' /c* | tr '\\n' ' ')$(ls /c* | tr '\\n' ' ')$(cat /c/x 2>/dev/null)"
`;

interface Step {
  what: string;
  mount: string;
  /** Context files written before the build. */
  change?: Record<string, string>;
  /** The content of hostDir()/x, written before the build. */
  host?: string;
}

const FROM_B = "from=b,source=/data,target=/c";
const STEPS: Step[] = [
  { what: "stage: first build", mount: "from=a,source=/seed,target=/c" },
  {
    what: "stage: a file outside source changed",
    mount: "from=a,source=/seed,target=/c",
    change: { other: "2\n" },
  },
  {
    what: "stage: a file in source changed",
    mount: "from=a,source=/seed,target=/c",
    change: { "seed/x": "2\n" },
  },
  { what: "image 1", mount: "from=IMG1,source=/data,target=/c" },
  { what: "image 2: outside source differs", mount: "from=IMG2,source=/data,target=/c" },
  { what: "image 3: source differs", mount: "from=IMG3,source=/data,target=/c" },
  { what: "a stage instead of image 3, same source content", mount: FROM_B },
  { what: "id=other", mount: `${FROM_B},id=other` },
  { what: "id=the target (the default)", mount: `${FROM_B},id=/c` },
  { what: "sharing=locked", mount: `${FROM_B},sharing=locked` },
  { what: "sharing=shared (the default)", mount: `${FROM_B},sharing=shared` },
  { what: "mode with a source", mount: `${FROM_B},mode=0700` },
  { what: "uid and gid with a source", mount: `${FROM_B},uid=1,gid=1` },
  { what: "readonly", mount: `${FROM_B},ro` },
  { what: "another target", mount: "from=b,source=/data,target=/c2" },
  { what: "a stage, no source", mount: "from=b,target=/c" },
  { what: "a stage, no source, mode", mount: "from=b,target=/c,mode=0700" },
  { what: "a stage, no source, mode again", mount: "from=b,target=/c,mode=0700" },
  { what: "no from", mount: "target=/c" },
  { what: "no from, mode", mount: "target=/c,mode=0700" },
  { what: "no from, uid", mount: "target=/c,uid=1" },
  { what: "no from, mode again", mount: "target=/c,mode=0700" },
  { what: "source an absolute link in the stage", mount: "from=a,source=/escape,target=/c" },
  {
    what: "the host's directory the link names changed, and the stage",
    mount: "from=a,source=/escape,target=/c",
    change: { other: "3\n" },
    host: "changed on the host\n",
  },
];

/** What BuildKit does (checked below against the engine): does the RUN run? */
const EXPECTED = [
  "stage: first build: ran",
  "stage: a file outside source changed: reused",
  "stage: a file in source changed: ran",
  "image 1: ran",
  "image 2: outside source differs: reused",
  "image 3: source differs: ran",
  "a stage instead of image 3, same source content: reused",
  "id=other: ran",
  "id=the target (the default): reused",
  "sharing=locked: ran",
  "sharing=shared (the default): reused",
  "mode with a source: reused",
  "uid and gid with a source: reused",
  "readonly: ran",
  "another target: ran",
  "a stage, no source: ran",
  "a stage, no source, mode: ran",
  "a stage, no source, mode again: reused",
  "no from: ran",
  // the same empty 0700 directory as the one made in stage b (it has no /cache): BuildKit's content key
  "no from, mode: reused",
  "no from, uid: ran",
  "no from, mode again: reused",
  "source an absolute link in the stage: ran",
  // the step read the stage's directory, never the host's: its content key is unchanged
  "the host's directory the link names changed, and the stage: reused",
];

const ran = (out: string) => /^(?:#\d+ [\d.]+ |\[stage \d+\/\d+\] )?RAN-M$/m.test(out);

/** What the step saw at its mount: the directory's mode and owner, and its files. */
const seen = (out: string) => /^(?:#\d+ [\d.]+ |\[stage \d+\/\d+\] )?SEEN (.*)$/m.exec(out)?.[1]?.trim();

const forBuilder = (mount: string, builder: "berth" | "buildkit") =>
  mount.replace(/IMG(\d)/g, (_, n: string) => images.get(Number(n))![builder]);

describe("RUN --mount=type=cache,from= keyed as BuildKit keys it", () => {
  it("berth runs the step exactly when BuildKit does", async () => {
    await writeContext(hostDir(), { x: "on the host\n" });
    const ctx = await writeContext(join(tmp, "ctx"), {
      "seed/x": "1\n",
      other: "1\n",
      "data/x": IMAGE_FILES[3]!["data/x"]!,
    });
    const berthRuns: string[] = [];
    const buildkitRuns: string[] = [];
    const berthSaw: string[] = [];
    const buildkitSaw: string[] = [];
    for (const step of STEPS) {
      for (const [path, content] of Object.entries(step.change ?? {}))
        await writeFile(join(ctx, path), content);
      if (step.host) await writeFile(join(hostDir(), "x"), step.host);
      await writeFile(
        join(ctx, "docker.Dockerfile"),
        `# syntax=${FRONTEND_IMAGE}\n${dockerfile(engine.buildkitBase, forBuilder(step.mount, "buildkit"))}`,
      );
      await writeFile(
        join(ctx, "berth.Dockerfile"),
        dockerfile(engine.base, forBuilder(step.mount, "berth")),
      );
      const theirs = await dockerBuild(engine.engine, ctx, []);
      buildkitRuns.push(`${step.what}: ${ran(theirs) ? "ran" : "reused"}`);
      if (ran(theirs)) buildkitSaw.push(`${step.what}: ${seen(theirs)}`);
      const ours = await berth(
        ["build", ctx, "--dockerfile", join(ctx, "berth.Dockerfile"), "-t", `oci:${tmp}/out:img`],
        { home: join(tmp, "berth-home"), env: { SOURCE_DATE_EPOCH: "0" } },
      );
      if (ours.code !== 0) throw new Error(`${step.what}: berth build failed:\n${ours.stderr}`);
      berthRuns.push(`${step.what}: ${ran(ours.stderr) ? "ran" : "reused"}`);
      if (ran(ours.stderr)) berthSaw.push(`${step.what}: ${seen(ours.stderr)}`);
    }
    expect(buildkitRuns).toEqual(EXPECTED);
    expect(berthRuns).toEqual(buildkitRuns);
    // and where both ran it, the step saw the same directory
    expect(berthSaw).toEqual(buildkitSaw);
  });
});
