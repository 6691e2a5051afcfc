/**
 * src/cli/commands/containers.ts, in process with no container running: `ps` with none (table, -q, --json),
 * the containers named that do not exist (docker goes on with the others and fails at the end), and the
 * refusals made before anything is signalled. Real containers: test/runtime/containers.test.ts.
 */
import { describe, expect, it } from "vitest";
import { BerthError } from "../../../src/errors.ts";
import { runCommand } from "../../helpers/cli-commands.ts";
import { tempDir } from "../../helpers/temp.ts";

describe("berth ps", () => {
  it("shows only the header, nothing with -q, and an empty list with --json", async () => {
    const home = await tempDir();
    const table = await runCommand(["ps", "-a"], { home });
    expect(table.stdout).toBe("CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n");
    expect((await runCommand(["ps", "-q"], { home })).stdout).toBe("");
    expect(JSON.parse((await runCommand(["ps", "--json"], { home })).stdout)).toEqual({
      schemaVersion: 1,
      containers: [],
    });
  });
});

describe("containers that do not exist", () => {
  it.each([["stop"], ["kill"], ["rm"]])(
    "%s names the first, says the others on stderr, and fails",
    async (verb) => {
      const home = await tempDir();
      const r = await runCommand([verb, "one", "two", "three"], { home });
      expect(r.error).toBeInstanceOf(BerthError);
      expect(r.error).toMatchObject({
        code: "CONTAINER_NOT_FOUND",
        message: "no such container: one",
        hint: "berth ps -a lists the containers",
      });
      expect(r.stderr).toBe("berth: no such container: two\nberth: no such container: three\n");
      expect(r.stdout).toBe("");
    },
  );

  it("logs names it, and exec marks it as berth's own failure (125)", async () => {
    const home = await tempDir();
    expect((await runCommand(["logs", "web"], { home })).error).toMatchObject({
      code: "CONTAINER_NOT_FOUND",
    });
    const exec = await runCommand(["exec", "web", "ls", "-l"], { home });
    expect(exec.error).toMatchObject({ code: "CONTAINER_NOT_FOUND", details: { exitCode: 125 } });
  });
});

describe("refusals", () => {
  it.each([["-1"], ["1.5"], ["soon"]])("stop -t %s is not a whole number of seconds", async (t) => {
    const r = await runCommand(["stop", "-t", t, "web"], { home: await tempDir() });
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: `-t ${JSON.stringify(t)}: the time must be a whole number of seconds`,
    });
  });
});
