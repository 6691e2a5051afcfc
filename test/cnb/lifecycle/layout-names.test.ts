/**
 * `berth build --lifecycle builder` puts the run image (and the previous image) into the lifecycle's layout
 * repository at the folder the lifecycle will look in, and reads the app image back from the folder the
 * lifecycle wrote: the path imgutil's `layout.ParseRefToPath` makes with go-containerregistry's names. Those
 * read a name's first component as the registry only when it has a `.` or a `:`, so `localhost/run` is Docker
 * Hub's `index.docker.io/localhost/run`, where berth (as docker) reads the registry `localhost`. Each spelling
 * against the real lifecycle (v0.21.0): a run image from the store named `localhost/NAME`, one with no
 * registry (Docker Hub's), one on a registry at 127.0.0.1:PORT and as localhost:PORT; an app image named
 * `localhost/NAME` (and as a previous image), and one written to an OCI layout (the lifecycle exports that
 * under a `localhost/` name of berth's).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { type LifecycleFixture, lifecycleFixture } from "./fixture.ts";

let f: LifecycleFixture;

beforeAll(async () => {
  f = await lifecycleFixture("berth-lifecycle-names-");
  for (const name of ["localhost/lc-run:1", "lc-plain-run:1"]) {
    const r = await berth(["copy", `oci:${f.layout}:run`, name], { home: f.home });
    if (r.code !== 0) throw new Error(`copy to ${name}: ${r.stderr}`);
  }
}, 600_000);

afterAll(async () => {
  await f?.cleanup();
});

/** Build `target` with the builder's lifecycle, run it; the build's output. */
async function buildAndRun(
  target: string,
  runImage: string | undefined,
  runRef = target,
  extra: string[] = [],
): Promise<string> {
  const args = ["build", f.app, "-t", target, "--builder", f.builder, "--lifecycle", "builder", ...extra];
  const r = await berth([...args, ...(runImage ? ["--run-image", runImage] : [])], { home: f.home });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const run = await berth(["run", runRef], { home: f.home });
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toBe("say: the app\n");
  return r.stdout + r.stderr;
}

describe("--lifecycle builder: image names as the lifecycle's layout repository spells them", () => {
  it("a run image named localhost/NAME (go-containerregistry: index.docker.io/localhost/NAME)", async () => {
    await buildAndRun("names-a:1", "localhost/lc-run:1");
    // Trusted: creator reads the same layout repository.
    await buildAndRun("names-a:2", "localhost/lc-run:1", "names-a:2", ["--trust-builder"]);
  }, 300_000);

  it("a run image with no registry (Docker Hub's library/) and one on a registry at 127.0.0.1", async () => {
    await buildAndRun("names-b:1", "lc-plain-run:1");
    await buildAndRun("names-c:1", `${f.reg.host}/base/run:1`);
    // The same registry as localhost:PORT (a registry for both readings).
    await buildAndRun("names-c:2", `localhost:${f.reg.host.split(":")[1]}/base/run:1`);
  }, 600_000);

  it("an app image named localhost/NAME, rebuilt (the previous image read back from the layout)", async () => {
    await buildAndRun("localhost/names-app:1", undefined);
    const again = await buildAndRun("localhost/names-app:1", undefined);
    expect(again).not.toContain('names-app/1" not found');
    expect(again).toMatch(/Reusing layer 'test\/provider:say'/);
    // --previous-image with that spelling, for an app of another name.
    const other = await buildAndRun("names-other:1", undefined, "names-other:1", [
      "--previous-image",
      "localhost/names-app:1",
    ]);
    expect(other).toMatch(/Reusing layer 'test\/provider:say'/);
  }, 600_000);

  it("an app image written to an OCI layout", async () => {
    const out = join(f.dir, "out-layout");
    await buildAndRun(`oci:${out}:app`, undefined, `oci:${out}:app`);
  }, 300_000);
});
