/** Image editing on top of any transport: append layers, change the config, export the filesystem. */
export { type AppendOptions, appendLayers, editImage, epochToRfc3339, type LayerDir } from "./append.ts";
export { type ExecutableImageOptions, executableImage, SELF_PATH, sharedLibraries } from "./executable.ts";
export { exportFilesystem } from "./export.ts";
/** crane-style everyday calls on plain strings: `images.pull(ref, { home })` (image/facade.ts). */
export * as images from "./facade.ts";
export { type ConfigChanges, mutateImage } from "./mutate.ts";
