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
import { copyApp, DefaultBuilderSuite, shell } from "./helpers.ts";

const s = new DefaultBuilderSuite("berth-defgo-", 19600);
const { build, answer } = s;
let app: string;
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

  it("a one-file rebuild with --network none builds from the toolchain, module and build caches", async () => {
    await shell(`sed -i 's/Hello from/Hi again from/' ${join(app, "main.go")}`);
    const r = await build(app, "g/mods", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing Go 1.22.5");
    expect(r.stderr).toContain("Reusing the module cache: go.sum unchanged");
    expect(r.stderr).toContain("Reusing the Go build cache");
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
