/** Stacks: build and run images made from distribution packages. */
export { HOST_CA_DIR, readExtraCas } from "./cas.ts";
export {
  BUILD_USER,
  clearStackCache,
  createStack,
  DEFAULT_BUILD_PACKAGES,
  DEFAULT_RUN_PACKAGES,
  RUN_USER,
  type StackImage,
  type StackOptions,
  type StackResult,
  stackCacheDir,
} from "./create.ts";
export {
  DEFAULT_BUILDER,
  DEFAULT_BUILDER_SOURCE_LABEL,
  defaultBuilderName,
  definitionDigest,
  type EnsureDefaultBuilderOptions,
  type EnsuredBuilder,
  ensureDefaultBuilder,
  setDefaultBuilder,
} from "./default-builder.ts";
export { type Distro, parseDistro, stackId } from "./distro.ts";
export type { ExtraCa } from "./layer.ts";
export { bootstrapRootfs, checkDebootstrap, installedPackages, type Rootfs, rootfsKey } from "./rootfs.ts";
