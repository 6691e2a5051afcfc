/**
 * BuildKit's history wording is Go's fmt output: durations, quoted strings and runes as Go prints them; and its
 * exporter's entry for a layer that has none (src/dockerfile/history.ts).
 */
import { describe, expect, it } from "vitest";
import {
  EXPORTER_COMMENT,
  execDescription,
  exporterHistory,
  goDuration,
  goHealthcheck,
  goList,
  goQuote,
  goQuoteList,
  goQuoteRune,
  vertexName,
  vertexStart,
} from "../../src/dockerfile/history.ts";
import { parseDockerfile } from "../../src/dockerfile/parse.ts";
import { splitStages } from "../../src/dockerfile/stage.ts";

describe("Go formatting for history", () => {
  it("formats durations as time.Duration.String()", () => {
    expect([0, 1, 1500, 500e6, 1.5e9, 30e9, 90e9, 3600e9, 3725.25e9].map(goDuration)).toEqual([
      "0s",
      "1ns",
      "1.5µs",
      "500ms",
      "1.5s",
      "30s",
      "1m30s",
      "1h0m0s",
      "1h2m5.25s",
    ]);
  });
  it("quotes strings and runes as strconv does", () => {
    expect(goQuote('a "b" \\ c\n\t\x01é')).toBe('"a \\"b\\" \\\\ c\\n\\t\\x01é"');
    expect([0, 4, 10, 39, 65].map(goQuoteRune)).toEqual(["'\\x00'", "'\\x04'", "'\\n'", "'\\''", "'A'"]);
    expect(goQuoteList(["/bin/sh", "-c", "echo hi"])).toBe('["/bin/sh" "-c" "echo hi"]');
    expect(goList(["/bin/sh", "-ec"])).toBe("[/bin/sh -ec]");
  });
  it("prints a healthcheck as %q of BuildKit's HealthcheckConfig", () => {
    expect(
      goHealthcheck({ Test: ["CMD-SHELL", "true"], Interval: 30e9, StartPeriod: 90e9, Retries: 4 }),
    ).toBe(`&{["CMD-SHELL" "true"] "30s" "0s" "1m30s" "0s" '\\x04'}`);
  });
});

describe("BuildKit's exporter's entry for a layer without one", () => {
  it("names a vertex as dockerfile2llb's prefixCommand: stage, N right-aligned to M's width, ONBUILD, the first word upper-cased", () => {
    expect(vertexName("copy a /b", { stage: "", index: 1, total: 2 })).toBe("[1/2] COPY a /b");
    expect(vertexName("COPY a /", { stage: "build", index: 3, total: 12 })).toBe("[build  3/12] COPY a /");
    expect(vertexName("workdir /x", { stage: "stage-1", index: 2, total: 2, onbuild: true })).toBe(
      "[stage-1 2/2] ONBUILD WORKDIR /x",
    );
    expect(vertexName("add x /", { stage: "s", index: 0, total: 0 })).toBe("ADD x /");
    expect(execDescription(["/bin/sh", "-c", "echo hi"])).toBe("mount / from exec /bin/sh -c echo hi");
  });

  it("starts a stage's count as dockerfile2llb: FROM an image is step 1; a stage's FROM is not counted, a context's is", () => {
    const { stages } = splitStages(
      parseDockerfile("FROM a AS one\nRUN x\nENV A=1\nCOPY a /\nFROM one\nWORKDIR /w\nFROM ctx\nADD b /\n"),
    );
    const image = { stage: false, scratch: false, image: true };
    expect(vertexStart(stages[0]!, 3, 0, image)).toEqual({ stage: "one", index: 1, total: 3 });
    expect(vertexStart(stages[1]!, 3, 2, { ...image, stage: true, image: false })).toEqual({
      stage: "stage-1",
      index: 0,
      total: 3,
    });
    expect(vertexStart(stages[2]!, 1, 0, { ...image, image: false })).toEqual({
      stage: "",
      index: 0,
      total: 2,
    });
    expect(vertexStart(stages[2]!, 3, 0, { stage: false, scratch: true, image: false }).total).toBe(1);
  });

  it("drops the entry where the layer is and appends one for the top layer, created as its entry, after the config entries", () => {
    const history = [
      { created: "2001-01-01T00:00:00Z", created_by: "base", empty_layer: true },
      { created: "2002-01-01T00:00:00Z", created_by: "local source for d", comment: EXPORTER_COMMENT },
      { created: "2003-01-01T00:00:00Z", created_by: "RUN x" },
      { created: "2004-01-01T00:00:00Z", created_by: "ENV A=1", empty_layer: true },
    ];
    expect(exporterHistory(history, 1, "mount / from exec x")).toEqual([
      history[0],
      history[2],
      history[3],
      { created: "2003-01-01T00:00:00Z", created_by: "mount / from exec x", comment: EXPORTER_COMMENT },
    ]);
    expect(exporterHistory(history.slice(0, 2), 1, "local source for d")).toEqual(history.slice(0, 2));
  });
});
