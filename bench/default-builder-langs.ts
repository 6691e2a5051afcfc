/**
 * Default builder per language (issue 18): `node bench/default-builder-langs.ts`. Writes
 * bench/results/default-builder-langs.md.
 *
 * Through the real CLI, in a fresh BERTH_HOME on the tests' shared debootstrap cache (the builder is made
 * first, outside the timings): for each app, a cold build (new image name, empty cache: runtime and
 * dependencies downloaded from the registries), a no-op rebuild, a rebuild after one source file changed, and
 * the image's compressed size (run image included). Apps: examples/nodejs (npm, express) and the test apps of
 * test/cnb/default-builder/apps; BENCH_APPS=python or BENCH_APPS=go,rust,java (words of their names, case-insensitive)
 * runs only those.
 */
import { appendFile, cp, mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { berthCli, ROOT } from "./lib.ts";

const SHARED = process.env.BERTH_TEST_STACK_CACHE ?? join(tmpdir(), "berth-test-stack-cache");
const log = (s: string) => process.stderr.write(`${s}\n`);

const dir = await mkdtemp(join(tmpdir(), "berth-bench-langs-"));
const home = join(dir, "home");
await mkdir(join(home, "cache"), { recursive: true });
await mkdir(SHARED, { recursive: true });
await symlink(SHARED, join(home, "cache", "stack"));

const berth = berthCli(home);

interface App {
  name: string;
  from: string;
  /** The file the one-file rebuild touches. */
  touch: string;
  official: string;
}
const apps: App[] = [
  {
    name: "Node.js, npm (examples/nodejs, express)",
    from: join(ROOT, "examples/nodejs"),
    touch: "greeting.js",
    official: "node:24-slim ≈ 75 MB; node:24-alpine ≈ 55 MB (+ node_modules); Paketo nodejs on full ≈ 290 MB",
  },
  {
    name: "Python, uv.lock (six)",
    from: join(ROOT, "test/cnb/default-builder/apps/py-uv"),
    touch: "src/hello/server.py",
    official: "python:3.11-slim ≈ 45 MB (+ venv); Paketo python on base ≈ 150 MB",
  },
  {
    name: "Go, go.mod toolchain go1.22.5 + a module",
    from: join(ROOT, "test/cnb/default-builder/apps/go-modules"),
    touch: "main.go",
    official: "golang:1.22 ≈ 300 MB; gcr.io/distroless/static ≈ 2 MB + binary; Paketo go on tiny ≈ 25 MB",
  },
  {
    name: "Java, Maven from source (JDK's httpserver)",
    from: join(ROOT, "test/cnb/default-builder/apps/java-maven"),
    touch: "src/main/java/berth/example/Hello.java",
    official: "eclipse-temurin:17-jre ≈ 90 MB; Paketo java on base ≈ 130 MB",
  },
  {
    name: "Rust, Cargo.lock (itoa), rust-toolchain 1.99.1",
    from: join(ROOT, "test/cnb/default-builder/apps/rust-hello"),
    touch: "src/main.rs",
    official:
      "rust:1 ≈ 550 MB; debian:bookworm-slim ≈ 28 MB + binary; Paketo rust (community) on tiny ≈ 25 MB",
  },
  {
    name: "Node.js, pnpm (test app)",
    from: join(ROOT, "test/cnb/default-builder/apps/node-pnpm"),
    touch: "server.js",
    official: "as the other Node.js row",
  },
  {
    name: "Python, requirements.txt, flask + gunicorn",
    from: join(ROOT, "test/cnb/default-builder/apps/py-gunicorn"),
    touch: "app.py",
    official: "as the other Python row",
  },
];

const rows: string[] = [];
try {
  log("making the builder (not timed)…");
  await berth(["builder", "default", "--create"]);
  let i = 0;
  const only = process.env.BENCH_APPS?.toLowerCase().split(",");
  for (const a of apps.filter((x) => !only || only.some((w) => x.name.toLowerCase().includes(w)))) {
    const app = join(dir, `app-${i}`);
    const image = `bench/lang-${i++}`;
    await cp(a.from, app, { recursive: true });
    log(`${a.name}: cold…`);
    const cold = await berth(["build", app, "-t", image]);
    log(`${a.name}: no-op…`);
    const noop = await berth(["build", app, "-t", image]);
    await appendFile(join(app, a.touch), a.touch.endsWith(".py") ? "\n# changed\n" : "\n// changed\n");
    log(`${a.name}: one file…`);
    const one = await berth(["build", app, "-t", image]);
    const reinstalled =
      /Installing node_modules|installing \d+ requirement|Downloading modules|Downloading crates|Downloaded \d+ crate/.test(
        one.err,
      );
    const line = (await berth(["images"])).out.split("\n").find((l) => l.startsWith(`${image} `));
    const size =
      line
        ?.trim()
        .split(/\s{2,}/)
        .pop() ?? "?";
    const row = `| ${a.name} | ${cold.seconds.toFixed(1)} | ${noop.seconds.toFixed(1)} | ${one.seconds.toFixed(1)}${reinstalled ? " (reinstalled!)" : ""} | ${size} | ${a.official} |`;
    rows.push(row);
    log(row);
  }
  const load = (await import("node:os")).loadavg().map((n) => n.toFixed(1));
  const md = [
    "### Default builder per language (bench/default-builder-langs.ts, issue 18)",
    "",
    `\`node bench/default-builder-langs.ts\` on ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, one run each, through the CLI, on the tests' shared debootstrap cache, the builder made before timing. Cold: new image name and empty cache (runtime, package manager and dependencies downloaded from the npm registry, PyPI or the Go module proxy). The machine was loaded (other sessions' test suites on its 2 cores; load average at the end ${load.join(" ")}), so times are upper bounds. Sizes: \`berth images\` (compressed, the run image's ~30 MB included). Published sizes of other images are approximate compressed sizes from their registries' pages, for orientation, not measured here (the machine reaches no image registry).`,
    "",
    "| app | cold s | no-op s | one file s | berth image | others (published, approximate) |",
    "|---|---:|---:|---:|---|---|",
    ...rows,
    "",
  ].join("\n");
  await mkdir(join(ROOT, "bench", "results"), { recursive: true });
  const { writeFile } = await import("node:fs/promises");
  await writeFile(join(ROOT, "bench", "results", "default-builder-langs.md"), md);
  process.stdout.write(md);
} finally {
  await rm(dir, { recursive: true, force: true });
}
