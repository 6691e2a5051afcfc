/** Which stages build at once, the slots they share and their prefixed output (src/dockerfile/schedule.ts). */
import { describe, expect, it } from "vitest";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import {
  baseStages,
  defaultStageJobs,
  keptStages,
  LinePrefixer,
  ReadOrder,
  Slots,
  StageRuns,
  unexportedStages,
} from "../../src/dockerfile/schedule.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";

describe("baseStages", () => {
  it("maps each stage built FROM an earlier stage to it, after the global ARGs", () => {
    const { stages } = splitStages(
      parseDockerfile("ARG B=one\nFROM alpine AS one\nFROM one AS two\nFROM $B\nFROM scratch\nFROM TWO\n"),
    );
    expect([...baseStages(stages, stages, new Map([["B", "one"]]))]).toEqual([
      [1, 0],
      [2, 0],
      [4, 1],
    ]);
    expect([...baseStages(stages, stages.slice(2, 3), new Map([["B", "alpine"]]))]).toEqual([]);
  });
});

describe("unexportedStages", () => {
  it("is every stage but the target and the stages it is built FROM, however deep", () => {
    const { stages } = splitStages(
      parseDockerfile("FROM alpine AS a\nFROM a AS b\nFROM alpine AS c\nFROM b AS d\nFROM c AS e\n"),
    );
    const none = new Map<string, string>();
    expect([...unexportedStages(stages, stages, stages[3]!, none)].sort()).toEqual([2, 4]);
    expect([...unexportedStages(stages, stages, stages[4]!, none)].sort()).toEqual([0, 1, 3]);
    expect([...unexportedStages(stages, stages.slice(0, 1), stages[0]!, none)]).toEqual([]);
  });
});

describe("ReadOrder", () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it("makes a read that yields wait for the leading reads of that stage pending then, and for no others", async () => {
    const order = new ReadOrder();
    expect(order.yieldTo(1)).toBeUndefined();
    const first = order.lead(1);
    const second = order.lead(1);
    const other = order.lead(2);
    let through = false;
    void order.yieldTo(1)!.then(() => {
      through = true;
    });
    // a lead taken after the yielding read began is not waited for
    const late = order.lead(1);
    first();
    await tick();
    expect(through).toBe(false);
    second();
    second();
    await tick();
    expect(through).toBe(true);
    // released leads are gone; the late one and stage 2's are still held
    const pending = order.yieldTo(1);
    expect(pending).toBeDefined();
    late();
    other();
    await pending;
    await tick();
    expect(order.yieldTo(1)).toBeUndefined();
    expect(order.yieldTo(2)).toBeUndefined();
  });
});

describe("Slots", () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it("lets `size` holders in and the waiters in turn, first come first served", async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    await slots.acquire();
    await slots.acquire();
    const waiters = ["a", "b"].map((n) => slots.acquire().then(() => order.push(n)));
    await Promise.resolve();
    expect(order).toEqual([]);
    slots.release();
    await waiters[0];
    expect(order).toEqual(["a"]);
    slots.release();
    await waiters[1];
    expect(order).toEqual(["a", "b"]);
    // A slot handed to a waiter is not also free: a third comer still waits.
    const third = slots.acquire().then(() => order.push("c"));
    await tick();
    expect(order).toEqual(["a", "b"]);
    slots.release();
    await third;
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("has at least one slot", async () => {
    const slots = new Slots(0);
    await slots.acquire();
    let second = false;
    const p = slots.acquire().then(() => {
      second = true;
    });
    await tick();
    expect(second).toBe(false);
    slots.release();
    await p;
    expect(second).toBe(true);
  });

  it("defaults to at least two jobs", () => {
    expect(defaultStageJobs()).toBeGreaterThanOrEqual(2);
  });
});

describe("LinePrefixer", () => {
  const collect = () => {
    const out: [string, string][] = [];
    const p = new LinePrefixer("[stage 1/2] ", (chunk, stream) => out.push([stream, chunk.toString()]));
    return { out, p };
  };

  it("writes whole lines prefixed, holding a partial line per stream until its end or the flush", () => {
    const { out, p } = collect();
    p.push(Buffer.from("one\ntw"), "stdout");
    p.push(Buffer.from("err"), "stderr");
    p.push(Buffer.from("o\nthree\nfour"), "stdout");
    p.flush();
    p.flush();
    expect(out).toEqual([
      ["stdout", "[stage 1/2] one\n"],
      ["stdout", "[stage 1/2] two\n[stage 1/2] three\n"],
      ["stdout", "[stage 1/2] four\n"],
      ["stderr", "[stage 1/2] err\n"],
    ]);
  });

  it("decodes a character split across chunks whole", () => {
    const { out, p } = collect();
    const bytes = Buffer.from("é\n");
    p.push(bytes.subarray(0, 1), "stdout");
    p.push(bytes.subarray(1), "stdout");
    expect(out).toEqual([["stdout", "[stage 1/2] é\n"]]);
  });
});

describe("keptStages", () => {
  it("the target, the stages it is built FROM, and those a kept stage's missed steps read, in order", () => {
    const { stages } = splitStages(
      parseDockerfile(
        "FROM a AS one\nFROM b AS two\nFROM two AS three\nFROM c AS four\nFROM three AS five\n",
      ),
    );
    const needs = new Map([[2, [0]]]);
    const kept = keptStages(stages, stages, stages[4]!, new Map(), (i) => needs.get(i) ?? []);
    expect(kept.map((s) => s.name)).toEqual(["one", "two", "three", "five"]);
    expect(keptStages(stages, stages, stages[3]!, new Map(), () => []).map((s) => s.name)).toEqual(["four"]);
  });
});

describe("StageRuns", () => {
  it("at most `jobs` at once; a stage waiting without its slot lets another run; the first failure aborts and is thrown", async () => {
    const abort = new AbortController();
    const runs = new StageRuns<number>(1, abort);
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const one = runs.start(0, async () => {
      await runs.inSlot(async () => {
        order.push("one starts");
        await runs.withoutSlot(gate);
        order.push("one ends");
      });
      return 1;
    });
    const two = runs.start(1, async () => {
      await runs.inSlot(async () => {
        order.push("two runs");
        release();
      });
      return 2;
    });
    expect(await Promise.all([one, two])).toEqual([1, 2]);
    expect(order).toEqual(["one starts", "two runs", "one ends"]);
    expect([runs.size, runs.finished(0), runs.get(1)]).toEqual([2, true, two]);
    // each failure is told, the first as the first (progress.ts: its step's error; the others canceled)
    const told: [number, string, boolean][] = [];
    const tell = (index: number) => (err: unknown, first: boolean) =>
      told.push([index, (err as Error).message, first]);
    const failed = runs.start(
      2,
      async () => {
        throw new Error("stage 2 failed");
      },
      tell(2),
    );
    const later = runs.start(
      3,
      async () => {
        await failed.catch(() => undefined);
        await runs.inSlot(async () => {
          order.push("never");
        });
        return 3;
      },
      tell(3),
    );
    await expect(runs.settled()).rejects.toThrow("stage 2 failed");
    expect(abort.signal.aborted).toBe(true);
    await expect(later).rejects.toThrow("stage 2 failed");
    expect(order).not.toContain("never");
    expect(told).toEqual([
      [2, "stage 2 failed", true],
      [3, "stage 2 failed", false],
    ]);
  });
});
