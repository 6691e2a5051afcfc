import { BerthError } from "../../errors.ts";
import type { BlobSource } from "../blob.ts";
import type { Descriptor } from "../descriptor.ts";
import { normalizeReference } from "../reference.ts";

/** One image (or index) an archive holds, with its tags. */
export interface ArchiveImage {
  descriptor: Descriptor;
  /**
   * Its names: for a docker-archive, `RepoTags` normalised (`docker.io/library/app:1`); for an oci-archive,
   * the `org.opencontainers.image.ref.name` values as written.
   */
  tags: string[];
}

/** An image archive opened for reading: a blob source that lists its images and resolves a reference. */
export interface ArchiveSource extends BlobSource {
  readonly format: "docker-archive" | "oci-archive";
  /** The archive file as given. */
  readonly path: string;
  images(): ArchiveImage[];
  /**
   * The descriptor of one image: by tag, by `@N` (its position, as skopeo's `docker-archive:FILE:@0`), or by
   * digest; without a reference, the archive's only image.
   */
  resolve(ref?: string): Promise<Descriptor>;
  /** Remove temp files (the decompressed copy of a compressed archive). */
  close(): Promise<void>;
}

export interface OpenArchiveOptions {
  /** Where temp files go (a compressed archive is decompressed there); default: the OS temp folder. */
  tmpDir?: string;
}

/**
 * Resolve a reference among an archive's images. `normalize` maps a reference and a tag to comparable
 * forms (docker-archive compares normalised references; oci-archive compares names exactly).
 */
export function resolveImage(
  archive: string,
  images: ArchiveImage[],
  ref: string | undefined,
  normalize: (name: string) => string,
): Descriptor {
  const listing = () => {
    const tags = images.flatMap((i) => i.tags);
    return tags.length > 0 ? tags.join(", ") : "none is tagged; use @0, @1, …";
  };
  if (ref === undefined || ref === "") {
    if (images.length === 1) return images[0]!.descriptor;
    throw new BerthError(
      "IMAGE_NOT_FOUND",
      images.length === 0
        ? `archive ${archive} holds no image`
        : `archive ${archive} holds ${images.length} images; name one (${listing()})`,
      { details: { archive } },
    );
  }
  const index = /^@(\d+)$/.exec(ref);
  if (index) {
    const n = Number(index[1]);
    const hit = images[n];
    if (hit) return hit.descriptor;
    throw new BerthError(
      "IMAGE_NOT_FOUND",
      `archive ${archive} has no image @${n} (it holds ${images.length})`,
      { details: { archive } },
    );
  }
  const byDigest = images.find((i) => i.descriptor.digest === ref);
  if (byDigest) return byDigest.descriptor;
  const want = normalize(ref);
  const hit = images.find((i) => i.tags.some((t) => normalize(t) === want));
  if (hit) return hit.descriptor;
  throw new BerthError(
    "IMAGE_NOT_FOUND",
    `archive ${archive} has no image tagged ${ref} (it has ${listing()})`,
    {
      details: { archive, ref },
    },
  );
}

/** Compare docker tags in normalised form; names that are not references compare as they are. */
export function dockerNormalize(name: string): string {
  try {
    return normalizeReference(name);
  } catch {
    return name;
  }
}
