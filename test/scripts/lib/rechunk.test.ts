/**
 * scripts/lib/rechunk.ts: esbuild's split bundle re-chunked by rolldown, a command's static closure past the
 * entry's as one chunk, taken from esbuild's metafile.
 */
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closureGroups, rechunk } from "../../../scripts/lib/rechunk.ts";

let dir: string;
let split: string;
let meta: Metafile;

/**
 * A CLI as berth's: bin imports main lazily, main each command lazily; both commands share `shape` (a class
 * they check with instanceof) and `util`; `heavy` statically imports a lazily loaded `rare`.
 */
const SOURCES: Record<string, string> = {
  "bin.js":
    'import { home } from "./home.js";\nconst { run } = await import("./main.js");\nawait run(home);\n',
  "home.js": 'export const home = "h";\n',
  "main.js": `import { home } from "./home.js";
export async function run(h) {
  const cmd = process.argv[2];
  const m = cmd === "heavy" ? await import("./heavy.js") : await import("./light.js");
  console.log(JSON.stringify(await m.main(h === home)));
}
`,
  "shape.js": 'import { home } from "./home.js";\nexport class Shape { home = home; }\n',
  "util.js": "export const twice = (x) => x * 2;\nexport const made = (S) => new S();\n",
  "more.js": 'import { twice } from "./util.js";\nexport const four = twice(2);\n',
  "heavy.js": `import { Shape } from "./shape.js";
import { made } from "./util.js";
import { four } from "./more.js";
import { tag } from "./extra.js";
export async function main(ok) {
  const light = await import("./light.js");
  const rare = await import("./rare.js");
  return { ok, four, rare: rare.name, tag, same: light.shape() instanceof Shape && made(Shape) instanceof Shape };
}
`,
  "light.js": `import { Shape } from "./shape.js";
import { twice } from "./util.js";
export const shape = () => new Shape();
export async function main(ok) { return { ok, light: twice(1) }; }
`,
  "rare.js":
    'import { twice } from "./util.js";\nimport { tag } from "./extra.js";\nexport const name = "rare" + twice(1) + tag;\n',
  "extra.js": 'export const tag = "!";\n',
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-rechunk-"));
  await mkdir(join(dir, "src"));
  for (const [name, text] of Object.entries(SOURCES)) await writeFile(join(dir, "src", name), text);
  split = join(dir, "split");
  const r = await build({
    entryPoints: { bin: join(dir, "src", "bin.js") },
    absWorkingDir: dir,
    outdir: split,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    logLevel: "silent",
    metafile: true,
  });
  meta = r.metafile;
  await writeFile(join(split, "package.json"), '{ "type": "module" }\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The bundle run in a fresh Node: what it printed and the bundle's files it loaded (the ESM loader's loads). */
async function runBundle(folder: string, cmd: string): Promise<{ out: unknown; files: string[] }> {
  const hook = join(dir, "hook.mjs");
  await writeFile(
    hook,
    `import { registerHooks } from "node:module";
const seen = [];
registerHooks({ load: (u, c, next) => { if (u.startsWith("file:")) seen.push(u); return next(u, c); } });
process.on("exit", () => process.stderr.write(JSON.stringify(seen)));`,
  );
  const r = spawnSync(process.execPath, ["--import", hook, join(folder, "bin.js"), cmd], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  const files = (JSON.parse(r.stderr) as string[]).map((u) => fileURLToPath(u));
  return {
    out: JSON.parse(r.stdout),
    files: files.filter((f) => f.startsWith(folder)).map((f) => relative(folder, f)),
  };
}

describe("closureGroups", () => {
  const names = (chunks: ReadonlySet<string>) => [...chunks].map((c) => c.slice(split.length + 1)).sort();

  it("groups an entry's static closure past earlier groups, less the entries themselves", () => {
    const groups = closureGroups(meta, dir, ["src/bin.js", "src/main.js", "src/heavy.js"]);
    // bin's and main's closures are one chunk each (home's): nothing to merge; light's and rare's are in heavy's
    expect(groups.map((g) => g.name)).toEqual(["heavy"]);
    const chunks = names(groups[0]!.chunks);
    // the chunks heavy shares with light (shape, util) and rare (extra); not heavy's own, not home's (bin's)
    expect(chunks).toHaveLength(3);
    for (const c of chunks) expect(c).toMatch(/^chunks\/chunk-/);
  });

  it("takes the other entries from the fewest bytes up, so that a small one loads no large group", () => {
    // rare's closure (util, extra: the fewest bytes) is grouped first; light's is then one chunk (shape), and
    // heavy's nothing: its shared chunks are light's and rare's
    const groups = closureGroups(meta, dir, ["src/bin.js", "src/main.js"]);
    expect(groups.map((g) => g.name)).toEqual(["rare"]);
    expect(groups[0]!.chunks.size).toBe(2);
  });

  it("groups an entry that is also imported statically as any other chunk (no group imports a chunk importing it)", () => {
    const out = (entryPoint: string | undefined, statics: string[], dynamics: string[] = []) => ({
      bytes: 1,
      inputs: {},
      exports: [],
      imports: [
        ...statics.map((path) => ({ path, kind: "import-statement" as const })),
        ...dynamics.map((path) => ({ path, kind: "dynamic-import" as const })),
      ],
      ...(entryPoint === undefined ? {} : { entryPoint }),
    });
    const synthetic: Metafile = {
      inputs: {},
      outputs: {
        "o/bin.js": out("src/bin.ts", [], ["o/a.js", "o/e.js"]),
        "o/a.js": out("src/a.ts", ["o/x.js", "o/e.js"]),
        "o/e.js": out("src/e.ts", ["o/z.js"]),
        "o/x.js": out(undefined, []),
        "o/z.js": out(undefined, []),
      },
    };
    const groups = closureGroups(synthetic, "/r", ["src/bin.ts", "src/a.ts"]);
    expect(groups.map((g) => [g.name, [...g.chunks].sort()])).toEqual([
      ["a", ["/r/o/e.js", "/r/o/x.js", "/r/o/z.js"]],
    ]);
  });

  it("names a source that is not an entry of the bundle", () => {
    expect(() => closureGroups(meta, dir, ["src/bin.js", "src/nope.js"])).toThrow(
      "rechunk: src/nope.js is not an entry of the bundle",
    );
  });
});

describe("rechunk", () => {
  it("loads a command's static closure past main's as one chunk, with one instance of each module", async () => {
    const out = join(dir, "out");
    const groups = closureGroups(meta, dir, ["src/bin.js", "src/main.js", "src/heavy.js"]);
    await rechunk(split, out, "bin.js", groups);
    await writeFile(join(out, "package.json"), '{ "type": "module" }\n');
    const expected = { ok: true, four: 4, rare: "rare2!", tag: "!", same: true };
    const before = await runBundle(split, "heavy");
    const after = await runBundle(out, "heavy");
    expect(before.out).toEqual(expected);
    expect(after.out).toEqual(expected);
    // the chunks loaded past main's before the command runs (light's and rare's are loaded lazily, after)
    const past = (files: string[]) =>
      files
        .slice(files.findIndex((f) => f.startsWith("chunks/main-")) + 1)
        .filter((f) => !/^chunks\/(light|rare)-/.test(f));
    expect(past(before.files)).toHaveLength(1 + groups[0]!.chunks.size);
    // after: the command's entry, and its static closure as one chunk
    expect(past(after.files)).toHaveLength(2);
    expect(after.files.filter((f) => /^chunks\/(light|rare)-/.test(f))).toHaveLength(2);
    // what light loads after the group is only light's own: shape and util come from the group
    expect((await runBundle(out, "light")).out).toEqual({ ok: true, light: 2 });
  });
});
