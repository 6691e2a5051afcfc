/** The buildpacks a phase can use, looked up by id and version (the lifecycle's DirStore). */
import { BerthError } from "../../errors.ts";
import { bpKey } from "./descriptor.ts";
import type { LoadedBuildpack } from "./load.ts";

export class BuildpackStore {
  readonly #byKey = new Map<string, LoadedBuildpack>();

  constructor(buildpacks: Iterable<LoadedBuildpack> = []) {
    for (const b of buildpacks) this.add(b);
  }

  /** Add a buildpack; a later one with the same id and version replaces the earlier (as pack does). */
  add(b: LoadedBuildpack): void {
    this.#byKey.set(bpKey(b.descriptor.buildpack.id, b.descriptor.buildpack.version), b);
  }

  all(): LoadedBuildpack[] {
    return [...this.#byKey.values()];
  }

  versionsOf(id: string): string[] {
    return this.all()
      .filter((b) => b.descriptor.buildpack.id === id)
      .map((b) => b.descriptor.buildpack.version);
  }

  /** The buildpack `id@version`; without a version, the only version present. */
  lookup(id: string, version?: string): LoadedBuildpack {
    if (version) {
      const b = this.#byKey.get(bpKey(id, version));
      if (b) return b;
    } else {
      const versions = this.versionsOf(id);
      if (versions.length === 1) return this.#byKey.get(bpKey(id, versions[0]))!;
      if (versions.length > 1) {
        throw new BerthError(
          "CNB_BUILDPACK_NOT_FOUND",
          `buildpack ${JSON.stringify(id)} is present in versions ${versions.join(", ")}: the order must name one`,
        );
      }
    }
    const have = this.versionsOf(id);
    throw new BerthError(
      "CNB_BUILDPACK_NOT_FOUND",
      `buildpack ${JSON.stringify(bpKey(id, version))} is not available${have.length ? ` (versions present: ${have.join(", ")})` : ""}`,
    );
  }
}
