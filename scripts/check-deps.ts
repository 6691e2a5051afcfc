// Checks the folder dependency direction of src/ (see ARCHITECTURE.md), the order of the layers inside
// src/cnb and src/oci, and that only the CLI touches `process` (`process.*` or `node:process` imported).
// Exits non-zero, naming each offending import, when a rule is broken. `--src DIR` checks another tree (tests).
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";

const srcArg = process.argv.indexOf("--src");
const SRC = srcArg > 0 ? resolve(process.argv[srcArg + 1]!) : resolve(import.meta.dirname, "../src");

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
  api: [
    "errors.ts",
    "util",
    "oci",
    "tar",
    "layer",
    "registry",
    "transport",
    "runtime",
    "image",
    "cnb",
    "dockerfile",
  ],
  cli: ["*"],
};

/**
 * Layers inside a folder, lowest first: a module may import the units (files and subfolders) of its own layer
 * and of lower ones, never of a higher one. Every unit of the folder must be listed.
 */
const LAYERS: Record<string, string[][]> = {
  cnb: [
    ["api.ts", "toml.ts", "gotoml.ts", "log.ts", "image.ts", "executor.ts"],
    ["buildpack"],
    ["files"],
    ["platform"],
    ["cache", "launch"],
    ["phase"],
    ["stack", "buildpackage", "inspect.ts"],
    ["build", "build.ts"],
    ["index.ts"],
  ],
  oci: [
    [
      "assemble.ts",
      "blob.ts",
      "compression.ts",
      "config.ts",
      "copy.ts",
      "descriptor.ts",
      "digest.ts",
      "image.ts",
      "manifest.ts",
      "mediatype.ts",
      "mutate.ts",
      "platform.ts",
      "reference.ts",
      "sink.ts",
      "walk.ts",
      "zstd.ts",
    ],
    ["layout"],
    ["archive", "store.ts"],
  ],
};

/** The layer of a path's unit inside `folder`, or a problem when the unit is not listed. */
function layerOf(folder: string, path: string): { unit: string; rank: number } | string {
  const unit = relative(join(SRC, folder), path).split("/")[0]!;
  const rank = LAYERS[folder]!.findIndex((l) => l.includes(unit));
  if (rank < 0) return `src/${folder}/${unit} has no layer in scripts/check-deps.ts`;
  return { unit, rank };
}

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
    const target = resolve(dirname(file), spec);
    const to = top(target);
    if (to === from && LAYERS[from]) checkLayers(from, file, target, spec);
    if (to === from || allowed.includes("*") || allowed.includes(to)) continue;
    problems.push(`${relative(SRC, file)}: src/${from} must not import src/${to} (${spec})`);
  }
  const code = text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
  if (from !== "cli" && /\bprocess\.(?!nextTick)/.test(code)) {
    problems.push(`${relative(SRC, file)}: only src/cli may use process.*`);
  }
  if (
    from !== "cli" &&
    /\bfrom\s+["'](?:node:)?process["']|\brequire\(\s*["'](?:node:)?process["']/.test(code)
  ) {
    problems.push(`${relative(SRC, file)}: only src/cli may import process`);
  }
}
function checkLayers(folder: string, file: string, target: string, spec: string): void {
  const from = layerOf(folder, file);
  const to = layerOf(folder, target);
  for (const l of [from, to]) if (typeof l === "string" && !problems.includes(l)) problems.push(l);
  if (typeof from === "string" || typeof to === "string" || to.rank <= from.rank) return;
  problems.push(
    `${relative(SRC, file)}: src/${folder}/${from.unit} must not import src/${folder}/${to.unit}, a layer above its own (${spec})`,
  );
}

if (problems.length) {
  console.error(`dependency rules broken:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("dependency rules: ok");
