/** Image editing on top of any transport: append layers, change the config, export the filesystem. */
export { type AppendOptions, appendLayers, editImage, epochToRfc3339, type LayerDir } from "./append.ts";
export { exportFilesystem } from "./export.ts";
export { type ConfigChanges, mutateImage } from "./mutate.ts";
