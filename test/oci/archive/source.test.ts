import { describe, expect, it } from "vitest";
import { type ArchiveImage, dockerNormalize, resolveImage } from "../../../src/oci/archive/source.ts";
import { MediaType } from "../../../src/oci/mediatype.ts";
import { errorOf } from "../../helpers/oci.ts";

const image = (n: number, tags: string[]): ArchiveImage => ({
  descriptor: { mediaType: MediaType.OciManifest, digest: `sha256:${String(n).repeat(64)}`, size: n },
  tags,
});
const one = image(1, ["app:1"]);
const two = image(2, ["app:2", "other:latest"]);
const untagged = image(3, []);
const exact = (n: string) => n;

describe("resolveImage", () => {
  it("gives the only image without a reference", () => {
    expect(resolveImage("a.tar", [one], undefined, exact)).toBe(one.descriptor);
    expect(resolveImage("a.tar", [one], "", exact)).toBe(one.descriptor);
  });

  it("finds an image by @N, digest or tag", () => {
    const images = [one, two, untagged];
    expect(resolveImage("a.tar", images, "@2", exact)).toBe(untagged.descriptor);
    expect(resolveImage("a.tar", images, two.descriptor.digest, exact)).toBe(two.descriptor);
    expect(resolveImage("a.tar", images, "other:latest", exact)).toBe(two.descriptor);
  });

  it("compares tags in the form `normalize` gives", () => {
    expect(resolveImage("a.tar", [one, two], "docker.io/library/other", dockerNormalize)).toBe(
      two.descriptor,
    );
    expect(() => resolveImage("a.tar", [one, two], "docker.io/library/other", exact)).toThrow(
      /no image tagged/,
    );
  });

  it.each([
    [[], undefined, "archive a.tar holds no image"],
    [[one, two], undefined, "archive a.tar holds 2 images; name one (app:1, app:2, other:latest)"],
    [[untagged, untagged], "", "archive a.tar holds 2 images; name one (none is tagged; use @0, @1, …)"],
    [[one], "@1", "archive a.tar has no image @1 (it holds 1)"],
    [[one, two], "app:3", "archive a.tar has no image tagged app:3 (it has app:1, app:2, other:latest)"],
  ])("refuses %#: %s", async (images, ref, message) => {
    const err = await errorOf(() => resolveImage("a.tar", images, ref, exact));
    expect(err.code).toBe("IMAGE_NOT_FOUND");
    expect(err.message).toBe(message);
    expect(err.details.archive).toBe("a.tar");
  });
});

describe("dockerNormalize", () => {
  it("normalises a reference as docker does, and keeps a name that is not one", () => {
    expect(dockerNormalize("app:1")).toBe("docker.io/library/app:1");
    expect(dockerNormalize("app")).toBe("docker.io/library/app:latest");
    expect(dockerNormalize("Not A Ref")).toBe("Not A Ref");
  });
});
