/** scripts/lib/builtins.ts: berth's imports of Node's modules as reads of the modules, as the bundle has them. */
import { execFileSync } from "node:child_process";
import { transform } from "esbuild";
import { describe, expect, it } from "vitest";
import { rewriteBuiltinImports } from "../../../scripts/lib/builtins.ts";

/** A module as the plugin sees it: TypeScript compiled by esbuild, then rewritten. */
async function rewritten(ts: string): Promise<string> {
  const { code } = await transform(ts, {
    loader: "ts",
    format: "esm",
    tsconfigRaw: { compilerOptions: { target: "es2023", verbatimModuleSyntax: true } },
  });
  return rewriteBuiltinImports(code, "m.ts");
}

/** The module evaluated (a data: URL), its exports. */
async function evaluate(js: string): Promise<Record<string, unknown>> {
  return (await import(`data:text/javascript,${encodeURIComponent(js)}`)) as Record<string, unknown>;
}

describe("rewriteBuiltinImports", () => {
  it("binds named, renamed, default and namespace imports to the modules themselves", async () => {
    const js = await rewritten(`
      import { join, basename as base } from "node:path";
      import {
        readFileSync,
        type Stats,
        constants,
      } from "node:fs";
      import os, { EOL } from "node:os";
      import * as util from "node:util";
      import "node:zlib";
      import type { Readable } from "node:stream";
      export const r: [string, string, boolean, boolean, string, boolean] = [
        join("a", "b"), base("/x/y"), typeof readFileSync === "function", constants.O_RDONLY === 0,
        EOL, os.EOL === EOL && typeof util.format === "function",
      ];
      export type T = Stats | Readable;
    `);
    expect(js).not.toMatch(/\bfrom\s*"node:|^import\s*"node:/m);
    expect(js).toContain('const { join, basename: base } = process.getBuiltinModule("node:path");');
    expect(js).toContain('const os = process.getBuiltinModule("node:os");');
    expect(js).toContain('process.getBuiltinModule("node:zlib");');
    expect((await evaluate(js)).r).toEqual(["a/b", "y", true, true, "\n", true]);
  });

  it("reads no getter it was not asked for (node:fs's promises stay unloaded, as its facade loads them)", async () => {
    const ts = `import { statSync } from "node:fs";\nconsole.log(typeof statSync, loaded("internal/fs/promises"));`;
    const loaded = 'const loaded = (m) => process.moduleLoadList.includes("NativeModule " + m);\n';
    const out = (js: string) =>
      execFileSync(process.execPath, ["--input-type=module", "-e", loaded + js], { encoding: "utf8" });
    expect(out(await rewritten(ts))).toBe("function false\n");
    expect(out(ts)).toBe("function true\n");
  });

  it("fails on a name the module lacks, as the ES import would", async () => {
    await expect(rewritten(`import { readFileSynk } from "node:fs";\nreadFileSynk("x");`)).rejects.toThrow(
      'm.ts: node:fs has no export "readFileSynk"',
    );
  });

  it("fails on an import of Node's modules it does not rewrite, instead of leaving a facade", () => {
    expect(() => rewriteBuiltinImports('export { join } from "node:path";\n', "m.ts")).toThrow(
      /m\.ts: an import of Node's modules left as it was: .*from "node:/,
    );
  });

  it("leaves other imports and dynamic imports of Node's modules as they are", () => {
    const js = 'import { a } from "./a.ts";\nconst cp = () => import("node:child_process");\n';
    expect(rewriteBuiltinImports(js, "m.ts")).toBe(js);
  });
});
