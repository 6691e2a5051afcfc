import { join } from "node:path";
import { BerthError } from "../errors.ts";
import { makePrivateHome } from "../util/home.ts";
import type { Descriptor } from "./descriptor.ts";
import { OciLayout, REF_NAME } from "./layout/layout.ts";
import { LayoutSink } from "./layout/sink.ts";
import { formatReference, parseReference } from "./reference.ts";

export interface StoreEntry {
  /** Full normalised reference, `docker.io/library/app:latest`; undefined for an untagged image. */
  name: string | undefined;
  descriptor: Descriptor;
}

/**
 * The local store: an OCI image layout at `$BERTH_HOME/store` whose tags are full normalised references, so
 * skopeo and umoci read it as they read any layout.
 */
export class Store {
  readonly layout: OciLayout;

  private constructor(layout: OciLayout) {
    this.layout = layout;
  }

  static async open(home: string): Promise<Store> {
    await makePrivateHome(home);
    return new Store(await OciLayout.openOrCreate(join(home, "store")));
  }

  /** `app` → `docker.io/library/app:latest`. */
  static normalize(ref: string): string {
    return formatReference(parseReference(ref));
  }

  async list(): Promise<StoreEntry[]> {
    return (await this.layout.entries()).map((d) => ({ name: d.annotations?.[REF_NAME], descriptor: d }));
  }

  /** The descriptor stored under a reference; a digest reference also matches any entry with that digest. */
  async resolve(ref: string): Promise<Descriptor> {
    const parsed = parseReference(ref);
    const name = formatReference(parsed);
    const entries = await this.layout.entries();
    const hit =
      entries.find((e) => e.annotations?.[REF_NAME] === name) ??
      (parsed.digest ? entries.find((e) => e.digest === parsed.digest) : undefined);
    if (!hit) {
      throw new BerthError("IMAGE_NOT_FOUND", `no image ${name} in the local store`, {
        hint: "list the store's images with `berth images`, or pull the image first",
      });
    }
    return hit;
  }

  async tag(desc: Descriptor, ref: string): Promise<string> {
    const name = Store.normalize(ref);
    await this.layout.tag(desc, name);
    return name;
  }

  async untag(ref: string): Promise<Descriptor> {
    const name = Store.normalize(ref);
    try {
      return await this.layout.untag(name);
    } catch (err) {
      if (err instanceof BerthError && err.code === "IMAGE_NOT_FOUND") {
        throw new BerthError("IMAGE_NOT_FOUND", `no image ${name} in the local store`);
      }
      throw err;
    }
  }

  /** A sink that stores a copy under `ref` (untagged without one, as `docker load` keeps untagged images). */
  sink(ref: string | undefined): LayoutSink {
    return new LayoutSink(this.layout, ref === undefined ? undefined : Store.normalize(ref));
  }
}
