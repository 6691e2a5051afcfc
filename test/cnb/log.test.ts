/** log.ts: a phase's `… done in` line and the lifecycle's --verbose timer lines. */
import { describe, expect, it } from "vitest";
import { type PhaseLogger, timedPhase, timer } from "../../src/cnb/log.ts";

function recorder(): PhaseLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (l) => lines.push(`info ${l}`),
    warn: (l) => lines.push(`warn ${l}`),
    debug: (l) => lines.push(`debug ${l}`),
  };
}

describe("timedPhase", () => {
  it("returns the phase's value and says when it is done", async () => {
    const log = recorder();
    expect(await timedPhase(log, "Analyze", async () => 42)).toBe(42);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^info Analyze done in \d+\.\d s$/);
  });

  it("says nothing when the phase fails", async () => {
    const log = recorder();
    await expect(
      timedPhase(log, "Build", async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(log.lines).toEqual([]);
  });
});

describe("timer", () => {
  it("logs start and end at debug level, as the lifecycle's Timer lines", () => {
    const log = recorder();
    const end = timer(log, "Detector");
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^debug Timer: Detector started at \d{4}-\d\d-\d\dT[\d:.]+Z$/);
    end();
    expect(log.lines[1]).toMatch(
      /^debug Timer: Detector ran for \d+\.\d{3}s and ended at \d{4}-\d\d-\d\dT[\d:.]+Z$/,
    );
  });
});
