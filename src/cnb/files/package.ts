/**
 * pack's `package.toml` (pack: buildpackage/config_reader.go): `[buildpack] uri`, `[[dependencies]] uri|image`,
 * `[[targets]]` and the deprecated `[platform] os`. Relative URIs are resolved against the file's folder.
 */
import { dirname, resolve } from "node:path";
import { BerthError } from "../../errors.ts";
import { parseTargets, type Target } from "../buildpack/descriptor.ts";
import { Fields, type Origin, readToml } from "../toml.ts";

export interface PackageDependency {
  uri?: string;
  image?: string;
}

export interface PackageConfig {
  file: string;
  /** The folder relative URIs are resolved against. */
  dir: string;
  buildpack: { uri: string };
  dependencies: PackageDependency[];
  targets: Target[];
  /** `[platform] os`, deprecated in favour of targets. */
  platformOs?: string;
}

export async function readPackageConfig(file: string): Promise<PackageConfig> {
  const origin: Origin = { file, subject: "package config", code: "CNB_CONFIG_INVALID" };
  const doc = new Fields(await readToml(file, origin), origin);
  doc.only(["buildpack", "extension", "dependencies", "targets", "platform"]);
  if (doc.has("extension")) {
    throw doc.fail("extension", "is not supported: berth packages buildpacks, not image extensions");
  }
  const bp = doc.sub("buildpack");
  if (!bp) throw doc.fail("buildpack", 'is required ([buildpack] uri = "…")');
  bp.only(["uri"]);
  const uri = bp.requiredStr("uri");
  const dependencies = doc.list("dependencies").map((d) => {
    d.only(["uri", "image"]);
    const u = d.str("uri");
    const image = d.str("image");
    if ((u === undefined) === (image === undefined)) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `package config: ${file}: ${d.path} must have exactly one of uri and image`,
      );
    }
    return u === undefined ? { image: image! } : { uri: u };
  });
  const platform = doc.sub("platform");
  platform?.only(["os"]);
  const os = platform?.str("os");
  return {
    file,
    dir: dirname(resolve(file)),
    buildpack: { uri },
    dependencies,
    targets: parseTargets(doc),
    ...(os ? { platformOs: os } : {}),
  };
}
