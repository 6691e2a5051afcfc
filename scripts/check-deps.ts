// Checks the folder dependency direction of src/ (see ARCHITECTURE.md) and that only the CLI touches
// `process`. Exits non-zero, naming each offending import, when a rule is broken.
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dirname, "../src");

/** What each top-level folder of src/ may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  "errors.ts": [],
  "index.ts": ["*"],
  util: ["errors.ts"],
  tar: ["errors.ts", "util"],
  oci: ["errors.ts", "util", "tar"],
  layer: ["errors.ts", "util", "oci", "tar"],
  registry: ["errors.ts", "util", "oci"],
  transport: ["errors.ts", "util", "oci", "registry"],
  image: ["errors.ts", "util", "oci", "layer", "transport"],
  runtime: ["errors.ts", "util", "oci", "layer", "transport"],
  cnb: ["errors.ts", "util", "oci", "layer", "registry", "transport", "runtime", "image"],
  dockerfile: ["errors.ts", "util", "oci", "tar", "layer", "registry", "transport", "runtime"],
  cli: ["*"],
};

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(p);
    else if (entry.name.endsWith(".ts")) yield p;
  }
}

const top = (path: string) => relative(SRC, path).split("/")[0]!;
const problems: string[] = [];
for await (const file of files(SRC)) {
  const text = await readFile(file, "utf8");
  const from = top(file);
  const allowed = ALLOWED[from];
  if (!allowed) {
    problems.push(`${relative(SRC, file)}: folder src/${from} has no rule in scripts/check-deps.ts`);
    continue;
  }
  for (const m of text.matchAll(
    /(?:import|export)[^"';]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g,
  )) {
    const spec = m[1] ?? m[2]!;
    const to = top(resolve(dirname(file), spec));
    if (to === from || allowed.includes("*") || allowed.includes(to)) continue;
    problems.push(`${relative(SRC, file)}: src/${from} must not import src/${to} (${spec})`);
  }
  if (from !== "cli" && /\bprocess\.(?!nextTick)/.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))) {
    problems.push(`${relative(SRC, file)}: only src/cli may use process.*`);
  }
}
if (problems.length) {
  console.error(`dependency rules broken:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("dependency rules: ok");
