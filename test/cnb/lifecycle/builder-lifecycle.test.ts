/**
 * Issue 14, part 1: `berth builder create` puts a CNB lifecycle in the builder as pack does — from builder.toml's
 * `[lifecycle] uri` (a release .tgz on disk or over HTTP, a lifecycle image in a registry) or, with no
 * `[lifecycle]`, the default lifecycle image (from the store when it is there; offline, an error saying what to
 * pass) — and its label copies the lifecycle's version and API lists. `--no-lifecycle` makes a builder whose
 * label claims none.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openImage } from "../../../src/cnb/index.ts";
import { readTar } from "../../../src/layer/index.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { type RegistryHarness, startRegistry } from "../../registry/helpers/registry.ts";
import { makeBuildImage, writeBuildpack } from "../helpers.ts";
import { referenceLifecycle } from "../reference/lifecycle.ts";
import { lifecycleImage, lifecycleTgz, serveFiles } from "./helpers.ts";

let dir: string;
let home: string;
let layout: string;
let reg: RegistryHarness;
let http: Awaited<ReturnType<typeof serveFiles>>;
let tgz: string;
let lifecycleToml: string;
const ctx = () => ({ home, env: {} });

async function config(name: string, lifecycle: string): Promise<string> {
  const file = join(dir, `${name}.toml`);
  await writeFile(
    file,
    `[[buildpacks]]
uri = "bps/test_hello-0.0.1"

[[order]]
[[order.group]]
id = "test/hello"

[build]
image = "oci:${layout}:build"

[[run.images]]
image = "example.org/run:1"
${lifecycle}`,
  );
  return file;
}

interface Entry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  linkname?: string;
  size: number;
}

async function builderOf(image: string): Promise<{ md: Record<string, unknown>; entries: Entry[][] }> {
  const opened = await openImage(image, ctx());
  try {
    const entries: Entry[][] = [];
    for (const l of opened.image.layers()) {
      const es: Entry[] = [];
      for await (const e of readTar(await l.uncompressed())) {
        const { path, type, mode, uid, linkname, size } = e.header;
        es.push({ path, type, mode, uid, size, ...(linkname ? { linkname } : {}) });
        for await (const _ of e.body) {
          // drain
        }
      }
      entries.push(es);
    }
    const md = JSON.parse(opened.image.config!.config!.Labels!["io.buildpacks.builder.metadata"]!);
    return { md, entries };
  } finally {
    await opened.close();
  }
}

/** The builder carries the reference lifecycle in pack's layer and its label says so. */
async function expectReferenceLifecycle(image: string): Promise<void> {
  const { md, entries } = await builderOf(image);
  expect(md.lifecycle).toEqual({
    version: "0.21.0",
    api: { buildpack: "0.7", platform: "0.7" },
    apis: {
      buildpack: { deprecated: [], supported: ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"] },
      platform: {
        deprecated: [],
        supported: ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14"],
      },
    },
  });
  // pack's order: the default directories, then the lifecycle layer.
  const layer = entries.find((es) => es.some((e) => e.path === "cnb/lifecycle/lifecycle"));
  expect(layer?.map((e) => e.path)).toContain("cnb/lifecycle/lifecycle");
  expect(entries.indexOf(layer!)).toBe(entries.findIndex((es) => es.some((e) => e.path === "workspace")) + 1);
  const paths = layer!.map((e) => e.path);
  for (const b of [
    "analyzer",
    "builder",
    "creator",
    "detector",
    "exporter",
    "restorer",
    "rebaser",
    "launcher",
  ]) {
    expect(paths).toContain(`cnb/lifecycle/${b}`);
  }
  expect(layer!.find((e) => e.path === "cnb/lifecycle")).toMatchObject({ type: "dir", mode: 0o755, uid: 0 });
  expect(layer!.find((e) => e.path === "cnb/lifecycle/launcher")).toMatchObject({
    type: "file",
    mode: 0o755,
  });
  expect(layer!.find((e) => e.path === "lifecycle")).toMatchObject({
    type: "symlink",
    linkname: "/cnb/lifecycle",
  });
  const tomlEntry = layer!.find((e) => e.path === "cnb/lifecycle/lifecycle.toml");
  expect(tomlEntry?.size).toBe(Buffer.byteLength(lifecycleToml));
}

beforeAll(async () => {
  dir = await tempDir("berth-builder-lifecycle-");
  home = join(dir, "home");
  layout = join(dir, "images");
  const [bin, registry] = await Promise.all([referenceLifecycle(), startRegistry()]);
  reg = registry;
  lifecycleToml = await readFile(join(bin, "lifecycle.toml"), "utf8");
  await makeBuildImage(dir, `oci:${layout}:build`, home);
  await writeBuildpack(join(dir, "bps"), { id: "test/hello", detect: "exit 0" });
  tgz = await lifecycleTgz(dir);
  http = await serveFiles({ "/lifecycle.tgz": tgz });
  await lifecycleImage(`oci:${layout}:lifecycle`, home);
  const push = await berth(
    ["copy", `oci:${layout}:lifecycle`, `docker://${reg.host}/buildpacksio/lifecycle:0.21.0`],
    {
      home,
    },
  );
  if (push.code !== 0) throw new Error(`pushing the lifecycle image failed: ${push.stderr}`);
}, 600_000);
afterAll(async () => {
  await http?.close();
  await reg?.stop();
});

describe("berth builder create: [lifecycle]", () => {
  it("uri: a lifecycle .tgz on disk (relative to builder.toml)", async () => {
    const file = await config("tgz", `[lifecycle]\nuri = "${tgz.slice(dir.length + 1)}"\n`);
    const r = await berth(["builder", "create", `oci:${layout}:b-tgz`, "--config", file], { home });
    expect(r.code, r.stderr).toBe(0);
    // the one warning is pack's for a run image it cannot open (this config names example.org/run:1)
    expect(r.stderr.split("\n").filter((l) => l.includes("Warning"))).toEqual([
      "Warning: run image example.org/run:1 is not accessible",
    ]);
    await expectReferenceLifecycle(`oci:${layout}:b-tgz`);
    const i = await berth(["builder", "inspect", `oci:${layout}:b-tgz`], { home });
    expect(i.stdout).toContain("Lifecycle:\n  Version: 0.21.0\n");
    expect(i.stdout).toContain("  Platform APIs: 0.7, 0.8, 0.9, 0.10, 0.11, 0.12, 0.13, 0.14\n");
  });

  it("uri: an http URL of the .tgz", async () => {
    const file = await config("http", `[lifecycle]\nuri = "${http.url}/lifecycle.tgz"\n`);
    const r = await berth(["builder", "create", `oci:${layout}:b-http`, "--config", file], { home });
    expect(r.code, r.stderr).toBe(0);
    expect(http.requests).toContain("/lifecycle.tgz");
    await expectReferenceLifecycle(`oci:${layout}:b-http`);
  });

  it("uri: a missing URL is one sentence naming it", async () => {
    const file = await config("http404", `[lifecycle]\nuri = "${http.url}/nope.tgz"\n`);
    const r = await berth(["builder", "create", `oci:${layout}:b-404`, "--config", file], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`lifecycle ${http.url}/nope.tgz cannot be downloaded: HTTP 404`);
  });

  it("uri: a lifecycle image in a registry (its last layer holds /cnb/lifecycle)", async () => {
    const file = await config(
      "image",
      `[lifecycle]\nuri = "docker://${reg.host}/buildpacksio/lifecycle:0.21.0"\n`,
    );
    const r = await berth(["builder", "create", `oci:${layout}:b-image`, "--config", file], { home });
    expect(r.code, r.stderr).toBe(0);
    await expectReferenceLifecycle(`oci:${layout}:b-image`);
  });

  it("a .tgz that is not a lifecycle is refused, naming what is missing", async () => {
    const file = await config("bad", `[lifecycle]\nuri = "bps/test_hello-0.0.1/buildpack.toml"\n`);
    const r = await berth(["builder", "create", `oci:${layout}:b-bad`, "--config", file], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/lifecycle/);
  });

  it("version and uri together are refused, as pack refuses them", async () => {
    const file = await config("both", `[lifecycle]\nuri = "x.tgz"\nversion = "0.21.0"\n`);
    const r = await berth(["builder", "create", `oci:${layout}:b-both`, "--config", file], { home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("lifecycle can only declare version or uri, not both");
  });

  it("no [lifecycle], offline: the error says what to pass", async () => {
    const file = await config("default", "");
    const r = await berth(["builder", "create", `oci:${layout}:b-default`, "--config", file], {
      home: join(dir, "offline-home"),
      // No registry is reachable: a proxy that refuses every connection.
      env: { HTTPS_PROXY: "http://127.0.0.1:9", https_proxy: "http://127.0.0.1:9" },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("the default lifecycle image buildpacksio/lifecycle:0.21.0 cannot be pulled");
    expect(r.stderr).toContain("--no-lifecycle");
    expect(r.stderr).toContain("[lifecycle] uri");
  });

  it("no [lifecycle]: the default lifecycle image, from the store once it is there", async () => {
    const pull = await berth(
      ["copy", `docker://${reg.host}/buildpacksio/lifecycle:0.21.0`, "buildpacksio/lifecycle:0.21.0"],
      { home },
    );
    expect(pull.code, pull.stderr).toBe(0);
    const file = await config("default", "");
    const r = await berth(["builder", "create", `oci:${layout}:b-default`, "--config", file], { home });
    expect(r.code, r.stderr).toBe(0);
    await expectReferenceLifecycle(`oci:${layout}:b-default`);
    const v = await config("version", `[lifecycle]\nversion = "0.21.0"\n`);
    const rv = await berth(["builder", "create", `oci:${layout}:b-version`, "--config", v], { home });
    expect(rv.code, rv.stderr).toBe(0);
    await expectReferenceLifecycle(`oci:${layout}:b-version`);
  });

  it("--no-lifecycle: no /cnb/lifecycle and a label that claims none (it claimed lifecycle 0.1.0 before)", async () => {
    const file = await config("none", "");
    const r = await berth(["builder", "create", "--no-lifecycle", `oci:${layout}:b-none`, "--config", file], {
      home,
    });
    expect(r.code, r.stderr).toBe(0);
    const { md, entries } = await builderOf(`oci:${layout}:b-none`);
    expect((md.lifecycle as { version: unknown }).version).toBeNull();
    expect(entries.flat().some((e) => e.path.startsWith("cnb/lifecycle") || e.path === "lifecycle")).toBe(
      false,
    );
    const i = await berth(["builder", "inspect", `oci:${layout}:b-none`], { home });
    expect(i.stdout).toContain("Lifecycle:\n  (none: the builder runs only with berth's own engine)\n");
    const both = await config("none-both", `[lifecycle]\nuri = "x.tgz"\n`);
    const rb = await berth(["builder", "create", "--no-lifecycle", `oci:${layout}:b-nb`, "--config", both], {
      home,
    });
    expect(rb.code).not.toBe(0);
    expect(rb.stderr).toContain("--no-lifecycle");
  });
});
