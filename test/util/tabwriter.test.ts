import { describe, expect, it } from "vitest";
import { tabulate } from "../../src/util/tabwriter.ts";

describe("tabulate (Go's text/tabwriter, as BuildKit's printers use it)", () => {
  it("pads each column but the last to its widest cell plus the padding, counting characters", () => {
    expect(
      tabulate(
        [
          ["NAME", "VALUE", "X"],
          ["é-long", "", "d"],
        ],
        3,
      ),
    ).toBe("NAME     VALUE   X\né-long           d\n");
  });
  it("writes a one-cell row as it is", () => {
    expect(tabulate([["only"]], 1)).toBe("only\n");
  });
});
