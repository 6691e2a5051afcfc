/**
 * The tiny run image's layer (src/cnb/stack/tiny.ts) from the default build image's tree in the shared stack
 * cache: made twice, the same digest (reproducible for SOURCE_DATE_EPOCH); what it holds (libraries, CA bundle,
 * users, /tmp, dpkg records) and what it does not (a shell, coreutils, dpkg, apt); a tree without one of the
 * packages fails in one sentence naming it.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { RUN_USER } from "../../../src/cnb/stack/index.ts";
import { tinyLayer } from "../../../src/cnb/stack/tiny.ts";
import { berth } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/temp.ts";
import { homeWithSharedStack, imageConfig, SHARED_STACK_CACHE, shell } from "../default-builder/helpers.ts";

let dir: string;
let home: string;
let tree: string;

beforeAll(async () => {
  dir = await tempDir("berth-tiny-");
  home = await homeWithSharedStack(dir);
  const made = await berth(["builder", "default", "--create"], { home });
  if (made.code !== 0) throw new Error(`the default builder: ${made.stderr}`);
  const build = await imageConfig(home, "berth/default-build:bookworm");
  const key = JSON.parse(build.config.Labels?.["io.buildpacks.base.metadata"] ?? "{}").tree as string;
  tree = join(SHARED_STACK_CACHE, `rootfs-${key}`);
}, 1_800_000);

const make = (name: string, rootfs = tree, epoch = 1_700_000_000) =>
  tinyLayer(rootfs, {
    dest: join(dir, `${name}.tar.gz`),
    staging: join(dir, `staging-${name}`),
    user: RUN_USER,
    debianArch: "amd64",
    mtime: epoch,
    extraCas: [],
  });

describe("the tiny run image's layer", () => {
  it("is the same layer when made twice, and another SOURCE_DATE_EPOCH gives another", async () => {
    const a = await make("a");
    const b = await make("b");
    expect(b.layer.digest).toBe(a.layer.digest);
    expect(b.layer.diffId).toBe(a.layer.diffId);
    const c = await make("c", tree, 1_700_000_001);
    expect(c.layer.diffId).not.toBe(a.layer.diffId);
    expect(a.packages.map((p) => p.split(" ")[0])).toEqual([
      "base-files",
      "ca-certificates",
      "libc6",
      "libgcc-s1",
      "libssl3",
      "libstdc++6",
      "tzdata",
      "zlib1g",
    ]);
    console.log(`tiny layer: ${(a.layer.size / 1024 / 1024).toFixed(1)} MiB compressed`);
    expect(a.layer.size).toBeLessThan(8 * 1024 * 1024);
  }, 300_000);

  it("holds the run-time libraries, the CA bundle, the users, /tmp and dpkg records; no shell or package tools", async () => {
    const listing = await shell(`tar -tvzf ${join(dir, "a.tar.gz")}`);
    const names = listing
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(/\s+/).slice(5).join(" "));
    for (const f of [
      "usr/lib/x86_64-linux-gnu/libc.so.6",
      "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
      "usr/lib/x86_64-linux-gnu/libssl.so.3",
      "usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
      "etc/ssl/certs/ca-certificates.crt",
      "etc/passwd",
      "etc/nsswitch.conf",
      "usr/share/zoneinfo/Europe/Berlin",
      "var/lib/dpkg/status.d/libc6",
    ]) {
      expect(
        names.some((n) => n === f || n.startsWith(`${f} `)),
        f,
      ).toBe(true);
    }
    expect(names).toContain("lib64 -> usr/lib64");
    for (const f of [
      "bin/sh",
      "usr/bin/sh",
      "usr/bin/bash",
      "usr/bin/dpkg",
      "usr/bin/apt",
      "usr/bin/ls",
      "sbin/ldconfig",
    ]) {
      expect(
        names.some((n) => n === f || n.startsWith(`${f} `)),
        f,
      ).toBe(false);
    }
    expect(names.some((n) => n.includes("/gconv/"))).toBe(false);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    expect(listing).toMatch(/^drwxr-x--- 1001\/1000 .* home\/cnb\/$/m);
    const out = join(dir, "a-tree");
    await mkdir(out, { recursive: true });
    await shell(`tar -xzf ${join(dir, "a.tar.gz")} -C ${out} etc/passwd var/lib/dpkg/status.d/libssl3`);
    const passwd = await shell(`cat ${out}/etc/passwd`);
    expect(passwd).toContain("cnb:x:1001:1000:CNB user:/home/cnb:/sbin/nologin\n");
    expect(await shell(`cat ${out}/var/lib/dpkg/status.d/libssl3`)).toMatch(
      /^Package: libssl3\n[\s\S]*Version: 3\./,
    );
  }, 120_000);

  it("a tree without one of the packages fails in one sentence naming the tree and the package", async () => {
    const fake = join(dir, "fake-tree");
    await mkdir(join(fake, "var/lib/dpkg"), { recursive: true });
    await writeFile(
      join(fake, "var/lib/dpkg/status"),
      "Package: base-files\nStatus: install ok installed\nVersion: 12.4\n",
    );
    await expect(make("fake", fake)).rejects.toThrow(
      /^making the tiny run image's layer from \S+\/fake-tree: the package base-files has no dpkg file list there$/,
    );
    await mkdir(join(fake, "var/lib/dpkg/info"), { recursive: true });
    await writeFile(join(fake, "var/lib/dpkg/info/base-files.list"), "/etc/debian_version\n");
    await expect(make("fake", fake)).rejects.toThrow(
      /^making the tiny run image's layer from \S+\/fake-tree: the package ca-certificates is not installed there$/,
    );
  });
});
