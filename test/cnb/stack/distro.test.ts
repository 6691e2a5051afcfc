/** `berth stack create --distro` names (src/cnb/stack/distro.ts): codename, name:codename, name:version, and the stack id. */
import { describe, expect, it } from "vitest";
import { parseDistro, stackId } from "../../../src/cnb/stack/distro.ts";

describe("parseDistro", () => {
  it("the three spellings of one distribution agree", () => {
    const bookworm = {
      name: "debian",
      codename: "bookworm",
      version: "12",
      mirror: "http://deb.debian.org/debian",
      components: ["main"],
    };
    expect(parseDistro("bookworm")).toEqual(bookworm);
    expect(parseDistro("debian:bookworm")).toEqual(bookworm);
    expect(parseDistro("debian:12")).toEqual(bookworm);
    expect(parseDistro("ubuntu:24.04")).toMatchObject({
      codename: "noble",
      components: ["main", "universe"],
    });
  });

  it("each result has its own components list (a caller's push does not change the next)", () => {
    parseDistro("jammy").components.push("restricted");
    expect(parseDistro("jammy").components).toEqual(["main", "universe"]);
  });

  it("an unknown name, or a codename under the wrong distribution, is a usage error listing what berth knows", () => {
    for (const bad of ["debian:noble", "fedora:40", "sid", ""]) {
      let err: { code?: string; message: string } | undefined;
      try {
        parseDistro(bad);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err).toEqual(
        expect.objectContaining({
          code: "USAGE",
          message: `unknown distribution ${JSON.stringify(bad)}: berth knows debian:bullseye, debian:bookworm, debian:trixie, ubuntu:jammy, ubuntu:noble`,
        }),
      );
    }
  });
});

describe("stackId", () => {
  it("io.berth.stacks.<name>-<codename>", () => {
    expect(stackId(parseDistro("ubuntu:22.04"))).toBe("io.berth.stacks.ubuntu-jammy");
  });
});
