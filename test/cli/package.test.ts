// The package as a user gets it (issue 16): `npm pack` (which builds through prepack), installed with
// `npm i -g --prefix` into a temp folder, then the installed `berth` run from there: help, images, a pull
// from a local registry, the library examples (examples/library, README's "Using berth as a library")
// compiled against it and run, its type declarations, and the refusal on a Node older than engines.
import { execFile, spawnSync } from "node:child_process";
import { cp, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../helpers/exec.ts";
import { readIndex } from "../helpers/layout.ts";
import { tempDir } from "../helpers/temp.ts";
import { umociImage } from "../helpers/umoci.ts";
import { type RegistryHarness, startRegistry } from "../registry/helpers/registry.ts";
import { busyboxImage } from "../runtime/helpers.ts";

const pexec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLES = ["images.ts", "build.ts"];

let dir: string;
let prefix: string;
let files: string[];
let reg: RegistryHarness;

/** The installed berth, on this Node (node 24 first in PATH, as a user's newer Node would be). */
async function installed(
  args: string[],
  node: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = spawnSync(process.execPath, [...node, join(prefix, "bin", "berth"), ...args], {
    env: {
      PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: join(dir, "home"),
      BERTH_HOME: join(dir, "home"),
    },
    encoding: "utf8",
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  dir = await tempDir("berth-package-");
  prefix = join(dir, "prefix");
  const env = { ...process.env, npm_config_update_notifier: "false" };
  // packed from a copy of the checkout's files (its node_modules linked): prepack builds dist/ there, never in the
  // checkout, where a dist/launcher would stop other test files' berths compiling their launcher (progress.test.ts)
  const tree = join(dir, "tree");
  const listed = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
  });
  for (const path of new Set(listed.split("\0").filter(Boolean))) {
    await cp(join(ROOT, path), join(tree, path), { recursive: true, verbatimSymlinks: true }).catch((err) => {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err; // deleted, not yet committed
    });
  }
  await symlink(join(ROOT, "node_modules"), join(tree, "node_modules"));
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: tree, env });
  const info = JSON.parse(packed.slice(packed.indexOf("["))) as {
    filename: string;
    files: { path: string }[];
  }[];
  files = info[0]!.files.map((f) => f.path);
  await pexec(
    "npm",
    [
      "i",
      "-g",
      "--prefix",
      prefix,
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      join(dir, info[0]!.filename),
    ],
    { env, maxBuffer: 16 * 1024 * 1024 },
  );
  reg = await startRegistry();
}, 600_000);
afterAll(async () => {
  await reg?.stop();
});

describe("the packed package, installed with npm i -g --prefix", () => {
  it("ships a LICENSE, the bundle and no source maps or sources it would point at", () => {
    expect(files).toContain("LICENSE");
    expect(files).toContain("bin/berth.js");
    expect(files).toContain("dist/bundle/berth.js");
    // the bundle says it is ES modules wherever it is copied (Node then skips its syntax detection)
    expect(files).toContain("dist/bundle/package.json");
  });

  it("berth --version loads neither node:child_process nor the facades of node:process and node:util", async () => {
    const list = join(dir, "module-list.mjs");
    await writeFile(
      list,
      'process.on("exit", () => process.stderr.write(JSON.stringify(process.moduleLoadList)));\n',
    );
    const r = await installed(["--version"], ["--import", list]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("0.1.0\n");
    const loaded = JSON.parse(r.stderr) as string[];
    // the facades' getters load these; child_process is what commander's spawn and cli/userns.ts load
    for (const m of ["child_process", "internal/util/parse_args/parse_args", "internal/process/report"]) {
      expect(loaded).not.toContain(`NativeModule ${m}`);
    }
  });

  it("imports none of Node's modules as ES modules: no facade, no resolution (process.getBuiltinModule)", async () => {
    const bundle = join(prefix, "lib", "node_modules", "berth", "dist", "bundle");
    const chunks = files.filter((f) => f.startsWith("dist/bundle/") && f.endsWith(".js"));
    expect(chunks.length).toBeGreaterThan(1);
    for (const f of chunks) {
      const text = await readFile(join(bundle, f.slice("dist/bundle/".length)), "utf8");
      expect(text, f).not.toMatch(/from\s*"(node:)?process"/);
      // scripts/lib/builtins.ts; a dynamic import (cli/userns.ts's node:child_process) stays
      expect(text, f).not.toMatch(/(\bfrom\s*|^import\s*)"node:/m);
    }
    expect(files.filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(files.filter((f) => f.startsWith("src/")).sort()).toEqual([
      "src/cnb/group-runner.c",
      "src/cnb/launch/launcher.c",
    ]);
  });

  it("evaluates every chunk of the bundle on its own (a builtin read before its module ran would throw here)", async () => {
    // scripts/lib/builtins.ts turns imports into consts in each module's body; a module whose top level used
    // another's before it ran (an import cycle) would now throw where the ES import never did
    const bundle = join(prefix, "lib", "node_modules", "berth", "dist", "bundle");
    const chunks = files.filter((f) => f.startsWith("dist/bundle/chunks/") && f.endsWith(".js"));
    expect(chunks.length).toBeGreaterThan(10);
    const script = join(dir, "evaluate-chunks.mjs");
    await writeFile(
      script,
      `for (const f of ${JSON.stringify(chunks.map((f) => join(bundle, f.slice("dist/bundle/".length))))}) await import(f);\n`,
    );
    const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("builds a Dockerfile from the install (the builder's modules, bundled)", async () => {
    const ctx = join(dir, "dockerfile-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "hello.txt"), "hello from the bundle\n");
    await writeFile(join(ctx, "Dockerfile"), "FROM scratch\nCOPY hello.txt /hello.txt\nENV A=1\n");
    const r = await installed(["build", ctx, "--dockerfile", join(ctx, "Dockerfile"), "-t", "bundled:1"]);
    expect(r.stderr).toMatch(/Wrote sha256:[0-9a-f]{64} to bundled:1/);
    expect(r.code).toBe(0);
    const images = await installed(["images", "--json"]);
    expect(images.stdout).toContain("bundled");
  });

  it("rebuilds with no change loading none of node:zlib, node:child_process, node:net; a step that misses after hits loads them", async () => {
    // what only a step that makes a layer, runs a process or sets up a network needs is imported at its point
    // of use: a rebuild whose every step is cached loads none of it (the layer writers, compressors, runc's)
    const ctx = join(dir, "lazy-ctx");
    await mkdir(ctx, { recursive: true });
    await writeFile(join(ctx, "a.txt"), "a\n");
    await writeFile(join(ctx, "b.txt"), "b\n");
    const list = join(dir, "module-list-lazy.mjs");
    // Node's modules loaded, and the bundle's files (a load hook sees every file the ESM loader reads)
    await writeFile(
      list,
      [
        "const files = [];",
        'process.getBuiltinModule("node:module").registerHooks({ load: (u, c, next) => (files.push(u), next(u, c)) });',
        // the list taken before process.stderr is first read (Node makes its stream then: node:net for a pipe)
        'process.on("exit", () => { const l = JSON.stringify([process.moduleLoadList, files]); process.stderr.write("\\n" + l); });',
      ].join("\n"),
    );
    const traced = async (args: string[]) => {
      const r = await installed(args, ["--import", list]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.trimEnd().split("\n");
      const [loaded, files] = JSON.parse(lines.at(-1)!) as [string[], string[]];
      return {
        log: lines.slice(0, -1).join("\n"),
        loaded,
        files: files.filter((f) => f.includes("/dist/bundle/")),
      };
    };
    const build = async (dockerfile: string) => {
      await writeFile(join(ctx, "Dockerfile"), dockerfile);
      return traced([
        "build",
        ctx,
        "--dockerfile",
        join(ctx, "Dockerfile"),
        "-t",
        "lazy:1",
        "--network",
        "none",
      ]);
    };
    // node:net too: berth writes its log to a piped stderr with writeSync (cli/stdio.ts), not Node's stream,
    // which for a pipe is a net.Socket
    const lazy = ["zlib", "child_process", "net"].map((m) => `NativeModule ${m}`);
    const first = "FROM scratch\nCOPY a.txt /a.txt\nENV A=1\n";
    expect((await build(first)).loaded).toEqual(expect.arrayContaining(lazy.slice(0, 1)));
    const again = await build(first);
    expect(again.log).toMatch(/\(3 steps, 3 cached\)/);
    for (const m of lazy) expect(again.loaded).not.toContain(m);
    // the build command's static imports past the CLI's own are one chunk (scripts/lib/rechunk.ts): the rebuild
    // reads the command's entry and that chunk past what `--version` reads (~25 chunks more when esbuild's own)
    const version = await traced(["--version"]);
    expect(again.files).toEqual(expect.arrayContaining(version.files));
    expect(again.files.length - version.files.length).toBeLessThanOrEqual(3);
    // the cached steps first, then one that makes a layer: the writers and compressors loaded there
    const more = await build(`${first}COPY b.txt /b.txt\n`);
    expect(more.log).toMatch(/\(4 steps, 3 cached\)/);
    expect(more.loaded).toContain("NativeModule zlib");
  });

  it("builds on prepack, not on install", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.prepare).toBeUndefined();
    expect(pkg.scripts.prepack).toBe("node scripts/build.ts");
  });

  it("berth --help and berth images run from the install", async () => {
    const help = await installed(["--help"]);
    expect(help.stderr).toBe("");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: berth /);
    const images = await installed(["images"]);
    expect(images.stderr).toBe("");
    expect(images.code).toBe(0);
    expect(images.stdout).toMatch(/^REPOSITORY/);
  });

  it("pulls from a registry on 127.0.0.1", async () => {
    const src = join(dir, "src");
    await umociImage(src, "v1", [[{ path: "hello", content: "hello from the package test\n" }]]);
    const digest = (await readIndex(src)).manifests[0]!.digest;
    await run("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${src}:v1`,
      `docker://${reg.host}/pkg/app:1`,
    ]);
    const pull = await installed(["pull", "-q", `${reg.host}/pkg/app:1`]);
    expect(pull.code, pull.stderr).toBe(0);
    expect(pull.stdout.trim()).toBe(digest);
    const images = await installed(["images"]);
    expect(images.stdout).toContain(`${reg.host}/pkg/app`);
  });

  it("the library examples compile with strict settings against the package, are the README's, and run", async () => {
    // examples/library/*.ts, quoted verbatim in README's "Using berth as a library"
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const section = /## Using berth as a library\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? "";
    const project = join(dir, "example");
    await mkdir(join(project, "node_modules", "@types"), { recursive: true });
    await symlink(join(prefix, "lib", "node_modules", "berth"), join(project, "node_modules", "berth"));
    await symlink(
      join(ROOT, "node_modules", "@types", "node"),
      join(project, "node_modules", "@types", "node"),
    );
    await writeFile(join(project, "package.json"), '{ "type": "module" }\n');
    for (const name of EXAMPLES) {
      const code = await readFile(join(ROOT, "examples", "library", name), "utf8");
      expect(section, `README quotes examples/library/${name}`).toContain(`\`\`\`ts\n${code}\`\`\``);
      await writeFile(join(project, name), code);
    }
    await writeFile(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          module: "nodenext",
          target: "es2023",
          noEmit: true,
          types: ["node"],
        },
        files: EXAMPLES,
      }),
    );
    await run(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", project]);

    // images.ts: crane-style calls against the local registry
    const src = join(dir, "lib-src");
    await umociImage(src, "v1", [[{ path: "hello", content: "from the library example\n" }]]);
    await run("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${src}:v1`,
      `docker://${reg.host}/team/app:1`,
    ]);
    const env = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: join(dir, "home"),
      BERTH_HOME: join(dir, "lib-home"),
      REGISTRY: reg.host,
    };
    const r = spawnSync(process.execPath, [join(project, "images.ts")], {
      cwd: project,
      env,
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^pulled sha256:[0-9a-f]{64} for amd64\npushed sha256:[0-9a-f]{64}\ntags: 1 2\n$/,
    );

    // build.ts: a Dockerfile app on a busybox base from the registry, built, its config read, run with runc
    const base = join(dir, "busybox");
    await busyboxImage(base, "1", { env: ["PATH=/bin"] });
    await run("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${base}:1`,
      `docker://${reg.host}/lib/busybox:1`,
    ]);
    const appDir = join(project, "app");
    await mkdir(appDir);
    await writeFile(join(appDir, "hello.txt"), "hello from a library build\n");
    await writeFile(
      join(appDir, "Dockerfile"),
      `FROM ${reg.host}/lib/busybox:1\nCOPY hello.txt /hello.txt\nENV GREETING=hi\nCMD ["cat", "/hello.txt"]\n`,
    );
    const b = spawnSync(process.execPath, [join(project, "build.ts"), "app", "lib-app:1"], {
      cwd: project,
      env,
      encoding: "utf8",
    });
    expect(b.stderr).toBe("");
    expect(b.stdout).toMatch(
      /^built lib-app:1 sha256:[0-9a-f]{12} with the dockerfile way\nprocess default: cat \/hello.txt\nenv: PATH=\/bin GREETING=hi\nhello from a library build\nexited 0\n$/,
    );
    expect(b.status).toBe(0);

    // an error is a BerthError with the CLI's code, sentence and hint
    const missing = spawnSync(process.execPath, [join(project, "build.ts"), "app", "oci:"], {
      cwd: project,
      env,
      encoding: "utf8",
    });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe('berth: image "oci:" names no path after oci: (TRANSPORT_INVALID)\n');
  });

  it("declares the library's API and leaves the registry client's internals out", async () => {
    const dts = await readFile(join(prefix, "lib", "node_modules", "berth", "dist", "index.d.ts"), "utf8");
    for (const name of ["build", "buildDockerfile", "rebase", "run", "createContainer", "fromEnvironment"]) {
      expect(dts).toMatch(new RegExp(`\\b${name}\\b`));
    }
    expect(dts).toMatch(/export \* from "\.\/image\/index\.[jt]s"/); // images, appendLayers, …
    expect(dts).not.toMatch(/registry\/index|RegistryClient|withRetry/);
  });

  it("on a Node older than engines, says which Node it needs (no SyntaxError)", async () => {
    const preload = join(dir, "old-node.mjs");
    await writeFile(preload, 'Object.defineProperty(process.versions, "node", { value: "20.19.0" });\n');
    const r = await installed(["images"], ["--import", preload]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "berth: needs Node.js 22.18 or newer; this is Node.js 20.19.0 (" +
        `${process.execPath})\nhint: install Node.js 22.18 or newer (https://nodejs.org/en/download)\n`,
    );
    // a real old Node where the machine has one (Debian's nodejs): the same refusal
    const system = spawnSync("/usr/bin/node", ["--version"], { encoding: "utf8" });
    const [major, minor] = (system.stdout ?? "").replace(/^v/, "").split(".").map(Number);
    if (system.status === 0 && (major! < 22 || (major === 22 && minor! < 18))) {
      const old = spawnSync("/usr/bin/node", [join(prefix, "bin", "berth"), "images"], { encoding: "utf8" });
      expect(old.status).toBe(1);
      expect(old.stderr).toMatch(/^berth: needs Node\.js 22\.18 or newer; this is Node\.js \d+/);
    }
  });
});
