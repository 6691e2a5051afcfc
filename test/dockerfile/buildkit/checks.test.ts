/**
 * `berth build --check` against docker buildx v0.30.1's (a private engine running
 * BuildKit's Dockerfile frontend v0.26.2 through `# syntax=`): the report on stdout byte for byte, the JSON, the
 * exit code, `error=true`. (The engine's BuildKit 0.8 has no build warnings, so a build's summary is held to
 * buildx's printWarnings in test/cli/commands/build.test.ts.)
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { run } from "../../helpers/exec.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeContext } from "../helpers/local.ts";
import { type Engine, FRONTEND_IMAGE, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;
let buildx: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-checks-");
  buildx = (await run("bash", [resolve(import.meta.dirname, "../../../scripts/buildx.sh")])).trim();
  engine = await startEngine(join(tmp, "engine"), { frontend: true });
}, 900_000);
afterAll(async () => {
  await engine?.engine.stop();
});

function buildxRun(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(buildx, args, { env: engine.engine.env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const DOCKERFILE = `# syntax=${FRONTEND_IMAGE}
FROM scratch AS Base
COPY a.txt /
ENV a b
CMD echo hi
CMD echo again
`;

const CLEAN = `# syntax=${FRONTEND_IMAGE}
FROM scratch
COPY a.txt /
CMD ["x"]
`;

const STRICT = `# syntax=${FRONTEND_IMAGE}
# check=error=true
FROM scratch AS out
WORKDIR app
COPY a.txt .
`;

/** buildx's and berth's --check (or the `--call` given) of `dockerfile`, the same path given to both. */
async function bothCheck(name: string, dockerfile: string, call: string[] = ["--check"]) {
  const ctx = await writeContext(join(tmp, name), { Dockerfile: dockerfile, "a.txt": "a\n" });
  const file = join(ctx, "Dockerfile");
  const theirs = await buildxRun(["build", ...call, "-f", file, ctx]);
  const ours = await berth(["build", ctx, "-f", file, ...call], { home: join(tmp, "home") });
  return { theirs, ours };
}

describe("--check against docker buildx v0.30.1", () => {
  it("the same report, byte for byte, and exit code 1 with warnings", async () => {
    const { theirs, ours } = await bothCheck("warned", DOCKERFILE);
    expect(theirs.stdout).toMatch(/^Check complete, 5 warnings have been found!\n/);
    expect(ours.stdout).toBe(theirs.stdout);
    expect([ours.code, theirs.code]).toEqual([1, 1]);
  });

  it("a clean Dockerfile: the same sentence, exit 0", async () => {
    const { theirs, ours } = await bothCheck("clean", CLEAN);
    expect(theirs.stdout).toBe("Check complete, no warnings found.\n");
    expect(ours.stdout).toBe(theirs.stdout);
    expect([ours.code, theirs.code]).toEqual([0, 0]);
  });

  it("# check=error=true: the same report, then the error naming the rules", async () => {
    const { theirs, ours } = await bothCheck("strict", STRICT);
    expect(ours.stdout).toBe(theirs.stdout);
    expect(theirs.stderr).toContain("lint violation found for rules: WorkdirRelativePath");
    expect(ours.stderr).toContain("Dockerfile: lint violation found for rules: WorkdirRelativePath");
    expect([ours.code, theirs.code]).toEqual([1, 1]);
  });

  it("--call check,format=json: BuildKit's lint result (but its LLB definition)", async () => {
    const { theirs, ours } = await bothCheck("json", DOCKERFILE, ["--call", "check,format=json"]);
    const doc = JSON.parse(theirs.stdout);
    delete doc.sources[0].definition;
    expect(JSON.parse(ours.stdout)).toEqual(doc);
    expect([ours.code, theirs.code]).toEqual([1, 1]);
  });

  it("--call outline and --call targets (and format=json): the same bytes, exit 0, with --build-arg and --target", async () => {
    const described = `# syntax=${FRONTEND_IMAGE}
# VERSION the version shipped
ARG VERSION=1.0
ARG UNUSED=u
# build compiles it
FROM scratch AS build
# NAME whom it greets
ARG NAME=world
ARG VERSION
RUN --mount=type=secret,id=token,required=true --mount=type=ssh true
# out the image
FROM scratch AS out
COPY --from=build a.txt /
ARG FINAL
`;
    for (const call of [
      ["--call", "outline"],
      ["--call", "outline,format=json"],
      ["--call", "outline", "--target", "build", "--build-arg", "NAME=berth"],
      ["--call", "targets"],
      ["--call", "targets,format=json"],
    ]) {
      const { theirs, ours } = await bothCheck(`call-${call.join("-")}`, described, call);
      expect(theirs.stdout.length).toBeGreaterThan(20);
      expect(ours.stdout).toBe(theirs.stdout);
      expect([ours.code, theirs.code]).toEqual([0, 0]);
    }
  });
});
