/** buildx's --progress (and BUILDKIT_PROGRESS), --push and --load as berth reads them. */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { applyProgress, progressMode, progressSource, pushLoad } from "../../src/cli/buildx-flags.ts";
import type { Output } from "../../src/cli/output.ts";

describe("progressMode", () => {
  it("takes --progress over BUILDKIT_PROGRESS, default auto", () => {
    expect(progressMode(undefined, {})).toBe("auto");
    expect(progressMode(undefined, { BUILDKIT_PROGRESS: "plain" })).toBe("plain");
    expect(progressMode("tty", { BUILDKIT_PROGRESS: "plain" })).toBe("tty");
    expect(progressMode("quiet", {})).toBe("quiet");
    expect(progressMode(undefined, { BUILDKIT_PROGRESS: "rawjson" })).toBe("rawjson");
  });

  it("names where a mode came from", () => {
    expect(progressSource("plain")).toBe("--progress");
    expect(progressSource(undefined)).toBe("BUILDKIT_PROGRESS");
  });

  it("refuses unknown values, naming where they came from", () => {
    expect(() => progressMode("fancy", {})).toThrow('--progress "fancy" is not a progress mode');
    expect(() => progressMode(undefined, { BUILDKIT_PROGRESS: "fancy" })).toThrow(
      'BUILDKIT_PROGRESS "fancy" is not a progress mode',
    );
  });
});

describe("applyProgress", () => {
  const output = (tty: boolean): Output => {
    const stderr = Object.assign(new PassThrough(), { isTTY: tty });
    return { stdout: new PassThrough(), stderr, quiet: false };
  };

  it("plain hides the terminal, tty shows one; writes still reach the stream", async () => {
    const plain = output(true);
    const stream = plain.stderr as PassThrough;
    applyProgress(plain, "plain");
    expect(plain.stderr.isTTY).toBe(false);
    plain.stderr.write("line\n");
    expect(String(stream.read())).toBe("line\n");
    const tty = output(false);
    applyProgress(tty, "tty");
    expect(tty.stderr.isTTY).toBe(true);
    const auto = output(true);
    applyProgress(auto, "auto");
    expect(auto.stderr.isTTY).toBe(true);
  });
});

describe("pushLoad", () => {
  it("--push is --publish", () => {
    expect(pushLoad({ push: true }, "127.0.0.1:5000/app:1")).toBe(true);
    expect(pushLoad({ publish: true }, "127.0.0.1:5000/app:1")).toBe(true);
    expect(pushLoad({}, "app:1")).toBe(false);
  });

  it("--load writes to the store: refused with --push, without -t, or with another transport", () => {
    expect(pushLoad({ load: true }, "app:1")).toBe(false);
    expect(() => pushLoad({ load: true, push: true }, "app:1")).toThrow(
      "--load writes the image to the store, and --push to its registry",
    );
    expect(() => pushLoad({ load: true }, undefined)).toThrow("--load writes -t's image to the store");
    expect(() => pushLoad({ load: true }, "oci:./out:app")).toThrow(
      "--load writes to the store, and -t oci:./out:app names another place",
    );
  });
});
