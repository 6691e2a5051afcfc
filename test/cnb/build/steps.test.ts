/**
 * build/steps.ts: the name an image is shown by. (The steps themselves, analyze to export, need a build image
 * and run in test/cnb/cli/ and test/cnb/build.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { nameOf } from "../../../src/cnb/build/steps.ts";
import { parseImageArgument } from "../../../src/transport/parse.ts";

describe("nameOf", () => {
  it("is the reference for store and registry images, the argument as given for the others", () => {
    expect(nameOf(parseImageArgument("app:1"))).toBe("app:1");
    expect(nameOf(parseImageArgument("docker://127.0.0.1:5000/app:1"))).toBe("127.0.0.1:5000/app:1");
    expect(nameOf(parseImageArgument("oci:/tmp/layout:app"))).toBe("oci:/tmp/layout:app");
  });
});
