/** Buildpackages: pack's package.toml and buildpackage images or `.cnb` files. */
export { type PackageConfig, type PackageDependency, readPackageConfig } from "../files/package.ts";
export { type PackageOptions, type PackageResult, packageBuildpack } from "./package.ts";
