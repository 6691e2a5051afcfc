import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { goDuration, skopeoCopyOptions } from "../../src/cli/copy-options.ts";
import { hostPlatform } from "../../src/oci/platform.ts";
import { parseImageArgument } from "../../src/transport/parse.ts";
import { runCommand, storedImage } from "../helpers/cli-commands.ts";
import { tempDir } from "../helpers/temp.ts";

const oci = parseImageArgument("oci:/l:t");
const read = (flags: Record<string, string | boolean>, dst = oci) => skopeoCopyOptions(flags, dst);
const usage = (flags: Record<string, string | boolean>, message: string, dst = oci) =>
  expect(() => read(flags, dst)).toThrow(expect.objectContaining({ code: "USAGE", message }));

describe("skopeoCopyOptions", () => {
  it("maps --multi-arch and --override-* to --all and --platform", () => {
    expect(read({ multiArch: "all" })).toMatchObject({ all: true, platform: undefined });
    expect(read({ multiArch: "system" })).toMatchObject({ all: false, platform: undefined });
    expect(read({ overrideArch: "arm64", overrideVariant: "v8" }).platform).toEqual({
      os: hostPlatform().os,
      architecture: "arm64",
      variant: "v8",
    });
    expect(read({ platform: "linux/s390x" }).platform).toEqual({ os: "linux", architecture: "s390x" });
  });

  it("refuses bad values and conflicts naming the flag", () => {
    usage({ multiArch: "some" }, '--multi-arch takes system, all or index-only, not "some"');
    expect(read({ multiArch: "index-only" })).toMatchObject({ all: true, indexOnly: true });
    // an index without its images fits neither the local store nor a docker-archive
    usage(
      { multiArch: "index-only" },
      "--multi-arch index-only copies no image, and app:1 (the local store) keeps whole images only",
      parseImageArgument("app:1"),
    );
    usage(
      { multiArch: "index-only" },
      "--multi-arch index-only copies no image, and docker-archive:/a.tar is a docker-archive, which holds no index",
      parseImageArgument("docker-archive:/a.tar"),
    );
    usage(
      { multiArch: "all", platform: "linux/amd64" },
      "--all (or --multi-arch all) and --platform cannot be used together",
    );
    usage(
      { overrideOs: "linux", platform: "linux/amd64" },
      "--override-os/--override-arch/--override-variant and --platform cannot be used together",
    );
    usage(
      { format: "v2s1" },
      "--format v2s1 is refused: Docker's schema 1 manifests are deprecated and berth writes none",
    );
    usage({ format: "docker" }, '--format takes oci, v2s2 or v2s1, not "docker"');
    usage(
      { format: "oci" },
      "--format oci cannot be written to a docker-archive, which holds Docker's format only",
      parseImageArgument("docker-archive:/a.tar"),
    );
    usage({ retryTimes: "-1" }, '--retry-times takes a whole number, not "-1"');
    usage({ retryDelay: "2" }, '--retry-delay takes a duration such as 500ms or 2s, not "2"');
  });

  it("refuses signing, encryption, shared blob directories, daemons and recompression, naming the flag", () => {
    usage(
      { signBy: "ABC" },
      "--sign-by is not supported: berth does not sign images: sign the copy afterwards (skopeo standalone-sign, cosign)",
    );
    usage(
      { destSharedBlobDir: "/d" },
      "--dest-shared-blob-dir is not supported: berth's OCI layouts keep their blobs inside the layout",
    );
    usage({ destDecompress: true }, "--dest-decompress is not supported: berth has no dir: transport");
    usage({ destCompressFormat: "xz" }, '--dest-compress-format takes gzip or zstd, not "xz"');
    usage(
      { destCompressFormat: "gzip", destCompressLevel: "10" },
      '--dest-compress-level for gzip takes 1 to 9, not "10"',
    );
    usage({ destCompressLevel: "3" }, "--dest-compress-level needs --dest-compress-format");
    usage(
      { destCompressFormat: "zstd", preserveDigests: true },
      "--dest-compress-format rewrites layers, so it cannot be used with --preserve-digests",
    );
    expect(read({ destCompressFormat: "zstd", destCompressLevel: "19" }).compress).toEqual({
      compression: "zstd",
      level: 19,
    });
  });

  it("reads --retry-times as attempts, --retry-delay as a Go duration", () => {
    expect(read({ retryTimes: "3", retryDelay: "1m2.5s" }).retry).toEqual({ attempts: 4, baseDelay: 62_500 });
    expect(read({}).retry).toBeUndefined();
    expect([goDuration("500ms", "-"), goDuration("0", "-"), goDuration("1h", "-")]).toEqual([
      500, 0, 3_600_000,
    ]);
  });
});

describe("berth copy --format", () => {
  it("refuses a conversion --preserve-digests forbids before writing anything", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    const out = join(home, "out");
    const argv = ["copy", "--format", "v2s2", "--preserve-digests", "app:1", `oci:${out}:t`];
    const r = await runCommand(argv, { home });
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: expect.stringMatching(
        /--format v2s2 changes the manifest's digest, and --preserve-digests forbids it$/,
      ),
    });
    expect(existsSync(out)).toBe(false);
    const ok = await runCommand(["copy", "--format", "oci", "--retry-times", "2", "app:1", `oci:${out}:t`], {
      home,
    });
    expect(ok.error).toBeUndefined();
  });
});

describe("berth copy --format with --dest-compress-format", () => {
  it("to Docker's format compresses first (a zstd image needs gzip), to OCI converts first", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    const z = `oci:${join(home, "z")}:t`;
    expect(
      (await runCommand(["copy", "--dest-compress-format", "zstd", "-f", "oci", "app:1", z], { home })).error,
    ).toBeUndefined();
    const refused = await runCommand(["copy", "-f", "v2s2", z, `oci:${join(home, "d1")}:t`], { home });
    expect(refused.error).toMatchObject({ code: "USAGE", hint: "add --dest-compress-format gzip" });
    const argv = [
      "copy",
      "--json",
      "-f",
      "v2s2",
      "--dest-compress-format",
      "gzip",
      z,
      `oci:${join(home, "d2")}:t`,
    ];
    const ok = await runCommand(argv, { home });
    expect(ok.error).toBeUndefined();
    expect(JSON.parse(ok.stdout).root.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
  });
});

describe("berth copy --dest-compress-format --multi-arch index-only", () => {
  it("is refused: no image is copied to recompress", async () => {
    const home = await tempDir();
    await storedImage(home, "app:1", { "a.txt": "a" });
    const r = await runCommand(
      [
        "copy",
        "--multi-arch",
        "index-only",
        "--dest-compress-format",
        "zstd",
        "app:1",
        `oci:${join(home, "o")}:t`,
      ],
      { home },
    );
    expect(r.error).toMatchObject({
      code: "USAGE",
      message: "--dest-compress-format rewrites images, and --multi-arch index-only copies none",
    });
    expect(existsSync(join(home, "o"))).toBe(false);
  });
});
