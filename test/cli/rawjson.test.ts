/**
 * src/cli/rawjson.ts: `berth build --progress rawjson` checked by BuildKit's own code. The oracle
 * (test/helpers/progress-oracle.ts) decodes each line into client.SolveStatus with unknown fields refused, asks
 * Go's encoder for the same bytes back, and replays the stream through progressui's plain display (BuildKit
 * v0.26.2): every step, the RUN output, CACHED, the exports and a failed step's error must come out of it. Builds
 * run the real CLI with real runc.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { SolveStatusWriter } from "../../src/cli/rawjson.ts";
import { localBase, writeContext } from "../dockerfile/helpers/local.ts";
import { berth, spawnBerth } from "../helpers/cli.ts";
import { replayProgress } from "../helpers/progress-oracle.ts";
import { tempDir } from "../helpers/temp.ts";
import { startRegistry } from "../registry/helpers/registry.ts";

interface Line {
  vertexes?: { digest: string; name?: string; cached?: boolean; error?: string; completed?: string }[];
  logs?: { vertex: string; stream?: number; data: string }[];
  statuses?: { id: string; vertex: string }[];
}

/** The JSON lines of a stderr, and what follows them (berth's error sentence). */
function split(stderr: string): { json: string; lines: Line[]; rest: string } {
  const all = stderr.split("\n");
  const n = all.findIndex((l) => !l.startsWith("{"));
  const json = all.slice(0, n);
  return {
    json: json.map((l) => `${l}\n`).join(""),
    lines: json.map((l) => JSON.parse(l) as Line),
    rest: all.slice(n).join("\n"),
  };
}

describe("SolveStatusWriter", () => {
  it("writes lines Go decodes into client.SolveStatus and encodes back to the same bytes", async () => {
    const out: string[] = [];
    const w = new SolveStatusWriter((line) => out.push(line));
    const v = `sha256:${"a".repeat(64)}`;
    const u = `sha256:${"b".repeat(64)}`;
    const t = Date.UTC(2026, 11, 4, 3, 0, 0, 0);
    w.onStep({
      type: "start",
      vertex: v,
      name: "[stage 1/1] STEP 1/2: FROM a <b> & c\u2028\uD800",
      inputs: [],
      at: t,
    });
    w.onStep({ type: "warning", vertex: v, short: "Rule: a <b> (line 1)", at: t + 50 });
    w.onStep({ type: "done", vertex: v, cached: true, at: t + 100 });
    w.onStep({
      type: "start",
      vertex: u,
      name: "[stage 1/1] STEP 2/2: RUN x\t\b\f\x1b",
      inputs: [v],
      at: t + 120,
    });
    w.onStep({ type: "log", vertex: u, stream: "stdout", data: Buffer.from("out\n"), at: t + 121 });
    w.onStep({ type: "log", vertex: u, stream: "stderr", data: Buffer.from([0xff, 0x0a]), at: t + 122 });
    w.onStep({ type: "error", vertex: u, error: 'Dockerfile:2: "x" <failed> & stopped', at: t + 123 });
    w.onStep({
      type: "start",
      vertex: v.replace("a", "c"),
      name: "exporting to app:1",
      inputs: [],
      at: t + 200,
    });
    const blob = { vertex: v.replace("a", "c"), id: `writing ${u}`, total: 10, started: t + 201 };
    w.onStep({ type: "status", ...blob, current: 4, completed: undefined, at: t + 202 });
    w.onStep({ type: "status", ...blob, current: 10, completed: t + 203, at: t + 203 });
    w.onStep({ type: "error", vertex: v.replace("a", "c"), error: undefined, at: t + 204 });
    expect(out.every((l) => l.endsWith("}\n") && !l.slice(0, -1).includes("\n"))).toBe(true);
    const r = await replayProgress(out.join(""));
    expect(r.error).toBe("");
    expect(r.code).toBe(0);
    expect(r.plain).toContain(
      "#1 [stage 1/1] STEP 1/2: FROM a <b> & c\u2028\uFFFD\n#1 WARN: Rule: a <b> (line 1)\n#1 CACHED\n",
    );
    expect(r.plain).toContain("#2 0.001 out\n");
    expect(r.plain).toContain('#2 ERROR: Dockerfile:2: "x" <failed> & stopped\n');
    expect(r.plain).toContain(`#3 writing ${u} 10B / 10B done\n#3 CANCELED\n`);
  });

  it("is refused by the oracle when a field is not client.SolveStatus's", async () => {
    const r = await replayProgress(
      '{"vertexes":[{"digest":"sha256:x","started":"2026-12-04T03:00:00Z","step":1}]}\n',
    );
    expect(r.code).toBe(1);
    expect(r.error).toContain('unknown field "step"');
    const order = await replayProgress('{"vertexes":[{"name":"a","digest":"sha256:x"}]}\n');
    expect(order.error).toContain("is not Go's encoding");
  });
});

describe("berth build --progress rawjson (real runc)", () => {
  let tmp: string;
  let base: string;
  beforeAll(async () => {
    tmp = await tempDir("berth-rawjson-");
    base = await localBase(join(tmp, "base"));
  });
  const env = { SOURCE_DATE_EPOCH: "0" };
  const build = (home: string, ctx: string, ...more: string[]) =>
    berth(
      ["build", ctx, "--dockerfile", "-t", "app:1", "--progress", "rawjson", "--network", "none", ...more],
      {
        home,
        env,
      },
    );

  it("every step a vertex BuildKit's plain display prints: RUN output, CACHED on a rebuild, the image's write", async () => {
    const home = join(tmp, "ok");
    const ctx = await writeContext(join(tmp, "ok-ctx"), {
      "a.txt": "from-a\n",
      Dockerfile: `FROM ${base} AS build\nCOPY a.txt /a.txt\nRUN echo out-line; echo err-line >&2\nFROM build\nRUN cat /a.txt\n`,
    });
    const first = await build(home, ctx);
    expect(first.code).toBe(0);
    const one = split(first.stderr);
    // nothing but the stream on stderr
    expect(one.rest).toBe("");
    const r = await replayProgress(one.json);
    expect([r.code, r.error]).toEqual([0, ""]);
    for (const name of [
      "[internal] load build definition from Dockerfile",
      `[stage 1/2] STEP 1/3: FROM ${base} AS build`,
      "[stage 1/2] STEP 2/3: COPY a.txt /a.txt",
      "[stage 1/2] STEP 3/3: RUN echo out-line; echo err-line >&2",
      "[stage 2/2] STEP 1/2: FROM build",
      "[stage 2/2] STEP 2/2: RUN cat /a.txt",
      "exporting to app:1",
    ])
      expect(r.plain).toMatch(new RegExp(`^#\\d+ ${name.replace(/[[\]/.*+?()|^$\\]/g, "\\$&")}$`, "m"));
    expect(r.plain).toMatch(/^#4 \d+\.\d+ out-line$/m);
    expect(r.plain).toMatch(/^#4 \d+\.\d+ err-line$/m);
    expect(r.plain).toMatch(/^#6 \d+\.\d+ from-a$/m);
    expect(r.plain).toMatch(/^#4 DONE \d+\.\ds$/m);
    expect(r.plain).toMatch(/^#7 writing sha256:[0-9a-f]{64} .* done$/m);
    // stdout and stderr of RUN as streams 1 and 2
    const logs = one.lines.flatMap((l) => l.logs ?? []);
    expect(logs.map((l) => [l.stream, Buffer.from(l.data, "base64").toString()])).toEqual(
      expect.arrayContaining([
        [1, "out-line\n"],
        [2, "err-line\n"],
      ]),
    );

    const second = await build(home, ctx);
    expect(second.code).toBe(0);
    const two = split(second.stderr);
    const again = await replayProgress(two.json);
    expect([again.code, again.error]).toEqual([0, ""]);
    expect(again.plain).toMatch(/^#4 \[stage 1\/2\] STEP 3\/3: RUN echo out-line.*\n#4 CACHED$/m);
    expect(again.plain).toMatch(/^#6 \[stage 2\/2\] STEP 2\/2: RUN cat \/a.txt\n#6 CACHED$/m);
    expect(again.plain).not.toContain("out-line\n#4 ");
    // the steps' digests are stable: the same vertexes in both builds
    const digests = (ls: Line[]) => [...new Set(ls.flatMap((l) => (l.vertexes ?? []).map((v) => v.digest)))];
    expect(digests(two.lines)).toEqual(digests(one.lines));
    expect(digests(one.lines)).toHaveLength(7);
  });

  it("a failing build ends its stream with the failed step's error, a stage it stopped CANCELED, then berth's sentence", async () => {
    const home = join(tmp, "fail");
    const ctx = await writeContext(join(tmp, "fail-ctx"), {
      Dockerfile: `FROM ${base}\nRUN echo before-failing && exit 3\n`,
    });
    const r = await build(home, ctx);
    expect(r.code).not.toBe(0);
    const { json, lines, rest } = split(r.stderr);
    const last = lines.at(-1)!.vertexes![0]!;
    expect(last.name).toBe("[stage 1/1] STEP 2/2: RUN echo before-failing && exit 3");
    expect(last.error).toMatch(/^Dockerfile:2: RUN .* exited with code 3/);
    expect(rest).toContain("exited with code 3");
    const replay = await replayProgress(json);
    expect([replay.code, replay.error]).toEqual([0, ""]);
    expect(replay.plain).toMatch(/^#3 ERROR: Dockerfile:2: RUN .* exited with code 3/m);
    expect(replay.plain).toMatch(
      /^------\n > \[stage 1\/1\] STEP 2\/2: RUN echo before-failing && exit 3:\n\d+\.\d+ before-failing\n/m,
    );

    const both = await writeContext(join(tmp, "fail2-ctx"), {
      Dockerfile: `FROM ${base} AS slow\nRUN sleep 20\nFROM ${base} AS bad\nRUN exit 4\nFROM ${base}\nCOPY --from=slow /bin/sh /a\nCOPY --from=bad /bin/sh /b\n`,
    });
    const r2 = await build(join(tmp, "fail2"), both);
    expect(r2.code).not.toBe(0);
    const two = await replayProgress(split(r2.stderr).json);
    expect([two.code, two.error]).toEqual([0, ""]);
    // the slow stage's open step (its RUN, or its FROM on a busy machine) is stopped
    expect(two.plain).toMatch(
      /^#(\d+) \[stage \d\/3\] STEP (1\/2: FROM .* AS slow|2\/2: RUN sleep 20)\n(?:.*\n)*?#\1 CANCELED$/m,
    );
    expect(two.plain).toMatch(/^#\d+ ERROR: Dockerfile:4: RUN .* exited with code 4/m);
  });

  it("the build definition a vertex: its lint warnings, or the Dockerfile's error", async () => {
    const warned = await writeContext(join(tmp, "warn-ctx"), {
      Dockerfile: "FROM scratch AS a\nLABEL x=1\nFROM scratch AS a\nLABEL y=2\n",
    });
    const r = await build(join(tmp, "warn"), warned);
    expect(r.code).toBe(0);
    const replay = await replayProgress(split(r.stderr).json);
    expect([replay.code, replay.error]).toEqual([0, ""]);
    expect(replay.plain).toContain(
      '#1 [internal] load build definition from Dockerfile\n#1 WARN: DuplicateStageName: Duplicate stage name "a", stage names should be unique (line 3)\n#1 DONE',
    );
    // BuildKit's VertexWarning: the rule's description as its detail, its URL, the instruction's lines
    const warning = split(r.stderr).lines.flatMap((l) => (l as { warnings?: unknown[] }).warnings ?? [])[0];
    expect(warning).toMatchObject({
      level: 1,
      detail: [Buffer.from("Stage names should be unique").toString("base64")],
      url: "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
      range: [{ start: { line: 3 }, end: { line: 3 } }],
    });
    const bad = await writeContext(join(tmp, "bad-ctx"), { Dockerfile: "FROMM scratch\n" });
    const b = await build(join(tmp, "bad"), bad);
    expect(b.code).not.toBe(0);
    const { json, rest } = split(b.stderr);
    expect(rest).toContain("unknown instruction: FROMM");
    const failed = await replayProgress(json);
    expect(failed.plain).toMatch(
      /^#1 \[internal\] load build definition from Dockerfile\n#1 ERROR: Dockerfile:1: unknown instruction: FROMM$/m,
    );
  });

  it("a push is a vertex whose blobs are pushing statuses with their sizes", async () => {
    const ctx = await writeContext(join(tmp, "push-ctx"), {
      x: "x\n",
      Dockerfile: "FROM scratch\nCOPY x /x\n",
    });
    const reg = await startRegistry();
    try {
      const ref = `${reg.host}/rawjson/app:1`;
      const r = await berth(["build", ctx, "--dockerfile", "-t", ref, "--push", "--progress", "rawjson"], {
        home: join(tmp, "push"),
        env: { ...env, BERTH_INSECURE_REGISTRIES: "127.0.0.1" },
      });
      expect(r.code).toBe(0);
      const { json, lines, rest } = split(r.stderr);
      expect(rest).toBe("");
      const replay = await replayProgress(json);
      expect([replay.code, replay.error]).toEqual([0, ""]);
      const block = replay.plain.slice(replay.plain.indexOf(`exporting to docker://${ref}`));
      // the layer and the config (blobs; the manifest is put by reference)
      expect(block.match(/^#\d+ pushing sha256:[0-9a-f]{64} \d+B \/ \d+B( \d+\.\ds)? done$/gm)).toHaveLength(
        2,
      );
      expect(block).toMatch(/^#\d+ DONE \d+\.\ds$/m);
      expect(lines.some((l) => l.statuses?.some((st) => st.id.startsWith("pushing sha256:")))).toBe(true);
    } finally {
      await reg.stop();
    }
  });

  it("a cache export and import are vertexes; a cache that cannot be read is a warning on its import", async () => {
    const ctx = await writeContext(join(tmp, "cache-ctx"), {
      x: "x\n",
      Dockerfile: "FROM scratch\nCOPY x /x\n",
    });
    const dest = join(tmp, "cache-dir");
    const files = join(tmp, "cache-files");
    const out = await build(join(tmp, "cache-a"), ctx, "--cache-to", `type=local,dest=${dest}`, "-o", files);
    expect(out.code).toBe(0);
    const exported = await replayProgress(split(out.stderr).json);
    expect([exported.code, exported.error]).toEqual([0, ""]);
    expect(exported.plain).toMatch(new RegExp(`^#(\\d+) exporting cache to ${dest}\n#\\1 DONE`, "m"));
    expect(exported.plain).toMatch(
      new RegExp(`^#(\\d+) exporting the filesystem to -o ${files}\n#\\1 DONE`, "m"),
    );
    const missing = join(tmp, "no-cache");
    const imp = await build(
      join(tmp, "cache-b"),
      ctx,
      "--cache-from",
      `type=local,src=${dest}`,
      "--cache-from",
      `type=local,src=${missing}`,
    );
    expect(imp.code).toBe(0);
    const imported = await replayProgress(split(imp.stderr).json);
    expect([imported.code, imported.error]).toEqual([0, ""]);
    expect(imported.plain).toMatch(
      new RegExp(`^#(\\d+) importing cache manifest from type=local,src=${dest}\n#\\1 DONE`, "m"),
    );
    expect(imported.plain).toMatch(
      new RegExp(
        `^#(\\d+) importing cache manifest from type=local,src=${missing}\n#\\1 WARN: --cache-from type=local,src=${missing}: cannot import the cache .*\n#\\1 DONE`,
        "m",
      ),
    );
    // the step came from the imported cache
    expect(imported.plain).toMatch(/^#\d+ \[stage 1\/1\] STEP 2\/2: COPY x \/x\n#\d+ CACHED$/m);
  });

  it("several platforms: each one's steps prefixed with it, one vertex for the index's write", async () => {
    const ctx = await writeContext(join(tmp, "mp-ctx"), {
      x: "x\n",
      Dockerfile: "FROM scratch\nCOPY x /x\n",
    });
    const tar = join(tmp, "mp.tar");
    const r = await build(
      join(tmp, "mp"),
      ctx,
      "--platform",
      "linux/amd64,linux/arm64",
      "-o",
      `type=tar,dest=${tar}`,
    );
    expect(r.code).toBe(0);
    const replay = await replayProgress(split(r.stderr).json);
    expect([replay.code, replay.error]).toEqual([0, ""]);
    const names = replay.plain.match(/^#\d+ (\[|exporting).*$/gm)!.map((l) => l.replace(/^#\d+ /, ""));
    expect(names.sort()).toEqual(
      [
        "[linux/amd64] [stage 1/1] STEP 1/2: FROM scratch",
        "[linux/amd64] [stage 1/1] STEP 2/2: COPY x /x",
        "[linux/arm64] [stage 1/1] STEP 1/2: FROM scratch",
        "[linux/arm64] [stage 1/1] STEP 2/2: COPY x /x",
        "[linux/amd64] [internal] load build definition from Dockerfile",
        "[linux/arm64] [internal] load build definition from Dockerfile",
        "exporting to app:1",
        `exporting the filesystem to -o type=tar,dest=${tar}`,
      ].sort(),
    );
  });

  it("is written as the build goes: a RUN waits for the test to see its first output in the stream", async () => {
    const home = join(tmp, "live");
    const ctx = await writeContext(join(tmp, "live-ctx"), {
      Dockerfile: `FROM ${base}\nRUN --mount=type=bind,target=/ctx echo waiting; i=0; while [ ! -e /ctx/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; test -e /ctx/go && echo went\n`,
    });
    const { child, done } = spawnBerth(
      ["build", ctx, "--dockerfile", "-t", "app:1", "--progress", "rawjson", "--network", "none"],
      { home, env },
    );
    let seen = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const waiting = seen
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .flatMap((l) => (JSON.parse(l) as Line).logs ?? [])
        .some((l) => Buffer.from(l.data, "base64").toString().includes("waiting"));
      if (waiting) void writeFile(join(ctx, "go"), "");
    });
    const r = await done;
    expect(r.code).toBe(0);
    const replay = await replayProgress(split(r.stderr).json);
    expect(replay.plain).toMatch(/^#3 \d+\.\d+ went$/m);
  });
});
