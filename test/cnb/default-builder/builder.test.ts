/**
 * The default builder end to end: `berth build APP -t IMAGE` with no --builder makes the Debian stack (from
 * the shared debootstrap cache) and the builder on first use, builds every example app, and each image,
 * started with `berth run -e PORT=… -p`, answers on 127.0.0.1. Then: the Node.js one-file rebuild reuses
 * node_modules, an app rebases onto a rebuilt run image, the stack images are what the Platform API asks,
 * and `berth stack create` from the same trees gives the same digests.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkDebootstrap } from "../../../src/cnb/stack/index.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import {
  copyExample,
  has,
  homeWithSharedStack,
  imageConfig,
  killContainers,
  layerSha,
  shell,
  startApp,
} from "./helpers.ts";

let dir: string;
let home: string;
const BUILD = "berth/default-build:bookworm";
const RUN = "berth/default-run:bookworm";
const TINY = "berth/default-run-tiny:bookworm";
const BUILDER = "berth/default-builder:bookworm";
let port = 18400 + Math.floor(Math.random() * 400);
const nextPort = () => ++port;

beforeAll(async () => {
  dir = await tempDir("berth-default-builder-");
  home = await homeWithSharedStack(dir);
}, 900_000);
afterAll(async () => {
  await killContainers(home);
});

async function build(app: string, image: string, extra: string[] = []) {
  const r = await berth(["build", app, "-t", image, ...extra], { home });
  expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
  return r;
}

describe("the default builder", () => {
  let nodeApp: string;

  it("first use makes the stack and the builder, with progress, and builds the Node.js example", async () => {
    nodeApp = await copyExample("nodejs", dir);
    const r = await build(nodeApp, "ex/node");
    expect(r.stderr).toContain("===> CREATING THE DEFAULT STACK");
    expect(r.stderr).toContain(`===> CREATING THE DEFAULT BUILDER ${BUILDER}`);
    expect(r.stderr).toContain(`Using the default builder ${BUILDER}`);
    // The group's ids are padded to the longest (the tiny-run extension's).
    expect(r.stderr).toMatch(/berth\/nodejs +0\.1\.0/);
    expect(r.stderr).toContain("Run image: berth/default-run-tiny:bookworm (from a run.Dockerfile)");
    expect(r.stderr).toMatch(/Installing Node\.js \d+\.\d+\.\d+/);
    expect(r.stderr).toContain("Installing node_modules with npm");
    expect(r.stderr).toContain("Successfully built image 'ex/node'");
    const app = await startApp(home, "ex/node", nextPort());
    try {
      expect(app.body).toMatch(/^Hello from berth's Node\.js example \(Node\.js v\d+\.\d+\.\d+, express 4\./);
    } finally {
      await app.stop();
    }
  }, 900_000);

  it("Node.js with `node server.js` runs on the tiny run image (no shell)", async () => {
    const node = await imageConfig(home, "ex/node");
    const tiny = await imageConfig(home, TINY);
    expect(node.rootfs.diff_ids.slice(0, tiny.rootfs.diff_ids.length)).toEqual(tiny.rootfs.diff_ids);
    const sh = await berth(["run", "--entrypoint", "/bin/sh", "ex/node", "-c", "true"], { home });
    expect(sh.code).not.toBe(0);
    const sizes = (await berth(["images"], { home })).stdout;
    console.log(`the Node.js example on the tiny run image:\n${sizes}`);
  }, 120_000);

  it("an app no buildpack detects: each buildpack says what it looked for (issue 16)", async () => {
    const empty = join(dir, "nothing-to-detect");
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, "notes.txt"), "no app here\n");
    const r = await berth(["build", empty, "-t", "ex/nothing"], { home });
    expect(r.code).toBe(1);
    for (const line of [
      "looked for package.json at the app's root: not there",
      "looked for requirements.txt, pyproject.toml, Pipfile, setup.py, app.py and main.py: none there",
      "looked for go.mod at the app's root: not there",
      "looked for a Procfile at the app's root: not there",
      "looked for ./index.html (BP_STATIC_ROOT): not there",
      "looked for *.jar, target/*.jar, build/libs/*.jar, pom.xml and build.gradle(.kts): none there",
      "looked for Cargo.toml at the app's root: not there",
      "looked for pom.xml, build.gradle and build.gradle.kts at the app's root: none there",
    ]) {
      expect(r.stderr).toContain(line);
    }
  }, 300_000);

  it("is reused after: no stack or builder made the second time", async () => {
    const r = await berth(["builder", "default", "--create"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("is up to date");
    expect(r.stderr).not.toContain("CREATING");
    expect(r.stdout.trim()).toBe(`${BUILDER} (berth's own)`);
  });

  it("Node.js: a one-file change reuses the node_modules layer and runs no install", async () => {
    const before = await imageConfig(home, "ex/node");
    const shaBefore = layerSha(before.config.Labels, "berth/nodejs", "deps");
    expect(shaBefore).toMatch(/^sha256:/);
    await writeFile(join(nodeApp, "greeting.js"), 'exports.greeting = () => "Hello again from berth";\n');
    const r = await build(nodeApp, "ex/node");
    expect(r.stderr).toContain("Reusing node_modules: package-lock.json and Node.js");
    expect(r.stderr).not.toContain("Installing node_modules");
    expect(r.stderr).not.toMatch(/added \d+ packages/);
    expect(r.stderr).toContain("Reusing layer 'berth/nodejs:deps'");
    const after = await imageConfig(home, "ex/node");
    expect(layerSha(after.config.Labels, "berth/nodejs", "deps")).toBe(shaBefore);
    const app = await startApp(home, "ex/node", nextPort());
    try {
      expect(app.body).toMatch(/^Hello again from berth/);
    } finally {
      await app.stop();
    }
  }, 300_000);

  const cases: { name: string; expect: RegExp; setup?: (app: string) => Promise<string | undefined> }[] = [
    { name: "python", expect: /^Hello from berth's Python example \(Python 3\.\d+/ },
    { name: "go", expect: /^Hello from berth's Go example \(go1\.\d+/ },
    { name: "static", expect: /<h1>Hello from berth's static example<\/h1>/ },
    { name: "procfile", expect: /^Hello from berth's Procfile example \(perl v5/ },
    {
      name: "java-jar",
      expect: /^Hello from berth's Java example \(Java 17/,
      setup: async (app) => {
        if (!(await has("javac")) || !(await has("jar")))
          return "no javac/jar on this machine to build app.jar";
        await shell("./make-jar.sh", app);
        return undefined;
      },
    },
  ];
  for (const c of cases) {
    it(`builds the ${c.name} example and the image answers on 127.0.0.1`, async (t) => {
      const app = await copyExample(c.name, dir);
      const skip = await c.setup?.(app);
      if (skip) {
        console.log(`skipping the ${c.name} example: ${skip}`);
        t.skip();
        return;
      }
      const r = await build(app, `ex/${c.name}`);
      expect(r.stderr).toMatch(new RegExp(`berth/${c.name} +0\\.1\\.0`));
      const running = await startApp(home, `ex/${c.name}`, nextPort());
      try {
        expect(running.body).toMatch(c.expect);
      } finally {
        await running.stop();
      }
    }, 300_000);
  }

  it("the Procfile's other process runs through /cnb/process", async () => {
    const r = await berth(["run", "--entrypoint", "/cnb/process/hello", "ex/procfile"], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("Hello from berth's Procfile example\n");
  });

  it("the Python example built with no network at all", async () => {
    const app = await copyExample("python", dir);
    const r = await build(app, "ex/python-offline", ["--network", "none"]);
    expect(r.stderr).toContain("Creating a virtualenv (no third-party requirements)");
  }, 300_000);

  it("a pyproject.toml app with no dependencies builds too", async () => {
    const app = await copyExample("python", dir);
    await shell(
      'rm requirements.txt && printf \'[project]\\nname = "hello"\\nversion = "1.0"\\ndependencies = []\\n\' > pyproject.toml',
      app,
    );
    const r = await build(app, "ex/pyproject", ["--network", "none"]);
    expect(r.stderr).toContain("Creating a virtualenv (no third-party requirements)");
    expect(r.stderr).toContain("Process web: /layers/berth_python/venv/bin/python app.py");
  }, 300_000);

  it("an app image rebases onto a rebuilt run image and still answers", async () => {
    // The rebuilt run image: the same stack with one more layer on top (as a security update would add).
    const patch = join(dir, "patch");
    await shell(`mkdir -p ${patch}/etc && echo patched > ${patch}/etc/berth-patch`);
    // The Procfile example (perl) is on the Debian run image (the Node.js and Python ones are on the tiny one).
    const before = await imageConfig(home, "ex/procfile");
    const oldRun = await imageConfig(home, RUN);
    const a = await berth(["append", RUN, patch, "-t", RUN], { home });
    expect(a.code, a.stderr).toBe(0);
    const newRun = await imageConfig(home, RUN);
    expect(newRun.rootfs.diff_ids.length).toBe(oldRun.rootfs.diff_ids.length + 1);
    const r = await berth(["rebase", "ex/procfile", "--run-image", RUN], { home });
    expect(r.code, r.stderr).toBe(0);
    const after = await imageConfig(home, "ex/procfile");
    const n = oldRun.rootfs.diff_ids.length;
    expect(after.rootfs.diff_ids.slice(0, n + 1)).toEqual(newRun.rootfs.diff_ids);
    expect(after.rootfs.diff_ids.slice(n + 1)).toEqual(before.rootfs.diff_ids.slice(n));
    const app = await startApp(home, "ex/procfile", nextPort());
    try {
      expect(app.body).toMatch(/^Hello from berth's Procfile example/);
    } finally {
      await app.stop();
    }
    const p = await berth(["run", "--entrypoint", "cat", "ex/procfile", "/etc/berth-patch"], { home });
    expect(p.stdout).toBe("patched\n");
  }, 300_000);
});

describe("the stack", () => {
  it("has the CNB user, the base labels, target data and the deprecated stack id", async () => {
    const b = await imageConfig(home, BUILD);
    const r = await imageConfig(home, RUN);
    for (const img of [b, r]) {
      expect(img.os).toBe("linux");
      expect(img.config.Labels?.["io.buildpacks.base.distro.name"]).toBe("debian");
      expect(img.config.Labels?.["io.buildpacks.base.distro.version"]).toBe("12");
      expect(img.config.Labels?.["io.buildpacks.stack.id"]).toBe("io.berth.stacks.debian-bookworm");
      expect(img.config.Labels?.["io.buildpacks.base.id"]).toBe("io.berth.stacks.debian-bookworm");
      expect(img.config.Labels?.["io.buildpacks.base.maintainer"]).toBe("berth");
    }
    expect(b.architecture).toBe(r.architecture);
    expect(b.config.Env).toEqual(expect.arrayContaining(["CNB_USER_ID=1000", "CNB_GROUP_ID=1000"]));
    expect(b.config.User).toBe("1000:1000");
    expect(r.config.User).toBe("1001:1000");
    expect(r.config.Labels?.["io.buildpacks.rebasable"]).toBe("true");
    const id = await berth(["run", RUN, "sh", "-c", "id; echo $HOME; ls -ld $HOME | cut -d' ' -f3"], {
      home,
    });
    expect(id.code, id.stderr).toBe(0);
    expect(id.stdout).toBe("uid=1001(cnb) gid=1000(cnb) groups=1000(cnb)\n/home/cnb\ncnb\n");
  }, 120_000);

  it("keeps the run image small: no compilers, no package lists or caches, no documentation", async () => {
    const r = await berth(
      [
        "run",
        "-u",
        "0",
        RUN,
        "sh",
        "-c",
        "for t in gcc cc g++ make go python3 java; do command -v $t; done; find /usr/share/doc /usr/share/man /usr/share/info /var/lib/apt/lists /var/cache/apt -mindepth 1 -not -name partial -not -name lock -not -path '*/partial/*'; echo done",
      ],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("done\n");
    const size = (await berth(["images"], { home })).stdout
      .split("\n")
      .find((l) => l.includes("default-run"));
    console.log(`run image: ${size}`);
  }, 120_000);

  it("berth stack create from the same trees gives the same images (reproducible layers)", async () => {
    const r = await berth(
      ["stack", "create", "--build-image", "my/build", "--run-image", "my/run", "--trust-host-cas", "--json"],
      { home },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("reusing the cached bookworm tree");
    const made = JSON.parse(r.stdout) as { build: { digest: string }; run: { digest: string } };
    // The default builder's build image is untouched; the run image was patched by the rebase test.
    const b = await berth(["inspect", BUILD, "--json"], { home });
    expect(JSON.parse(b.stdout).digest).toBe(made.build.digest);
    const mine = await imageConfig(home, "my/run");
    const theirs = await imageConfig(home, RUN);
    expect(theirs.rootfs.diff_ids.slice(0, mine.rootfs.diff_ids.length)).toEqual(mine.rootfs.diff_ids);
  }, 300_000);

  it("says so when not root", async () => {
    await expect(
      checkDebootstrap({ isRoot: false, searchPath: "/usr/sbin:/usr/bin:/sbin:/bin" }),
    ).rejects.toThrow(
      "creating a stack runs debootstrap, which needs root (it makes device nodes, which a user namespace cannot); berth is not running as root",
    );
  });

  it("says what is missing when debootstrap is not installed", async () => {
    const d = await tempDir("berth-default-builder-nodeb-");
    const r = await berth(["stack", "create", "--build-image", "x/b", "--run-image", "x/r"], {
      home: join(d, "home"),
      env: { PATH: "/nonexistent" },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("creating a stack needs debootstrap, which is not installed");
    expect(r.stderr).toContain("hint: install it (Debian/Ubuntu: apt-get install debootstrap)");
  });
});

describe("berth builder default", () => {
  it("shows, sets and resets the builder berth build uses", async () => {
    const set = await berth(["builder", "default", "registry.example.com/team/builder:1"], { home });
    expect(set.stdout.trim()).toBe("registry.example.com/team/builder:1");
    expect(await readFile(join(home, "default-builder"), "utf8")).toBe(
      "registry.example.com/team/builder:1\n",
    );
    const reset = await berth(["builder", "default", "--reset"], { home });
    expect(reset.stdout.trim()).toBe(`${BUILDER} (berth's own)`);
  });
});
