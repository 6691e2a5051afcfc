/**
 * build/lifecycle.ts: the trusted-builders list and where the lifecycle's layout mode keeps an image. (The
 * build itself, with the reference lifecycle, runs in test/cnb/lifecycle/.)
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { layoutPathOf, trustedBuilders } from "../../../src/cnb/build/lifecycle.ts";
import { tempDir } from "../../helpers/temp.ts";

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
    expect(layoutPathOf("localhost/berth-lifecycle-build:latest")).toBe(
      "localhost/berth-lifecycle-build/latest",
    );
  });
});
