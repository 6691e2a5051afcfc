/**
 * src/cli/commands/stack.ts, in process: what `berth stack create` refuses before debootstrap runs (a
 * missing image flag, an unknown distribution, an unreadable extra CA, a bad image name). Making stacks:
 * test/cnb/ (debootstrap, cached).
 */
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

const createWith = async (env: Record<string, string>, ...flags: string[]) =>
  runCommand(["stack", "create", ...flags], { home: await tempDir(), env: { PATH: "/nonexistent", ...env } });
const create = (...flags: string[]) => createWith({}, ...flags);

describe("berth stack create's refusals", () => {
  it("needs both images", async () => {
    const r = await create("--build-image", "b:1");
    expect(r.error).toMatchObject({ code: "commander.missingMandatoryOptionValue" });
    expect(r.stderr.split("\n")[0]).toBe("error: required option '--run-image <name>' not specified");
  });

  it("names an unknown distribution and lists the known ones", async () => {
    const r = await create("--build-image", "b:1", "--run-image", "r:1", "--distro", "plan9:4");
    expect(r.error).toBeInstanceOf(BerthError);
    expect((r.error as BerthError).message).toMatch(
      /^unknown distribution "plan9:4": berth knows .*debian:bookworm/,
    );
  });

  it("names a --trust-ca file it cannot read", async () => {
    const r = await create("--build-image", "b:1", "--run-image", "r:1", "--trust-ca", "/nonexistent.crt");
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: "cannot read the CA certificate /nonexistent.crt",
    });
  });

  it("names a bad image reference", async () => {
    const r = await create("--build-image", "b:1", "--run-image", "Bad Name");
    expect(r.error).toMatchObject({ code: "REFERENCE_INVALID" });
    expect((r.error as BerthError).message).toContain('"Bad Name"');
  });

  it("refuses a SOURCE_DATE_EPOCH that is not a number of seconds, naming it", async () => {
    const r = await createWith(
      { SOURCE_DATE_EPOCH: "yesterday" },
      "--build-image",
      "b:1",
      "--run-image",
      "r:1",
    );
    expect(r.error).toBeInstanceOf(BerthError);
    expect((r.error as BerthError).message).toContain("SOURCE_DATE_EPOCH");
    expect((r.error as BerthError).message).toContain("yesterday");
  });
});
