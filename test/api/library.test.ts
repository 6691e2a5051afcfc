/**
 * The library's entry points (src/api, issue 16) against the real CLI: the same results as `--json`, the
 * same errors, a container's exit code as a result, and the host context taken from options only.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { BerthError } from "../../src/errors.ts";
import { buildDockerfile, chooseBuild, fromEnvironment, type HostOptions, run } from "../../src/index.ts";
import { berth } from "../helpers/cli.ts";
import { tempDir } from "../helpers/temp.ts";
import { busyboxImage } from "../runtime/helpers.ts";

let dir: string;
let base: string;
let ctxDir: string;

const hostFor = (home: string): HostOptions => ({
  home,
  searchPath: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
  sourceDateEpoch: 1700000000,
});

beforeAll(async () => {
  dir = await tempDir("berth-api-");
  const layout = join(dir, "base");
  await busyboxImage(layout, "1", { env: ["PATH=/bin"] });
  base = `oci:${layout}:1`;
  ctxDir = join(dir, "ctx");
  await mkdir(ctxDir);
  await writeFile(join(ctxDir, "hello.txt"), "hello\n");
  await writeFile(
    join(ctxDir, "Dockerfile"),
    `FROM ${base}\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\nWORKDIR /srv\nCMD ["cat", "/hello.txt", "/built.txt"]\n`,
  );
});

describe("buildDockerfile", () => {
  it("gives berth build --dockerfile --json's document, with the same digest", async () => {
    const cliHome = join(dir, "cli-home");
    const cli = await berth(["build", ctxDir, "--dockerfile", "-t", "app:1", "--json"], {
      home: cliHome,
      env: { SOURCE_DATE_EPOCH: "1700000000" },
    });
    expect(cli.stderr).not.toMatch(/error/i);
    expect(cli.code).toBe(0);
    const lines: string[] = [];
    const lib = await buildDockerfile({
      ...hostFor(join(dir, "lib-home")),
      logger: { info: (l) => lines.push(l) },
      context: ctxDir,
      tags: ["app:1"],
    });
    expect(lib).toEqual(JSON.parse(cli.stdout));
    expect(lib.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lib.processes).toEqual([
      { type: "default", command: ["cat", "/hello.txt", "/built.txt"], workDir: "/srv", default: true },
    ]);
    expect(lines.some((l) => l.includes("RUN echo built"))).toBe(true);
  });

  it("fails with the CLI's code and sentence", async () => {
    const home = join(dir, "err-home");
    const cli = await berth(["build", ctxDir, "--dockerfile", "-t", "app:1", "--target", "nope"], { home });
    const err = await buildDockerfile({
      ...hostFor(home),
      context: ctxDir,
      tags: ["app:1"],
      target: "nope",
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain((err as BerthError).message);
  });

  it("chooseBuild says which way berth build takes", async () => {
    expect((await chooseBuild(ctxDir, undefined, undefined)).way).toBe("buildpacks");
    expect(await chooseBuild(ctxDir, true, undefined)).toEqual({
      way: "dockerfile",
      dockerfile: join(ctxDir, "Dockerfile"),
      reason: "--dockerfile",
    });
  });
});

describe("run", () => {
  it("resolves with the exit code and output; env KEY alone comes from hostEnv, not this process", async () => {
    expect(process.env.BERTH_API_TEST_VAR).toBeUndefined();
    const out: Buffer[] = [];
    const r = await run(base, {
      ...hostFor(join(dir, "run-home")),
      hostEnv: { BERTH_API_TEST_VAR: "from-options" },
      cmd: ["sh", "-c", 'echo "$BERTH_API_TEST_VAR in $(pwd)"; exit 3'],
      env: ["BERTH_API_TEST_VAR"],
      workdir: "/tmp",
      network: "none",
      onStdout: (c) => out.push(c),
    });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe("from-options in /tmp\n");
    expect(Buffer.concat(out).toString()).toBe(r.stdout);
    expect(r.kept).toBeUndefined();
  });

  it("a missing image with pull never: the CLI's IMAGE_NOT_FOUND sentence and hint", async () => {
    const home = join(dir, "run-home");
    const err = (await run("nothing-here:1", { ...hostFor(home), pull: "never" }).catch(
      (e: unknown) => e,
    )) as BerthError;
    expect(err).toBeInstanceOf(BerthError);
    expect(err.code).toBe("IMAGE_NOT_FOUND");
    const cli = await berth(["run", "--pull", "never", "nothing-here:1"], { home });
    expect(cli.code).toBe(125);
    expect(cli.stderr).toContain(err.message);
    expect(cli.stderr).toContain(err.hint!);
  });

  it("a bad option is the CLI's usage error", async () => {
    const err = (await run(base, { ...hostFor(join(dir, "run-home")), volumes: ["relative"] }).catch(
      (e: unknown) => e,
    )) as BerthError;
    expect(err.code).toBe("USAGE");
    expect(err.message).toBe('volume "relative" is not HOST:CONTAINER[:ro]');
  });
});

describe("fromEnvironment", () => {
  it("reads BERTH_HOME, BERTH_RUNTIME, PATH and SOURCE_DATE_EPOCH from the environment it is given", () => {
    const env = { BERTH_HOME: "/h", BERTH_RUNTIME: "crun", PATH: "/x:/y", SOURCE_DATE_EPOCH: "42" };
    expect(fromEnvironment(env, { cwd: "/w" })).toEqual({
      home: "/h",
      hostEnv: env,
      cwd: "/w",
      runtime: "crun",
      searchPath: "/x:/y",
      sourceDateEpoch: 42,
    });
    expect(fromEnvironment({ HOME: "/u" }).home).toBe("/u/.local/share/berth");
    expect(() => fromEnvironment({ SOURCE_DATE_EPOCH: "soon" })).toThrow(/SOURCE_DATE_EPOCH "soon"/);
  });
});
