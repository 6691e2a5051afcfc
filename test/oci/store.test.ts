import { stat } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { copy } from "../../src/oci/copy.ts";
import type { OciLayout } from "../../src/oci/layout/layout.ts";
import { REF_NAME } from "../../src/oci/layout/layout.ts";
import { Store } from "../../src/oci/store.ts";
import { readIndex } from "../helpers/layout.ts";
import { errorOf, handLayout, type LayoutImage } from "../helpers/oci.ts";
import { tempDir } from "../helpers/temp.ts";

let dir: string;
let src: OciLayout;
let a: LayoutImage;
let b: LayoutImage;

beforeAll(async () => {
  dir = await tempDir();
  ({
    layout: src,
    images: [a, b],
  } = await handLayout(join(dir, "src"), "a", "b"));
});

describe("Store", () => {
  it("makes a private home with a layout at store/, its tags full references", async () => {
    const home = join(dir, "home1");
    const store = await Store.open(home);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect(store.layout.dir).toBe(join(home, "store"));
    await copy(src, a.manifest, store.sink("app"));
    await copy(src, b.manifest, store.sink(undefined));
    expect((await readIndex(join(home, "store"))).manifests.map((m) => m.annotations?.[REF_NAME])).toEqual([
      "docker.io/library/app:latest",
      undefined,
    ]);
    expect((await store.list()).map((e) => [e.name, e.descriptor.digest])).toEqual([
      ["docker.io/library/app:latest", a.manifest.digest],
      [undefined, b.manifest.digest],
    ]);
  });

  it("resolves a reference in normalised form, a digest reference also by digest alone", async () => {
    const store = await Store.open(join(dir, "home2"));
    expect(await store.tag(a.manifest, "example.test:5000/team/app:1")).toBe("example.test:5000/team/app:1");
    expect(await store.tag(b.manifest, "docker.io/library/app")).toBe("docker.io/library/app:latest");
    expect((await store.resolve("app")).digest).toBe(b.manifest.digest);
    expect((await store.resolve("example.test:5000/team/app:1")).digest).toBe(a.manifest.digest);
    expect((await store.resolve(`other@${a.manifest.digest}`)).digest).toBe(a.manifest.digest);
    const err = await errorOf(() => store.resolve("app:2"));
    expect([err.code, err.message, err.hint]).toEqual([
      "IMAGE_NOT_FOUND",
      "no image docker.io/library/app:2 in the local store",
      "list the store's images with `berth images`, or pull the image first",
    ]);
    expect((await errorOf(() => store.resolve("Bad Ref"))).code).toBe("REFERENCE_INVALID");
  });

  it("untags by normalised reference, naming the reference it lacks", async () => {
    const store = await Store.open(join(dir, "home3"));
    await store.tag(a.manifest, "app:1");
    expect((await store.untag("docker.io/library/app:1")).digest).toBe(a.manifest.digest);
    expect(await store.list()).toEqual([]);
    const err = await errorOf(() => store.untag("app:1"));
    expect([err.code, err.message]).toEqual([
      "IMAGE_NOT_FOUND",
      "no image docker.io/library/app:1 in the local store",
    ]);
    expect(Store.normalize(`library/app@${a.manifest.digest}`)).toBe(
      `docker.io/library/app@${a.manifest.digest}`,
    );
  });
});
