/** scripts/check-deps.ts on scratch trees: each rule broken once, and a tree that keeps them passes. */
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { beforeEach, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.ts";

const pexec = promisify(execFile);
const SCRIPT = resolve(import.meta.dirname, "../../scripts/check-deps.ts");

let dir: string;
beforeEach(async () => {
  dir = await tempDir("berth-check-deps-");
});

async function check(files: Record<string, string>): Promise<{ code: number; output: string }> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  try {
    const r = await pexec(process.execPath, [SCRIPT, "--src", dir]);
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const ordered = {
  "cnb/phase/detect.ts": 'import { x } from "../platform/builder.ts";\n',
  "cnb/platform/builder.ts": 'import { y } from "../files/group.ts";\nexport const x = 1;\n',
  "cnb/files/group.ts": "export const y = 1;\n",
  "oci/store.ts": 'import { z } from "./layout/layout.ts";\n',
  "oci/layout/layout.ts": 'import { d } from "../digest.ts";\nexport const z = 1;\n',
  "oci/digest.ts": "export const d = 1;\n",
  "cli/main.ts": 'import process from "node:process";\nprocess.exit(0);\n',
};

it("passes a tree whose layers import downwards only", async () => {
  expect(await check(ordered)).toEqual({ code: 0, output: "dependency rules: ok\n" });
});

it("refuses a cnb layer importing a higher one (platform → phase)", async () => {
  const r = await check({
    ...ordered,
    "cnb/platform/locator.ts": 'import { a } from "../phase/detect.ts";\n',
  });
  expect(r.code).toBe(1);
  expect(r.output).toContain(
    "cnb/platform/locator.ts: src/cnb/platform must not import src/cnb/phase, a layer above its own (../phase/detect.ts)",
  );
});

it("refuses the oci image model importing the layout", async () => {
  const r = await check({ ...ordered, "oci/image.ts": 'import { z } from "./layout/layout.ts";\n' });
  expect(r.code).toBe(1);
  expect(r.output).toContain("oci/image.ts: src/oci/image.ts must not import src/oci/layout");
});

it("refuses a unit of a layered folder that has no layer", async () => {
  const r = await check({ ...ordered, "cnb/newthing/a.ts": 'import { y } from "../files/group.ts";\n' });
  expect(r.code).toBe(1);
  expect(r.output).toContain("src/cnb/newthing has no layer in scripts/check-deps.ts");
});

it.each([
  ['import { kill } from "node:process";\nkill(1, "SIGTERM");\n'],
  ['import process from "node:process";\n'],
  ['import * as p from "process";\n'],
])("refuses process imported by name outside src/cli: %s", async (text) => {
  const r = await check({ ...ordered, "runtime/network.ts": text });
  expect(r.code).toBe(1);
  expect(r.output).toContain("runtime/network.ts: only src/cli may import process");
});

it("refuses an import cycle in an acyclic folder, type imports included (registry: client → repository → client)", async () => {
  const r = await check({
    ...ordered,
    "registry/client.ts": 'import { Repository } from "./repository.ts";\nexport class RegistryClient {}\n',
    "registry/repository.ts": 'import { u } from "./upload.ts";\nexport class Repository {}\n',
    "registry/upload.ts": 'import type { RegistryClient } from "./client.ts";\nexport const u = 1;\n',
  });
  expect(r.code).toBe(1);
  expect(r.output).toContain(
    "import cycle among registry/client.ts, registry/repository.ts, registry/upload.ts",
  );
  const fixed = await check({ ...ordered, "registry/upload.ts": "export const u = 1;\n" });
  expect(fixed.code).toBe(0);
});

it("refuses process.* outside src/cli", async () => {
  const r = await check({ ...ordered, "util/env.ts": "export const home = process.env.HOME;\n" });
  expect(r.code).toBe(1);
  expect(r.output).toContain("util/env.ts: only src/cli may use process.*");
});

it("refuses process.* in a command (its Cli has what it needs from the host), but for run.ts and containers.ts", async () => {
  const r = await check({
    ...ordered,
    "cli/commands/build.ts": "export const root = process.geteuid?.() === 0;\n",
    "cli/commands/run.ts": 'process.on("SIGINT", () => undefined);\n',
  });
  expect(r.code).toBe(1);
  expect(r.output).toContain(
    "cli/commands/build.ts: a command takes what it needs from the host from its Cli",
  );
  expect(r.output).not.toContain("cli/commands/run.ts");
});
