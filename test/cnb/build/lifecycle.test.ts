/**
 * build/lifecycle.ts: the trusted-builders list and where the lifecycle's layout mode keeps an image. (The
 * build itself, with the reference lifecycle, runs in test/cnb/lifecycle/.)
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { intoLayout, layoutPathOf, trustedBuilders } from "../../../src/cnb/build/lifecycle.ts";
import { openImage } from "../../../src/cnb/image.ts";
import { hostPlatform } from "../../../src/oci/platform.ts";
import { copyImage } from "../../../src/transport/copy.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";
import { tempDir } from "../../helpers/temp.ts";
import { twoPlatformImage } from "../helpers.ts";

describe("trustedBuilders", () => {
  it("reads one name a line, dropping comments and blank lines; none without the file", async () => {
    const home = await tempDir("berth-cnb-trust-");
    expect(await trustedBuilders(home)).toEqual([]);
    await writeFile(
      join(home, "trusted-builders"),
      "# mine\n127.0.0.1:5000/builder:1  # ci\n\n  local/builder\n#off\n",
    );
    expect(await trustedBuilders(home)).toEqual(["127.0.0.1:5000/builder:1", "local/builder"]);
  });
});

describe("layoutPathOf", () => {
  it("is <registry>/<repository>/<tag>, latest by default, or <registry>/<repository>/sha256/<hex>", () => {
    const hex = "a".repeat(64);
    expect(layoutPathOf("127.0.0.1:5000/team/app:1.2")).toBe("127.0.0.1:5000/team/app/1.2");
    expect(layoutPathOf("127.0.0.1:5000/app")).toBe("127.0.0.1:5000/app/latest");
    expect(layoutPathOf(`127.0.0.1:5000/app@sha256:${hex}`)).toBe(`127.0.0.1:5000/app/sha256/${hex}`);
    expect(layoutPathOf("localhost:5000/x")).toBe("localhost:5000/x/latest");
  });

  it("reads a name as go-containerregistry does: a registry only with '.' or ':', Docker Hub's index.docker.io", () => {
    const hex = "b".repeat(64);
    expect(layoutPathOf("localhost/berth-lifecycle-build:latest")).toBe(
      "index.docker.io/localhost/berth-lifecycle-build/latest",
    );
    expect(layoutPathOf("localhost/run")).toBe("index.docker.io/localhost/run/latest");
    expect(layoutPathOf("app:1")).toBe("index.docker.io/library/app/1");
    expect(layoutPathOf("team/app")).toBe("index.docker.io/team/app/latest");
    expect(layoutPathOf("docker.io/app")).toBe("index.docker.io/library/app/latest");
    expect(layoutPathOf("index.docker.io/library/app:2")).toBe("index.docker.io/library/app/2");
    expect(layoutPathOf("registry-1.docker.io/app")).toBe("registry-1.docker.io/app/latest");
    expect(layoutPathOf(`localhost/app:1@sha256:${hex}`)).toBe(`index.docker.io/localhost/app/sha256/${hex}`);
  });
});

describe("intoLayout", () => {
  it("writes the given platform's image of a multi-platform image (the builder's, as pack's targetToUse)", async () => {
    const dir = await tempDir("berth-cnb-intolayout-");
    const ctx = { home: join(dir, "home"), env: {} };
    const both = await twoPlatformImage(dir, ctx.home);
    await copyImage(parseImageArgument(both), parseImageArgument("example.test/run:1"), ctx, { all: true });
    const other = hostPlatform().architecture === "arm64" ? "amd64" : "arm64";
    const layoutDir = join(dir, "layout-repo");
    // Without the platform (as before the fix) this machine's image went into the layout.
    await intoLayout("example.test/run:1", layoutDir, ctx, { os: "linux", architecture: other });
    const opened = await openImage(`oci:${join(layoutDir, layoutPathOf("example.test/run:1"))}`, ctx);
    try {
      expect(opened.image.platform()?.architecture).toBe(other);
    } finally {
      await opened.close();
    }
  });
});
