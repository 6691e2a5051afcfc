/**
 * The default builder's Python buildpack on small apps of its own (test/cnb/default-builder/apps): requirements.txt with
 * Flask and gunicorn, FastAPI and uvicorn, Django and gunicorn (the start command found), a PEP 621 pyproject with a
 * uv.lock and a [project.scripts] entry, Poetry's poetry.lock, Pipfile.lock. Packages come from PyPI through the
 * build's private network; each image answers HTTP on $PORT, on the tiny run image (exec-form starts: no shell),
 * and the interpreter's extension modules all load there; a Procfile with shell syntax keeps the Debian one. Then:
 * a one-file change reuses the interpreter and the virtualenv (same digest, no install) with the network cut, a
 * lockfile change reinstalls, dev groups stay out, a Python version the stack does not have fails in one
 * sentence, and the SBOM lists the interpreter and the packages.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { DefaultBuilderSuite, imageConfig, layerSha, shell } from "./helpers.ts";

const RUN = "berth/default-run:bookworm";
const TINY = "berth/default-run-tiny:bookworm";

const s = new DefaultBuilderSuite("berth-defpy-", 19200);
const { build, answer } = s;
const copy = s.copy;

/** `python -c CODE` in the image through its launcher (the layers' env: LD_LIBRARY_PATH, VIRTUAL_ENV). */
async function python(image: string, code: string) {
  return berth(["run", "--entrypoint", "/cnb/lifecycle/launcher", image, "--", "python", "-c", code], {
    home: s.home,
  });
}

/** The venv's site-packages, listed by the image's own Python (the tiny run image has no ls). */
async function pipList(image: string): Promise<string> {
  const r = await python(
    image,
    "import os, sysconfig; print(*sorted(os.listdir(sysconfig.get_path('purelib'))))",
  );
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The app image is on the run image `base` (its layers first). */
async function expectOn(image: string, base: string) {
  const img = await imageConfig(s.home, image);
  const run = await imageConfig(s.home, base);
  expect(img.rootfs.diff_ids.slice(0, run.rootfs.diff_ids.length)).toEqual(run.rootfs.diff_ids);
}

// The start through WITH_ADDRESS (lib/py.py): the venv's python runs it, and it execs the rest with HOST and PORT.
const withAddress = (rest: string) =>
  new RegExp(
    `Process web: /layers/berth_python/venv/bin/python -c import os, sys; .*os\\.execv\\(a\\[0\\], a\\) ${rest.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
  );

describe("the default builder's Python buildpack", () => {
  it("requirements.txt with Flask and gunicorn: served by gunicorn on $PORT, on the tiny run image", async () => {
    const app = await copy("py-gunicorn");
    const r = await build(app, "p/gunicorn");
    expect(r.stderr).toContain("installing 2 requirement(s) from requirements.txt");
    expect(r.stderr).toMatch(
      withAddress("/layers/berth_python/venv/bin/gunicorn --bind {HOST}:{PORT} app:app"),
    );
    expect(r.stderr).toContain("Run image: berth/default-run-tiny:bookworm (from a run.Dockerfile)");
    await expectOn("p/gunicorn", TINY);
    expect(await answer("p/gunicorn")).toBe("Hello from py-gunicorn: flask 3.1.0, gunicorn 23.0.0\n");
    // The installer stays out of the image: pip ran from the build image's wheel.
    expect(await pipList("p/gunicorn")).not.toMatch(/\b(pip|setuptools|pkg_resources)\b/);
    const sizes = (await berth(["images"], { home: s.home })).stdout;
    console.log(`Flask + gunicorn on the tiny run image:\n${sizes}`);
    // python:3.11-slim alone is ≈ 45 MB compressed; this is the whole app (57.7 MiB on the Debian run image before).
    // (--json's size: the blobs' bytes; the table's SIZE is docker's, unpacked)
    const listed = JSON.parse(
      (await berth(["images", "--json", "p/gunicorn"], { home: s.home })).stdout,
    ).images;
    expect(listed[0].size / 2 ** 20).toBeLessThan(30);
  }, 600_000);

  it("on the tiny run image the interpreter loads every extension module of its standard library", async () => {
    // Each lib-dynload module (ssl, sqlite3, ctypes, lzma, bz2, decimal, expat, readline, curses, dbm, uuid, …)
    // with the shared libraries the buildpack copied beside it; no shell in the image.
    const r = await python(
      "p/gunicorn",
      "import glob, importlib, os, sys; d = os.path.join(sys.base_prefix, 'lib', 'python%d.%d' % sys.version_info[:2], 'lib-dynload'); " +
        "names = sorted(os.path.basename(f).split('.')[0] for f in glob.glob(d + '/*.so')); " +
        "[importlib.import_module(n) for n in names]; import dbm, shelve, ssl; ssl.create_default_context(); print(len(names), 'modules')",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.stdout.split(" ")[0])).toBeGreaterThan(20);
    const sh = await berth(["run", "--entrypoint", "/bin/sh", "p/gunicorn", "-c", "true"], { home: s.home });
    expect(sh.code).not.toBe(0);
  }, 300_000);

  for (const c of [
    {
      what: "FastAPI and uvicorn: served by uvicorn",
      app: "py-fastapi",
      start: "/layers/berth_python/venv/bin/uvicorn main:app --host {HOST} --port {PORT}",
      says: "Hello from py-fastapi: fastapi 0.115.6, uvicorn 0.34.0\n",
    },
    {
      what: "Django and gunicorn: the project's wsgi.py served",
      app: "py-django",
      start: "/layers/berth_python/venv/bin/gunicorn --bind {HOST}:{PORT} mysite.wsgi:application",
      says: "Hello from py-django: Django 5.1.4, gunicorn 23.0.0\n",
    },
  ]) {
    it(`${c.what} on $PORT, on the tiny run image`, async () => {
      const image = `p/${c.app}`;
      const r = await build(await copy(c.app), image);
      expect(r.stderr).toMatch(withAddress(c.start));
      await expectOn(image, TINY);
      expect(await answer(image)).toBe(c.says);
    }, 600_000);
  }

  it("a Procfile with shell syntax keeps the Debian run image, and its process runs", async () => {
    const app = await copy("py-gunicorn", "py-procfile");
    await shell(
      `printf 'web: echo starting >&2 && exec gunicorn --bind 0.0.0.0:$PORT app:app\\n' > Procfile`,
      app,
    );
    const r = await build(app, "p/procfile");
    expect(r.stderr).not.toContain("Run image: berth/default-run-tiny");
    await expectOn("p/procfile", RUN);
    expect(await answer("p/procfile")).toBe("Hello from py-gunicorn: flask 3.1.0, gunicorn 23.0.0\n");
  }, 600_000);

  let uvApp: string;
  it("pyproject.toml + uv.lock: pinned with hashes, no dev group, started from [project.scripts]; SBOM", async () => {
    uvApp = await copy("py-uv");
    const sbom = join(s.dir, "sbom-uv");
    const r = await build(uvApp, "p/uv", ["--sbom-output-dir", sbom]);
    expect(r.stderr).toContain("installing 1 requirement(s) from uv.lock (pinned, no resolution)");
    expect(r.stderr).toContain(
      "Process web: /layers/berth_python/venv/bin/python -c import sys; from hello.server import main as f; sys.exit(f()) hello-server",
    );
    expect(await answer("p/uv")).toBe("Hello from py-uv: six 1.17.0\n");
    await expectOn("p/uv", TINY);
    const site = await pipList("p/uv");
    expect(site).toContain("six-1.17.0.dist-info");
    expect(site).not.toContain("iniconfig");
    const venv = JSON.parse(await readFile(join(sbom, "launch/berth_python/venv/sbom.cdx.json"), "utf8"));
    expect(venv.components.map((c: { purl: string }) => c.purl)).toContain("pkg:pypi/six@1.17.0");
    const py = JSON.parse(await readFile(join(sbom, "launch/berth_python/python/sbom.cdx.json"), "utf8"));
    expect(py.components[0].purl).toMatch(/^pkg:generic\/python@3\.11\.\d+/);
  }, 600_000);

  it("uv: a one-file rebuild with --network none reuses the interpreter and the virtualenv (same digest, no install)", async () => {
    const before = layerSha((await imageConfig(s.home, "p/uv")).config.Labels, "berth/python", "venv");
    expect(before).toMatch(/^sha256:/);
    await shell(`sed -i 's/Hello from/Hi again from/' ${join(uvApp, "src/hello/server.py")}`);
    const r = await build(uvApp, "p/uv", ["--network", "none"]);
    expect(r.stderr).toMatch(/Reusing Python 3\.11\.\d+\n/);
    expect(r.stderr).toContain("Reusing the virtualenv: uv.lock unchanged, no install");
    expect(r.stderr).toContain("Reusing layer 'berth/python:venv'");
    expect(layerSha((await imageConfig(s.home, "p/uv")).config.Labels, "berth/python", "venv")).toBe(before);
    expect(await answer("p/uv")).toBe("Hi again from py-uv: six 1.17.0\n");
  }, 600_000);

  it("uv: a lockfile change reinstalls", async () => {
    const before = layerSha((await imageConfig(s.home, "p/uv")).config.Labels, "berth/python", "venv");
    const lock = await readFile(join(uvApp, "uv.lock"), "utf8");
    // The root package now also depends on iniconfig (already in the lockfile, as a dev package).
    await writeFile(
      join(uvApp, "uv.lock"),
      lock.replace(
        'dependencies = [\n    { name = "six" },\n]',
        'dependencies = [\n    { name = "iniconfig" },\n    { name = "six" },\n]',
      ),
    );
    const r = await build(uvApp, "p/uv");
    expect(r.stderr).toContain("installing 2 requirement(s) from uv.lock");
    expect(layerSha((await imageConfig(s.home, "p/uv")).config.Labels, "berth/python", "venv")).not.toBe(
      before,
    );
    expect(await pipList("p/uv")).toContain("iniconfig-2.3.1.dist-info");
  }, 600_000);

  it("poetry.lock: the main group only, hashes checked", async () => {
    const app = await copy("py-poetry");
    const r = await build(app, "p/poetry");
    expect(r.stderr).toContain("installing 1 requirement(s) from poetry.lock (pinned, no resolution)");
    expect(await answer("p/poetry")).toBe("Hello from py-poetry: six 1.17.0\n");
    expect(await pipList("p/poetry")).not.toContain("iniconfig");
  }, 600_000);

  it("Pipfile.lock: the default section", async () => {
    const app = await copy("py-pipenv");
    const r = await build(app, "p/pipenv");
    expect(r.stderr).toContain("installing 1 requirement(s) from Pipfile.lock (pinned, no resolution)");
    expect(await answer("p/pipenv")).toBe("Hello from py-pipenv: six 1.17.0\n");
  }, 600_000);

  it("a tampered lockfile hash fails the install", async () => {
    const app = await copy("py-poetry", "py-poetry-bad");
    await shell(
      `sed -i 's/sha256:4721f391/sha256:0000f391/; s/sha256:ff70335d/sha256:0000335d/' ${join(app, "poetry.lock")}`,
    );
    const r = await berth(["build", app, "-t", "p/bad-hash"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/THESE PACKAGES DO NOT MATCH THE HASHES/);
  }, 600_000);

  it("a Python version the stack does not have fails in one sentence naming where it was asked for", async () => {
    const app = await copy("py-pipenv", "py-version");
    await writeFile(join(app, ".python-version"), "3.13\n");
    const r = await berth(["build", app, "-t", "p/bad-version"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /berth\/python: \.python-version asks for Python '3\.13', and the only Python here is 3\.11\.\d+, the stack's Debian python3/,
    );
    expect(r.stderr).toContain("hint: allow 3.11");
  }, 300_000);
});
