/**
 * The default builder's Rust buildpack on a small app of its own (test/cnb/default-builder/apps/rust-hello): the toolchain
 * rust-toolchain.toml names, from the Rust project's release channels (checked against the channel manifest),
 * a crate from crates.io pinned by Cargo.lock, and the image answers HTTP on $PORT with only the release binary.
 * Then: a one-file rebuild with the network cut works from the toolchain, crate and target caches, a missing
 * Cargo.lock and a toolchain that does not exist fail in one sentence.
 */
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { berth } from "../../helpers/cli.ts";
import { DefaultBuilderSuite, imageConfig, layerSha, shell } from "./helpers.ts";

const s = new DefaultBuilderSuite("berth-defrust-", 20200);
const { build, answer, copy } = s;

describe("the default builder's Rust buildpack", () => {
  let app: string;
  it("rust-toolchain.toml's Rust, crates through Cargo.lock, the release binary as the web process", async () => {
    app = await copy("rust-hello");
    const sbom = join(s.dir, "sbom");
    const r = await build(app, "r/hello", ["--sbom-output-dir", sbom]);
    expect(r.stderr).toContain(
      "Installing Rust 1.99.1 (rustc, cargo, rust-std for x86_64-unknown-linux-gnu)",
    );
    expect(r.stderr).toContain("Building: cargo build --release --locked --bin rust-hello");
    expect(await answer("r/hello")).toBe("Hello from rust-hello: 42\n");
    const { readFile } = await import("node:fs/promises");
    const doc = JSON.parse(await readFile(join(sbom, "launch/berth_rust/app/sbom.cdx.json"), "utf8"));
    expect(doc.components.map((c: { purl: string }) => c.purl)).toContain("pkg:cargo/itoa@1.0.19");
  }, 900_000);

  it("the release binary runs on the tiny run image (no shell)", async () => {
    const img = await imageConfig(s.home, "r/hello");
    const tiny = await imageConfig(s.home, "berth/default-run-tiny:bookworm");
    expect(img.rootfs.diff_ids.slice(0, tiny.rootfs.diff_ids.length)).toEqual(tiny.rootfs.diff_ids);
    const sh = await berth(["run", "--entrypoint", "/bin/sh", "r/hello", "-c", "true"], { home: s.home });
    expect(sh.code).not.toBe(0);
    expect(sh.stderr).toMatch(/\/bin\/sh.*no such file or directory/);
    const sizes = (await berth(["images"], { home: s.home })).stdout;
    console.log(`the Rust app on the tiny run image:\n${sizes}`);
  }, 120_000);

  it("a one-file rebuild with --network none works from the toolchain, crate and target caches", async () => {
    await shell(`sed -i 's/Hello from/Hi again from/' ${join(app, "src/main.rs")}`);
    const r = await build(app, "r/hello", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing Rust 1.99.1 (1.99.1)");
    expect(r.stderr).toContain("Reusing the crates: Cargo.lock unchanged");
    expect(r.stderr).toContain("Reusing the target dir (incremental)");
    expect(r.stderr).toContain("Building: cargo build --release --locked --bin rust-hello");
    expect(await answer("r/hello")).toBe("Hi again from rust-hello: 42\n");
  }, 600_000);

  it("a no-op rebuild reuses the binary's layer: cargo does not run, the app layer is the same", async () => {
    const appSha = async () =>
      layerSha((await imageConfig(s.home, "r/hello")).config.Labels, "berth/rust", "app");
    const before = await appSha();
    const r = await build(app, "r/hello", ["--network", "none"]);
    expect(r.stderr).toContain("Reusing the binary rust-hello: sources and settings unchanged");
    expect(r.stderr).not.toContain("Building: cargo");
    expect(await appSha()).toBe(before);
    expect(await answer("r/hello")).toBe("Hi again from rust-hello: 42\n");
  }, 600_000);

  it("a toolchain that does not exist, and a missing Cargo.lock, fail in one sentence", async () => {
    const bad = await copy("rust-hello", "rust-bad");
    await writeFile(join(bad, "rust-toolchain.toml"), '[toolchain]\nchannel = "1.999.0"\n');
    const r = await berth(["build", bad, "-t", "r/bad"], { home: s.home });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /berth\/rust: rust-toolchain\.toml asks for Rust 1\.999\.0, and https:\/\/static\.rust-lang\.org\/dist\/channel-rust-1\.999\.0\.toml cannot be read/,
    );
    await rm(join(bad, "Cargo.lock"));
    const n = await berth(["build", bad, "-t", "r/bad"], { home: s.home });
    expect(n.code).not.toBe(0);
    expect(n.stderr).toContain("berth/rust: Cargo.toml has no Cargo.lock beside it");
  }, 300_000);
});
