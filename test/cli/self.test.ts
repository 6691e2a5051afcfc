/**
 * src/cli/self.ts: the command line that runs this berth again, from sources on Node (as here; the single
 * executable's case is test/executable/).
 */
import { describe, expect, it } from "vitest";
import { runningExecutable, selfCommand } from "../../src/cli/self.ts";

describe("selfCommand", () => {
  it("is Node with its flags and the script it runs, when berth is not its own executable", () => {
    expect(selfCommand()).toEqual([process.execPath, ...process.execArgv, process.argv[1]]);
    expect(runningExecutable()).toBeUndefined();
  });
});
