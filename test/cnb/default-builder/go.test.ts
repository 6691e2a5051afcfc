/**
 * The default builder's Go buildpack on a small app of its own (test/cnb/default-builder/apps/go-modules): go.mod's
 * toolchain line brings that Go from the module proxy (golang.org/toolchain, checked against the checksum
 * database), a third-party module comes through GOPROXY, and the image answers HTTP on $PORT. Then: a one-file
 * change rebuilds with the network cut from the toolchain and module caches, GOFLAGS and GOPROXY from
 * `berth build -e` reach go, a version the proxy does not have fails in one sentence, and the SBOM lists the
 * toolchain and the modules linked in.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { copyApp, DefaultBuilderSuite, imageConfig, layerSha, shell } from "./helpers.ts";

const s = new DefaultBuilderSuite("berth-defgo-", 19600);
const { build, answer } = s;
let app: string;
const TINY = "berth/default-run-tiny:bookworm";
const RUN = "berth/default-run:bookworm";
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}";
beforeAll(async () => {
  app = await copyApp(s.dir, "go-modules");
}, 900_000);

describe("the default builder's Go buildpack", () => {
  it("go.mod's toolchain line: Go from the module proxy, modules through GOPROXY, SBOM of the binary", async () => {
    const sbom = join(s.dir, "sbom");
    const r = await build(app, "g/mods", ["--sbom-output-dir", sbom]);
    expect(r.stderr).toContain(
      "Installing Go 1.22.5 (golang.org/toolchain from the module proxy, checked against sum.golang.org)",
    );
    expect(r.stderr).toContain("Downloading modules (GOPROXY=https://proxy.golang.org,direct)");
    expect(r.stderr).toContain("Using go version go1.22.5 linux/amd64");
    expect(await answer("g/mods")).toMatch(
      new RegExp(`^Hello from go-modules: ${UUID} \\(go1\\.22\\.5\\)\\n$`),
    );
    const doc = JSON.parse(await readFile(join(sbom, "launch/berth_go/app/sbom.cdx.json"), "utf8"));
    const purls = doc.components.map((c: { purl: string }) => c.purl);
    expect(purls).toContain("pkg:golang/github.com/google/uuid@v1.6.0");
    expect(purls).toContain("pkg:golang/std@v1.22.5");
  }, 900_000);

  it("the binary runs on the tiny run image: no shell, the packages recorded for scanners, a few MiB", async () => {
    const img = await imageConfig(s.home, "g/mods");
    const tiny = await imageConfig(s.home, TINY);
    expect(img.rootfs.diff_ids.slice(0, tiny.rootfs.diff_ids.length)).toEqual(tiny.rootfs.diff_ids);
    const md = JSON.parse(img.config.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}");
    expect(md.runImage.reference).toMatch(/berth\/default-run-tiny@sha256:/);
    // The tiny image carries the run image's target data and CNB labels.
    const run = await imageConfig(s.home, RUN);
    for (const k of [
      "io.buildpacks.base.distro.name",
      "io.buildpacks.base.distro.version",
      "io.buildpacks.stack.id",
    ]) {
      expect(tiny.config.Labels?.[k], k).toBe(run.config.Labels?.[k]);
    }
    expect(tiny.config.Labels?.["io.buildpacks.rebasable"]).toBe("true");
    expect(tiny.config.User).toBe("1001:1000");
    const sh = await berth(["run", "--entrypoint", "/bin/sh", "g/mods", "-c", "true"], { home: s.home });
    expect(sh.code).not.toBe(0);
    expect(sh.stderr).toMatch(/\/bin\/sh.*no such file or directory/);
    // What scanners read: one dpkg status record per package kept, and os-release.
    const tinyTar = join(s.dir, "tiny.tar");
    const e = await berth(["export", TINY, "-o", tinyTar], { home: s.home });
    expect(e.code, e.stderr).toBe(0);
    const files = await shell(`tar -tf ${tinyTar}`);
    for (const f of ["var/lib/dpkg/status.d/libc6", "var/lib/dpkg/status.d/libssl3", "usr/lib/os-release"]) {
      expect(files).toContain(f);
    }
    for (const f of ["usr/bin/sh", "usr/bin/bash", "usr/bin/dpkg", "usr/bin/apt", "usr/bin/ls"]) {
      expect(files).not.toContain(f);
    }
    const sizes = (await berth(["images"], { home: s.home })).stdout;
    console.log(`tiny run image and the Go app on it:\n${sizes}`);
    // (--json's size: the blobs' bytes; the table's SIZE is docker's, unpacked)
    const listed = JSON.parse(
      (await berth(["images", "--json", "berth/default-run-tiny"], { home: s.home })).stdout,
    ).images;
    expect(listed).toHaveLength(1);
    expect(listed[0].size / 2 ** 20).toBeLessThan(8);
  }, 300_000);

  it("a Procfile with shell syntax keeps the Debian run image, and its process runs", async () => {
    const withShell = await copyApp(s.dir, "go-modules", "go-procfile");
    await shell(`printf 'web: echo starting >&2 && exec go-modules\\n' > Procfile`, withShell);
    const r = await build(withShell, "g/procfile");
    expect(r.stderr).not.toContain("Run image: berth/default-run-tiny");
    const img = await imageConfig(s.home, "g/procfile");
    const run = await imageConfig(s.home, RUN);
    expect(img.rootfs.diff_ids.slice(0, run.rootfs.diff_ids.length)).toEqual(run.rootfs.diff_ids);
    expect(await answer("g/procfile")).toMatch(/^Hello from go-modules: /);
  }, 900_000);

  it("a one-file rebuild with --network none builds from the toolchain, module and build caches", async () => {
    await shell(`sed -i 's/Hello from/Hi again from/' ${join(app, "main.go")}`);
    const r = await build(app, "g/mods", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing Go 1.22.5");
    expect(r.stderr).toContain("Reusing the module cache: go.sum unchanged");
    expect(r.stderr).toContain("Reusing the Go build cache");
    expect(r.stderr).toContain("Building example.com/go-modules");
    expect(await answer("g/mods")).toMatch(/^Hi again from go-modules: /);
  }, 600_000);

  it("a no-op rebuild reuses the binary's layer: go build does not run, the app layer is the same", async () => {
    const appSha = async () =>
      layerSha((await imageConfig(s.home, "g/mods")).config.Labels, "berth/go", "app");
    const before = await appSha();
    const r = await build(app, "g/mods", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing the binary go-modules: sources and settings unchanged");
    expect(r.stderr).not.toContain("Building example.com");
    expect(await appSha()).toBe(before);
    expect(await answer("g/mods")).toMatch(/^Hi again from go-modules: /);
  }, 600_000);

  it("GOFLAGS from berth build -e reaches go build", async () => {
    await build(app, "g/mods", ["-e", "GOFLAGS=-tags=berth", "--network", "none"]);
    expect(await answer("g/mods")).toMatch(/\(go1\.22\.5\) \[tag berth\]\n$/);
  }, 600_000);

  it("GOPROXY from berth build -e is the only way to the proxy: off fails in one sentence", async () => {
    const r = await berth(["build", app, "-t", "g/noproxy", "-e", "GOPROXY=off"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      "berth/go: cannot list Go toolchains on the module proxy (GOPROXY=off names no http(s) proxy)",
    );
  }, 600_000);

  it("a Go version the proxy does not have fails in one sentence naming where it was asked for", async () => {
    const r = await berth(["build", app, "-t", "g/bad", "-e", "BP_GO_VERSION=1.99.1"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /berth\/go: BP_GO_VERSION asks for Go 1\.99\.1, and the module proxy has no such toolchain for linux\/amd64 \(newest: 1\.\d+\.\d+\)/,
    );
  }, 600_000);
});
