/** Image archives: docker-archive (`docker save`) and oci-archive (a tar of an OCI image layout). */

export type { DockerManifestEntry } from "./docker-manifest.ts";
export { openDockerArchive } from "./docker-read.ts";
export {
  type DockerArchiveImage,
  type WriteDockerArchiveOptions,
  writeDockerArchive,
} from "./docker-write.ts";
export { openOciArchive } from "./oci-read.ts";
export { OciArchiveSink, type OciArchiveSinkOptions, tarLayout } from "./oci-sink.ts";
export type { ArchiveImage, ArchiveSource, OpenArchiveOptions } from "./source.ts";
export { type TarEntry, TarIndex, type TarIndexOptions } from "./tarindex.ts";
export { TarWriter } from "./tarwriter.ts";
