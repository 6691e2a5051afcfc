// Checks the folder dependency direction of src/ (see ARCHITECTURE.md), the order of the layers inside
// src/cnb and src/oci, that modules of the acyclic folders import no module that imports them back (directly or
// through others, type imports included), and that only the CLI touches `process` (`process.*` or
// `node:process` imported).
// Exits non-zero, naming each offending import, when a rule is broken. `--src DIR` checks another tree (tests).
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { cycles } from "./lib/graph.ts";

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
    ["api.ts", "toml.ts", "gotoml.ts", "log.ts", "image.ts", "group-runner.ts", "executor.ts"],
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
      "convert.ts",
      "copy.ts",
      "descriptor.ts",
      "digest.ts",
      "go-config.ts",
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

/**
 * Folders whose modules form no import cycle (registry's client → repository → upload once led back to the
 * client; issue 17). src/cnb and src/dockerfile still hold cycles between a few of their modules.
 */
const ACYCLIC = new Set([
  "errors.ts",
  "index.ts",
  "util",
  "tar",
  "oci",
  "layer",
  "registry",
  "transport",
  "image",
  "runtime",
  "cli",
]);

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

/**
 * The commands that still touch `process` themselves: run.ts (its signal handlers while a container runs in the
 * foreground, and the detached supervisor it starts as this same program) and containers.ts (the supervisor's
 * IPC channel to the berth that started it). Every other command gets the host's state from its Cli.
 */
const PROCESS_COMMANDS = new Set(["run.ts", "containers.ts"]);

const top = (path: string) => relative(SRC, path).split("/")[0]!;
const problems: string[] = [];
/** Module → the modules it imports, for the cycle check. */
const imports = new Map<string, Set<string>>();
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
    if (!imports.has(file)) imports.set(file, new Set());
    imports.get(file)!.add(target);
    if (to === from && LAYERS[from]) checkLayers(from, file, target, spec);
    if (to === from || allowed.includes("*") || allowed.includes(to)) continue;
    problems.push(`${relative(SRC, file)}: src/${from} must not import src/${to} (${spec})`);
  }
  const code = text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
  if (from !== "cli" && /\bprocess\.(?!nextTick)/.test(code)) {
    problems.push(`${relative(SRC, file)}: only src/cli may use process.*`);
  }
  const inCommands = relative(join(SRC, "cli", "commands"), file);
  if (
    !inCommands.startsWith("..") &&
    !PROCESS_COMMANDS.has(inCommands) &&
    /\bprocess\.(?!nextTick)/.test(code)
  ) {
    problems.push(
      `${relative(SRC, file)}: a command takes what it needs from the host from its Cli (src/cli/env.ts), not process.*`,
    );
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

/** Strongly connected components of more than one module (Tarjan), among the acyclic folders' modules. */
function importCycles(): string[][] {
  const inScope = (f: string) => ACYCLIC.has(top(f));
  const nodes = [...imports.keys()].sort().filter(inScope);
  return cycles(nodes, (v) => imports.get(v) ?? []).map((c) => c.map((f) => relative(SRC, f)).sort());
}
for (const c of importCycles()) problems.push(`import cycle among ${c.join(", ")}`);

if (problems.length) {
  console.error(`dependency rules broken:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log("dependency rules: ok");
