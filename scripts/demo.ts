// The README's main job: build the example apps in examples/ into images with berth's default builder (made on
// first use: a Debian stack with debootstrap, then the builder), run the Node.js app and print its HTTP answer.
// Needs root, runc and debootstrap (`bash .ci/setup` installs them) and network access to Debian's mirror and
// the npm registry. `npm run demo`; BERTH_HOME chooses where images and caches live.
import { spawn, spawnSync } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "src/cli/bin.ts");
const EXAMPLES = ["nodejs", "python", "go", "static", "procfile", "java-jar"];

function say(line: string): void {
  process.stdout.write(`\n\x1b[1m${line}\x1b[0m\n`);
}

function have(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

function berth(args: string[], capture = false): Promise<{ code: number; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit",
    });
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.on("error", rej);
    child.on("close", (code) => res({ code: code ?? 1, out }));
  });
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

function berthHome(): string {
  if (process.env.BERTH_HOME) return process.env.BERTH_HOME;
  const data = process.env.XDG_DATA_HOME || join(process.env.HOME || "/root", ".local", "share");
  return join(data, "berth");
}

async function main(): Promise<number> {
  const missing = ["runc", "debootstrap"].filter((t) => !have(t));
  if (missing.length) {
    console.error(`demo: ${missing.join(" and ")} not installed; run: sudo bash .ci/setup`);
    return 1;
  }
  if (process.getuid?.() !== 0) {
    console.error(
      "demo: the default builder's stack is made with debootstrap, which needs root: run as root",
    );
    return 1;
  }
  const work = await mkdtemp(join(tmpdir(), "berth-demo-"));
  const built: string[] = [];
  const started = Date.now();
  try {
    for (const name of EXAMPLES) {
      const app = join(work, name);
      await cp(join(ROOT, "examples", name), app, { recursive: true });
      if (name === "java-jar") {
        if (!have("javac") || !have("jar")) {
          say(
            `Skipping examples/${name}: no javac/jar here to build its app.jar (apt-get install default-jdk-headless)`,
          );
          continue;
        }
        spawnSync("sh", ["./make-jar.sh"], { cwd: app, stdio: "inherit" });
      }
      say(`berth build examples/${name} -t berth-demo/${name}   (no --builder: berth's default builder)`);
      const t = Date.now();
      const r = await berth(["build", app, "-t", `berth-demo/${name}`]);
      if (r.code !== 0) {
        console.error(`demo: building examples/${name} failed (exit ${r.code})`);
        return r.code;
      }
      say(`built berth-demo/${name} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      built.push(name);
    }

    say("The images (berth images):");
    const images = await berth(["images"], true);
    const lines = images.out.split("\n");
    process.stdout.write(
      `${[lines[0], ...lines.filter((l) => l.includes("berth-demo/") || l.includes("berth/default"))].join("\n")}\n`,
    );

    const port = await freePort();
    say(`berth run -e PORT=${port} -e HOST=127.0.0.1 berth-demo/nodejs, then GET http://127.0.0.1:${port}/`);
    const child = spawn(
      process.execPath,
      [BIN, "run", "-e", `PORT=${port}`, "-e", "HOST=127.0.0.1", "berth-demo/nodejs"],
      {
        stdio: ["ignore", "inherit", "inherit"],
      },
    );
    let answer = "";
    for (let i = 0; i < 120 && !answer; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
        answer = await res.text();
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    // The app is PID 1 in its container and may ignore SIGTERM: stop its container with runc.
    const state = join(berthHome(), "run", "state");
    const ids = spawnSync("runc", ["--root", state, "list", "-q"], { encoding: "utf8" }).stdout.split("\n");
    for (const id of ids.filter(Boolean)) spawnSync("runc", ["--root", state, "kill", id, "KILL"]);
    await new Promise((r) => child.on("close", r));
    if (!answer) {
      console.error("demo: the Node.js app did not answer");
      return 1;
    }
    say(`The Node.js app answered: ${answer.trim()}`);
    const df = await berth(["system", "df", "--json"], true);
    const used = df.code === 0 ? (JSON.parse(df.out) as { total: number }).total : undefined;
    if (used !== undefined) {
      say(
        `berth used ${(used / 2 ** 30).toFixed(1)} GiB in ${berthHome()} (npx berth system df shows what); ` +
          "npx berth system prune --all --force reclaims all but the images, npx berth rmi IMAGE removes those",
      );
    }
    say(
      `Done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${built.length} example apps built (${built.join(", ")}). ` +
        "Run one yourself: npx berth run -e PORT=8080 berth-demo/python",
    );
    return 0;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

process.exitCode = await main();
