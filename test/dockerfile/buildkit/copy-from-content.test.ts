/**
 * COPY --from (and RUN --mount=from) keyed also on the content it reads (issue 20), as BuildKit's file ops and
 * read-only mounts are (a content checksum of the selected paths besides the definition key): a source stage
 * that re-runs but leaves the read files byte-identical changes nothing after the COPY, and the RUN whose
 * mount reads them does not run. Shown with the engine's BuildKit and with berth, locally and
 * through a mode=min and a mode=max cache read on a fresh BERTH_HOME.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { writeContext } from "../helpers/local.ts";
import { type Engine, dockerBuild as engineBuild, startEngine } from "./helpers/oracle.ts";

let tmp: string;
let engine: Engine;

beforeAll(async () => {
  tmp = await tempDir("berth-df-copy-content-");
  engine = await startEngine(join(tmp, "engine"), { frontend: false });
}, 600_000);
afterAll(async () => {
  await engine?.engine.stop();
});

/** Stage a derives /out/x from src.txt, but only its first line: a change below it leaves /out/x as it was. */
const dockerfile = (base: string) => `FROM ${base} AS a
COPY src.txt /src.txt
RUN echo "RAN-A" && mkdir /out && read -r line < /src.txt && echo "$line" > /out/x && chmod 640 /out/x
FROM ${base}
COPY --from=a /out/x /x
RUN echo "RAN-B" && cat /x > /y
RUN --mount=from=a,source=/out,target=/in echo "RAN-M" && cat /in/x > /m
`;

async function context(name: string) {
  return writeContext(join(tmp, name), {
    "src.txt": "first\nsecond\n",
    "berth.Dockerfile": dockerfile(engine.base),
    "docker.Dockerfile": dockerfile(engine.buildkitBase),
  });
}

async function berthBuild(ctx: string, home: string, args: string[]) {
  const r = await berth(
    [
      "build",
      ctx,
      "--dockerfile",
      join(ctx, "berth.Dockerfile"),
      "-t",
      `oci:${tmp}/out:img`,
      "--json",
      ...args,
    ],
    { home: join(tmp, "homes", home), env: { SOURCE_DATE_EPOCH: "0" } },
  );
  if (r.code !== 0) throw new Error(r.stderr);
  return { stderr: r.stderr, digest: (JSON.parse(r.stdout) as { digest: string }).digest };
}

const dockerBuild = (ctx: string, args: string[]) => engineBuild(engine.engine, ctx, args);

const ran = (out: string, token: string) =>
  new RegExp(`^(?:#\\d+ [\\d.]+ |\\[stage \\d+/\\d+\\] )?${token}$`, "m").test(out);

describe("COPY --from and RUN --mount=from keyed on the content they read", () => {
  it("BuildKit: the source stage re-runs, the file read is the same: the reading stage's RUNs do not", async () => {
    const ctx = await context("bk");
    const before = await dockerBuild(ctx, ["-t", "content:1"]);
    expect([ran(before, "RAN-B"), ran(before, "RAN-M")]).toEqual([true, true]);
    const id1 = (await engine.engine.docker(["image", "inspect", "--format", "{{.Id}}", "content:1"])).trim();
    await writeFile(join(ctx, "src.txt"), "first\nchanged\n");
    const out = await dockerBuild(ctx, ["-t", "content:2"]);
    expect(ran(out, "RAN-A")).toBe(true);
    expect(ran(out, "RAN-B")).toBe(false);
    expect(ran(out, "RAN-M")).toBe(false);
    const id2 = (await engine.engine.docker(["image", "inspect", "--format", "{{.Id}}", "content:2"])).trim();
    expect(id2).toBe(id1);
  });

  it("berth: the same, and the final digest is unchanged", async () => {
    const ctx = await context("berth");
    const first = await berthBuild(ctx, "local", []);
    expect([ran(first.stderr, "RAN-B"), ran(first.stderr, "RAN-M")]).toEqual([true, true]);
    await writeFile(join(ctx, "src.txt"), "first\nchanged\n");
    const second = await berthBuild(ctx, "local", []);
    expect(ran(second.stderr, "RAN-A")).toBe(true);
    expect(ran(second.stderr, "RAN-B")).toBe(false);
    expect(ran(second.stderr, "RAN-M")).toBe(false);
    expect(second.digest).toBe(first.digest);
    // a change to the copied file itself runs B again
    await writeFile(join(ctx, "src.txt"), "other\nchanged\n");
    const third = await berthBuild(ctx, "local", []);
    expect(ran(third.stderr, "RAN-B")).toBe(true);
    expect(ran(third.stderr, "RAN-M")).toBe(true);
  });

  for (const mode of ["min", "max"]) {
    it(`berth, mode=${mode}: a fresh BERTH_HOME with the changed source reads the cache and runs only A`, async () => {
      const ctx = await context(`cache-${mode}`);
      const cache = join(tmp, `exported-${mode}`);
      const first = await berthBuild(ctx, `writer-${mode}`, [
        "--cache-to",
        `type=local,dest=${cache},mode=${mode}`,
      ]);
      await writeFile(join(ctx, "src.txt"), "first\nchanged\n");
      const fresh = await berthBuild(ctx, `reader-${mode}`, ["--cache-from", `type=local,src=${cache}`]);
      expect(ran(fresh.stderr, "RAN-A")).toBe(true);
      expect(ran(fresh.stderr, "RAN-B")).toBe(false);
      expect(ran(fresh.stderr, "RAN-M")).toBe(false);
      expect(fresh.digest).toBe(first.digest);
    });
  }
});
