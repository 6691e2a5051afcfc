/**
 * Default builder benchmark (issue 8): `node bench/default-builder.ts [--cold]`. Writes
 * bench/results/default-builder.md.
 *
 * Through the real CLI, in a fresh BERTH_HOME: the first `berth build` of examples/nodejs with no --builder
 * (the stack and the builder made: from the debootstrap cache the tests share, or with --cold from nothing),
 * a cold app build (builder there, new image name, empty cache), a no-op rebuild, a rebuild after one source
 * file changed; then every example's image size next to the usual official images' published sizes.
 */
import { spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { berthCli, ROOT } from "./lib.ts";

const { values } = parseArgs({ options: { cold: { type: "boolean", default: false } } });
const SHARED = process.env.BERTH_TEST_STACK_CACHE ?? join(tmpdir(), "berth-test-stack-cache");
const log = (s: string) => process.stderr.write(`${s}\n`);

const dir = await mkdtemp(join(tmpdir(), "berth-bench-default-"));
const home = join(dir, "home");
await mkdir(join(home, "cache"), { recursive: true });
if (!values.cold) {
  await mkdir(SHARED, { recursive: true });
  await symlink(SHARED, join(home, "cache", "stack"));
}

const berth = berthCli(home);

const rows: string[] = [];
try {
  const apps = join(dir, "apps");
  await cp(join(ROOT, "examples"), apps, { recursive: true });
  const node = join(apps, "nodejs");
  log("first build (stack and builder made)…");
  const first = await berth(["build", node, "-t", "bench/node"]);
  rows.push(
    `| first build: stack${values.cold ? " (debootstrap from nothing)" : " (from the debootstrap cache)"} and builder made, then the app | ${first.seconds.toFixed(1)} s |`,
  );
  log("cold app build…");
  const cold = await berth(["build", node, "-t", "bench/node-cold"]);
  rows.push(
    `| cold app build (builder there, new image, empty cache: Node.js download, npm ci) | ${cold.seconds.toFixed(1)} s |`,
  );
  log("no-op rebuild…");
  const noop = await berth(["build", node, "-t", "bench/node"]);
  const same = noop.err.includes("Reusing node_modules") ? "node_modules reused" : "node_modules rebuilt";
  rows.push(`| no-op rebuild (${same}) | ${noop.seconds.toFixed(1)} s |`);
  await writeFile(join(node, "greeting.js"), 'exports.greeting = () => "changed";\n');
  log("one-file rebuild…");
  const one = await berth(["build", node, "-t", "bench/node"]);
  rows.push(
    `| rebuild after one source file changed (${one.err.includes("Installing node_modules") ? "installed" : "no install"}) | ${one.seconds.toFixed(1)} s |`,
  );

  const sizes: string[] = [];
  const official: Record<string, string> = {
    nodejs: "node:24-slim ≈ 75 MB (+ node_modules)",
    python: "python:3.11-slim ≈ 45 MB",
    go: "gcr.io/distroless/static ≈ 2 MB (+ the binary); golang:1.19 ≈ 300 MB",
    static: "nginx:alpine ≈ 20 MB; httpd:alpine ≈ 22 MB",
    procfile: "perl:5-slim ≈ 60 MB",
    "java-jar": "eclipse-temurin:17-jre ≈ 90 MB",
  };
  for (const name of ["python", "go", "static", "procfile", "java-jar"]) {
    const app = join(apps, name);
    if (name === "java-jar") {
      await new Promise((res) =>
        spawn("sh", ["./make-jar.sh"], { cwd: app, stdio: "ignore" }).on("close", res),
      );
    }
    log(`building ${name}…`);
    await berth(["build", app, "-t", `bench/${name}`]);
  }
  const images = (await berth(["images"])).out.split("\n");
  for (const name of ["nodejs", "python", "go", "static", "procfile", "java-jar"]) {
    const tag = name === "nodejs" ? "bench/node " : `bench/${name} `;
    const line = images.find((l) => l.startsWith(tag));
    const size =
      line
        ?.trim()
        .split(/\s{2,}/)
        .pop() ?? "?";
    sizes.push(`| ${name} | ${size} | ${official[name]} |`);
  }
  const run = images
    .find((l) => l.startsWith("berth/default-run "))
    ?.trim()
    .split(/\s{2,}/)
    .pop();
  const build = images
    .find((l) => l.startsWith("berth/default-build "))
    ?.trim()
    .split(/\s{2,}/)
    .pop();
  const md = [
    "## Default builder (examples/nodejs and the other examples)",
    "",
    `Measured ${new Date().toISOString().slice(0, 10)} on this machine through the CLI (\`node bench/default-builder.ts${values.cold ? " --cold" : ""}\`).`,
    "",
    "| step | time |",
    "|---|---|",
    ...rows,
    "",
    `Stack: run image ${run} (Debian bookworm minbase + ca-certificates), build image ${build} (compressed).`,
    "",
    "| example | berth image (compressed, run image included) | usual official base (published compressed size, approximate) |",
    "|---|---|---|",
    ...sizes,
    "",
  ].join("\n");
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  await writeFile(join(ROOT, "bench", "results", "default-builder.md"), md);
  process.stdout.write(md);
} finally {
  await rm(dir, { recursive: true, force: true });
}
