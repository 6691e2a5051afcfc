/** Media types of the OCI image-spec and of Docker's image manifest v2 schema 2. */

export const MediaType = {
  OciDescriptor: "application/vnd.oci.descriptor.v1+json",
  OciLayoutHeader: "application/vnd.oci.layout.header.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNondist: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNondistGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNondistZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerLayerTar: "application/vnd.docker.image.rootfs.diff.tar",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerManifestV1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type Compression = "gzip" | "zstd" | "none";

export function isIndex(mt: string | undefined): boolean {
  return mt === MediaType.OciIndex || mt === MediaType.DockerManifestList;
}

export function isManifest(mt: string | undefined): boolean {
  return mt === MediaType.OciManifest || mt === MediaType.DockerManifest;
}

export function isDocker(mt: string | undefined): boolean {
  return typeof mt === "string" && mt.startsWith("application/vnd.docker.");
}

export function isConfig(mt: string | undefined): boolean {
  return mt === MediaType.OciConfig || mt === MediaType.DockerConfig;
}

/** The compression a layer media type declares, or undefined when it is not a known layer type. */
export function layerCompression(mt: string | undefined): Compression | undefined {
  switch (mt) {
    case MediaType.OciLayer:
    case MediaType.OciLayerNondist:
    case MediaType.DockerLayerTar:
      return "none";
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNondistGzip:
    case MediaType.DockerLayer:
    case MediaType.DockerForeignLayer:
      return "gzip";
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNondistZstd:
      return "zstd";
    default:
      return undefined;
  }
}

export function ociLayerType(compression: Compression): string {
  return compression === "gzip"
    ? MediaType.OciLayerGzip
    : compression === "zstd"
      ? MediaType.OciLayerZstd
      : MediaType.OciLayer;
}

/** Media type a Docker schema 2 manifest uses for a layer of this type (Docker has no zstd). */
export function toDockerLayerType(mt: string): string {
  switch (layerCompression(mt)) {
    case "gzip":
      return mt === MediaType.DockerForeignLayer ? mt : MediaType.DockerLayer;
    case "none":
      return MediaType.DockerLayerTar;
    default:
      return mt;
  }
}

export function toOciLayerType(mt: string): string {
  switch (mt) {
    case MediaType.DockerLayer:
      return MediaType.OciLayerGzip;
    case MediaType.DockerLayerTar:
      return MediaType.OciLayer;
    case MediaType.DockerForeignLayer:
      return MediaType.OciLayerNondistGzip;
    default:
      return mt;
  }
}

/** Sniff a stream's first bytes for its compression. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd)
    return "zstd";
  return "none";
}

/** The Accept header a client sends when asking for a manifest or index. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.OciManifest,
  MediaType.DockerManifestList,
  MediaType.DockerManifest,
];
