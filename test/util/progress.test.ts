import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { formatDuration, progressCounter } from "../../src/util/progress.ts";

describe("progressCounter", () => {
  it("passes bytes through unchanged and reports the running count per chunk", async () => {
    const seen: number[] = [];
    const out = Readable.from([Buffer.from("abc"), Buffer.from("de"), Buffer.from("f")]).pipe(
      progressCounter((n) => seen.push(n)),
    );
    expect((await buffer(out)).toString()).toBe("abcdef");
    expect(seen).toEqual([3, 5, 6]);
  });
});

describe("formatDuration", () => {
  it("uses tenths below 10 s, whole seconds below a minute, minutes with two-digit seconds after", () => {
    expect(formatDuration(0)).toBe("0.0 s");
    expect(formatDuration(420)).toBe("0.4 s");
    expect(formatDuration(9940)).toBe("9.9 s");
    expect(formatDuration(10_000)).toBe("10 s");
    expect(formatDuration(59_400)).toBe("59 s");
    expect(formatDuration(60_000)).toBe("1 min 00 s");
    expect(formatDuration(185_000)).toBe("3 min 05 s");
    expect(formatDuration(3_600_000)).toBe("60 min 00 s");
  });
});
