/** The build cache and reproducibility: no-op rebuilds run nothing, a changed COPY source re-runs from there. */
import { readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../helpers/cli.ts";
import { fileState } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { localBase, writeContext } from "./helpers/local.ts";

let tmp: string;
let base: string;

beforeAll(async () => {
  tmp = await tempDir("berth-df-cache-");
  base = await localBase(join(tmp, "base"));
});

interface Json {
  digest: string;
  steps: { instruction: string; cached: boolean; stage: number }[];
}

async function build(ctx: string, home: string, extra: string[] = [], env: Record<string, string> = {}) {
  const r = await berth(["build", ctx, "--dockerfile", "-t", `oci:${tmp}/out:x`, "--json", ...extra], {
    home,
    env,
  });
  if (r.code !== 0) throw new Error(r.stderr);
  return { json: JSON.parse(r.stdout) as Json, stderr: r.stderr };
}

const dockerfile = () => `FROM ${base}
ARG GREETING=hello
RUN echo "RAN-FIRST $GREETING" && echo first > /first
COPY a.txt /a.txt
RUN echo RAN-AFTER-A && cat /a.txt > /copy-of-a
COPY b.txt /b.txt
CMD ["cat", "/a.txt"]
`;

describe("the step cache", () => {
  it("a rebuild with nothing changed runs nothing and gives the same digest", async () => {
    const ctx = await writeContext(join(tmp, "c1"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: dockerfile(),
    });
    const home = join(tmp, "home1");
    const first = await build(ctx, home);
    expect(first.stderr).toContain("RAN-FIRST hello");
    expect(first.stderr).toMatch(/\[stage 1\/1\] STEP 1\/7: FROM /);
    const index = await fileState(join(tmp, "out", "index.json"));
    const second = await build(ctx, home);
    expect(second.json.digest).toBe(first.json.digest);
    // the image and its tag are as they were: the destination is not written (no index.json rewrite, no fsync)
    expect(await fileState(join(tmp, "out", "index.json"))).toEqual(index);
    expect(second.stderr).not.toMatch(/^RAN-/m);
    const steps = second.json.steps.filter(
      (s) => !s.instruction.startsWith("FROM") && !s.instruction.startsWith("ARG"),
    );
    expect(steps.every((s) => s.cached)).toBe(true);
    expect(second.stderr.match(/--> Using cache/g)?.length).toBe(5);
  });

  it("step records and the context index cut short (not flushed, a crash) are misses, never errors", async () => {
    const ctx = await writeContext(join(tmp, "c-torn"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: dockerfile(),
    });
    const home = join(tmp, "home-torn");
    const epoch = { SOURCE_DATE_EPOCH: "0" };
    const first = await build(ctx, home, [], epoch);
    const cache = join(home, "cache", "dockerfile");
    const records = await readdir(join(cache, "steps"));
    expect(records.length).toBeGreaterThan(2);
    // One record empty, one cut in the middle, the context's index empty.
    await truncate(join(cache, "steps", records[0]!), 0);
    const half = join(cache, "steps", records[1]!);
    await truncate(half, Math.floor((await readFile(half)).length / 2));
    for (const f of await readdir(join(cache, "context"))) await truncate(join(cache, "context", f), 0);
    const second = await build(ctx, home, [], epoch);
    expect(second.json.digest).toBe(first.json.digest);
    expect(second.json.steps.filter((s) => !s.cached).length).toBeGreaterThan(0);
    // a record whose layer is cut short is a miss: every RUN runs again
    for (const f of await readdir(join(cache, "blobs", "sha256"))) {
      await truncate(join(cache, "blobs", "sha256", f), 1);
    }
    const third = await build(ctx, home, [], epoch);
    expect(third.json.digest).toBe(first.json.digest);
    expect(third.stderr.match(/^RAN-(FIRST|AFTER-A)/gm)).toEqual(["RAN-FIRST", "RAN-AFTER-A"]);
  });

  it("a step found in the cache gets its history text from the Dockerfile, not from its record", async () => {
    const ctx = await writeContext(join(tmp, "c-history"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: `${dockerfile()}WORKDIR /w\nENV X=1\n`,
    });
    const home = join(tmp, "home-history");
    const history = async () => {
      const r = await berth(["inspect", "--config", `oci:${tmp}/out:x`], { home });
      const config = JSON.parse(r.stdout) as { history: { created_by?: string }[] };
      return config.history.map((h) => h.created_by);
    };
    await build(ctx, home);
    const first = await history();
    // records as an older berth (or a cache without history) left them: another text, or none
    const steps = join(home, "cache", "dockerfile", "steps");
    for (const name of await readdir(steps)) {
      const rec = JSON.parse(await readFile(join(steps, name), "utf8")) as {
        history?: { created_by?: string };
      };
      if (!rec.history) continue;
      if (rec.history.created_by?.startsWith("RUN")) rec.history.created_by = "RUN old text # buildkit";
      else delete rec.history.created_by;
      await writeFile(join(steps, name), JSON.stringify(rec));
    }
    const again = await build(ctx, home);
    expect(again.json.steps.filter((s) => s.instruction.startsWith("RUN")).every((s) => s.cached)).toBe(true);
    expect(await history()).toEqual(first);
    expect(first).toContain(
      'RUN |1 GREETING=hello /bin/sh -c echo "RAN-FIRST $GREETING" && echo first > /first # buildkit',
    );
    expect(first).toContain("COPY a.txt /a.txt # buildkit");
    expect(first).toContain("WORKDIR /w");
    expect(first).toContain("ENV X=1");
  });

  it("a change to one COPY source re-runs from that step on", async () => {
    const ctx = await writeContext(join(tmp, "c2"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: dockerfile(),
    });
    const home = join(tmp, "home2");
    const first = await build(ctx, home);
    await writeFile(join(ctx, "a.txt"), "changed\n");
    const second = await build(ctx, home);
    expect(second.json.digest).not.toBe(first.json.digest);
    expect(second.stderr).not.toMatch(/^RAN-FIRST/m);
    expect(second.stderr).toMatch(/^RAN-AFTER-A/m);
    const cached = Object.fromEntries(second.json.steps.map((s) => [s.instruction, s.cached]));
    expect(cached).toMatchObject({
      'RUN echo "RAN-FIRST $GREETING" && echo first > /first': true,
      "COPY a.txt /a.txt": false,
      "RUN echo RAN-AFTER-A && cat /a.txt > /copy-of-a": false,
      "COPY b.txt /b.txt": false,
    });
    // Back to the old content: everything cached again, the first digest again.
    await writeFile(join(ctx, "a.txt"), "a\n");
    const third = await build(ctx, home);
    expect(third.json.digest).toBe(first.json.digest);
    expect(third.stderr).not.toMatch(/^RAN-/m);
  });

  it("a build arg a RUN uses is part of its key; --no-cache runs everything", async () => {
    const ctx = await writeContext(join(tmp, "c3"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: dockerfile(),
    });
    const home = join(tmp, "home3");
    await build(ctx, home);
    const other = await build(ctx, home, ["--build-arg", "GREETING=bonjour"]);
    expect(other.stderr).toContain("RAN-FIRST bonjour");
    const none = await build(ctx, home, ["--no-cache"]);
    expect(none.stderr).toContain("RAN-FIRST hello");
    expect(none.stderr).not.toContain("Using cache");
  });

  it("SOURCE_DATE_EPOCH makes builds in different homes give the same digest", async () => {
    const ctx = await writeContext(join(tmp, "c4"), {
      "a.txt": "a\n",
      "b.txt": "b\n",
      Dockerfile: dockerfile(),
    });
    const env = { SOURCE_DATE_EPOCH: "1700000000" };
    const one = await build(ctx, join(tmp, "home4a"), [], env);
    const two = await build(ctx, join(tmp, "home4b"), [], env);
    expect(two.stderr).toMatch(/^RAN-FIRST/m);
    expect(two.json.digest).toBe(one.json.digest);
  });
});
