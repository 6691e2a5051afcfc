/**
 * src/dockerfile/progress.ts: the steps' vertexes (their digests, inputs, ends and logs) and an image write's
 * statuses, and the vertexes of the build's own work (caches). A whole build's stream is checked by BuildKit's display in test/cli/rawjson.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  asWork,
  destinationProgress,
  filesystemExportName,
  type StepEvent,
  StepProgress,
  vertexDigest,
  workProgress,
} from "../../src/dockerfile/progress.ts";
import type { Descriptor } from "../../src/oci/descriptor.ts";

describe("vertexDigest", () => {
  it("is a digest of the platform, stage, position, text and definition key before the step", () => {
    const d = vertexDigest("linux/amd64", 0, 2, "RUN make", "sha256:k");
    expect(d).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(vertexDigest("linux/amd64", 0, 2, "RUN make", "sha256:k")).toBe(d);
    for (const other of [
      vertexDigest("linux/arm64", 0, 2, "RUN make", "sha256:k"),
      vertexDigest("linux/amd64", 1, 2, "RUN make", "sha256:k"),
      vertexDigest("linux/amd64", 0, 3, "RUN make", "sha256:k"),
      vertexDigest("linux/amd64", 0, 2, "RUN make all", "sha256:k"),
      vertexDigest("linux/amd64", 0, 2, "RUN make", "sha256:j"),
    ])
      expect(other).not.toBe(d);
  });
});

describe("StepProgress", () => {
  it("starts each step with the stage's last as its input, and ends, logs and fails the open one", () => {
    const events: StepEvent[] = [];
    const p = new StepProgress((e) => events.push(e), "linux/amd64");
    p.start(0, "FROM a", "[stage 1/2] STEP 1/2: FROM a", "");
    p.done(0, true);
    p.start(0, "RUN x", "[stage 1/2] STEP 2/2: RUN x", "sha256:k");
    p.start(1, "FROM b", "[stage 2/2] STEP 1/1: FROM b", "");
    p.log(0, Buffer.from("out\n"), "stdout");
    p.warn(0, "Rule: message (line 2)");
    p.fail(0, "Dockerfile:2: RUN x failed");
    p.fail(1, undefined);
    // nothing is open any more: these say nothing
    p.done(0, false);
    p.log(1, Buffer.from("late"), "stderr");
    const [from, run, other] = [0, 2, 3].map((i) => (events[i] as { vertex: string }).vertex);
    expect(from).toBe(vertexDigest("linux/amd64", 0, 1, "FROM a", ""));
    expect(run).toBe(vertexDigest("linux/amd64", 0, 2, "RUN x", "sha256:k"));
    expect(events.map(({ at: _, ...e }) => e)).toEqual([
      { type: "start", vertex: from, name: "[stage 1/2] STEP 1/2: FROM a", inputs: [] },
      { type: "done", vertex: from, cached: true },
      { type: "start", vertex: run, name: "[stage 1/2] STEP 2/2: RUN x", inputs: [from] },
      { type: "start", vertex: other, name: "[stage 2/2] STEP 1/1: FROM b", inputs: [] },
      { type: "log", vertex: run, stream: "stdout", data: Buffer.from("out\n") },
      { type: "warning", vertex: run, short: "Rule: message (line 2)" },
      { type: "error", vertex: run, error: "Dockerfile:2: RUN x failed" },
      { type: "error", vertex: other, error: undefined },
    ]);
  });

  it("says nothing without an emit", () => {
    const p = new StepProgress(undefined, "linux/amd64");
    p.start(0, "FROM a", "x", "");
    expect(() => p.done(0, true)).not.toThrow();
  });
});

describe("workProgress", () => {
  it("a vertex of the build's own work: warnings on it, ended done or with an error; silent without an emit", () => {
    const events: StepEvent[] = [];
    const w = workProgress((e) => events.push(e), "exporting cache to /c", "type=local,dest=/c");
    w.warn("cannot");
    w.end(new Error("full"));
    const { vertex } = w;
    expect(vertex).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(events.map(({ at: _, ...e }) => e)).toEqual([
      { type: "start", vertex, name: "exporting cache to /c", inputs: [] },
      { type: "warning", vertex, short: "cannot" },
      { type: "error", vertex, error: "full" },
    ]);
    const silent = workProgress(undefined, "x", "");
    expect(() => {
      silent.warn("w");
      silent.end();
    }).not.toThrow();
  });
});

describe("asWork", () => {
  it("runs its work as a vertex, ended with the work's error", async () => {
    const events: StepEvent[] = [];
    const emit = (e: StepEvent) => events.push(e);
    const name = filesystemExportName([{ text: "out" }, { text: "-" }]);
    expect(await asWork(emit, name, async () => 7)).toBe(7);
    const failing = async () => {
      throw new Error("disk full");
    };
    await expect(asWork(emit, "x", failing)).rejects.toThrow("disk full");
    expect(events.map((e) => (e.type === "start" ? e.name : e.type === "error" ? e.error : e.type))).toEqual([
      "exporting the filesystem to -o out, -o -",
      "done",
      "x",
      "disk full",
    ]);
  });
});

describe("destinationProgress", () => {
  it("is a vertex whose blobs are statuses, ended done or with the write's error", () => {
    const events: StepEvent[] = [];
    const descriptor: Descriptor = {
      mediaType: "application/octet-stream",
      digest: `sha256:${"a".repeat(64)}`,
      size: 10,
    };
    const p = destinationProgress((e) => events.push(e), "docker://127.0.0.1:5000/app:1", "sha256:m", true);
    p.onBlob({ type: "start", descriptor });
    p.onBlob({ type: "progress", descriptor, bytes: 4 });
    p.onBlob({ type: "done", descriptor, how: "written" });
    p.end(new Error("the registry said no"));
    const vertex = (events[0] as { vertex: string }).vertex;
    const id = `pushing ${descriptor.digest}`;
    const start = events[1]!.at;
    expect(events.map(({ at: _, ...e }) => e)).toEqual([
      { type: "start", vertex, name: "exporting to docker://127.0.0.1:5000/app:1", inputs: [] },
      { type: "status", vertex, id, total: 10, current: 0, started: start, completed: undefined },
      { type: "status", vertex, id, total: 10, current: 4, started: start, completed: undefined },
      { type: "status", vertex, id, total: 10, current: 10, started: start, completed: events[3]!.at },
      { type: "error", vertex, error: "the registry said no" },
    ]);
    const local: StepEvent[] = [];
    destinationProgress((e) => local.push(e), "app:1", "sha256:m", false).end();
    expect(local.map((e) => e.type)).toEqual(["start", "done"]);
  });
});
