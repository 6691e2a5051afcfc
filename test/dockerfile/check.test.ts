/**
 * `--check` (src/dockerfile/check.ts): the checks on a Dockerfile read from its context, every stage walked and
 * each base image opened for its environment, nothing built; buildx's report around the lines it points at.
 * (The report and JSON are held to BuildKit's and buildx's own in test/dockerfile/lint.test.ts.)
 */
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkDockerfile, checkJson, checkReport } from "../../src/dockerfile/check.ts";
import { tempDir } from "../helpers/temp.ts";
import { envImage } from "./helpers/image.ts";

describe("checkDockerfile", () => {
  it("walks every stage, the base image's env known, and builds nothing", async () => {
    const dir = await tempDir();
    const home = join(dir, "home");
    await mkdir(home);
    await envImage(join(dir, "base"), ["GOPATH=/go", "PATH=/bin"]);
    const ctx = join(dir, "ctx");
    await mkdir(ctx);
    await writeFile(
      join(ctx, "Dockerfile"),
      `FROM oci:${join(dir, "base")}:1 AS unused\nWORKDIR $GOPATH/src\nENV X=$GOPAT\nFROM scratch\nCMD echo\n`,
    );
    const r = await checkDockerfile(
      { contextDir: ctx, dockerfile: { path: join(ctx, "Dockerfile") } },
      { home, env: {} },
    );
    expect(r.warnings.map((w) => `${w.rule}: ${w.detail} (line ${w.line})`)).toEqual([
      "UndefinedVar: Usage of undefined variable '$GOPAT' (did you mean $GOPATH?) (line 3)",
      "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 5)",
    ]);
    expect(await readdir(home)).toEqual([]);
  });

  it("gives error=true's error with the warnings; a missing target or image as the build would", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "Dockerfile"), "# check=error=true\nFROM scratch\nCMD echo\n");
    const home = join(dir, "home");
    const r = await checkDockerfile(
      { contextDir: dir, dockerfile: { path: join(dir, "Dockerfile") } },
      { home, env: {} },
    );
    expect(r.error).toBe("lint violation found for rules: JSONArgsRecommended");
    await expect(
      checkDockerfile(
        { contextDir: dir, dockerfile: { path: join(dir, "Dockerfile") }, target: "nope" },
        { home, env: {} },
      ),
    ).rejects.toThrow('Dockerfile: target stage "nope" not found');
    await writeFile(join(dir, "Dockerfile"), `FROM oci:${join(dir, "nothing")}:1\n`);
    await expect(
      checkDockerfile({ contextDir: dir, dockerfile: { path: join(dir, "Dockerfile") } }, { home, env: {} }),
    ).rejects.toThrow(/nothing/);
  });
});

describe("checkReport and checkJson", () => {
  const text = "FROM scratch\nCMD echo\n";
  const warning = {
    rule: "JSONArgsRecommended" as const,
    detail: "JSON arguments recommended for CMD",
    line: 2,
    endLine: 2,
  };

  it("ends an error's report with a blank line (buildx prints the error after it)", () => {
    const r = {
      name: "Dockerfile",
      text,
      warnings: [warning],
      error: "lint violation found for rules: JSONArgsRecommended",
    };
    expect(checkReport(r, "app/Dockerfile")).toBe(
      "Check complete, 1 warning has been found!\n\nWARNING: JSONArgsRecommended - https://docs.docker.com/go/dockerfile/rule/json-args-recommended/\nJSON arguments recommended for CMD\napp/Dockerfile:2\n--------------------\n   1 |     FROM scratch\n   2 | >>> CMD echo\n   3 |     \n--------------------\n\n",
    );
    expect(JSON.parse(checkJson(r)).buildError).toEqual({
      message: "lint violation found for rules: JSONArgsRecommended",
      location: {},
    });
  });

  it("says so when nothing was found; an error alone adds nothing", () => {
    expect(checkReport({ name: "Dockerfile", text, warnings: [] }, "Dockerfile")).toBe(
      "Check complete, no warnings found.\n",
    );
    expect(
      checkReport(
        { name: "Dockerfile", text, warnings: [], error: "base name ($X) should not be blank" },
        "Dockerfile",
      ),
    ).toBe("");
  });
});
