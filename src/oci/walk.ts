import { type BlobSource, readDocument } from "./blob.ts";
import type { Descriptor } from "./descriptor.ts";
import { parseIndex, parseManifest } from "./manifest.ts";
import { isIndex, isManifest } from "./mediatype.ts";

/** One piece of content reachable from a root. */
export type Node =
  | { kind: "index" | "manifest"; descriptor: Descriptor; bytes: Buffer; children: Descriptor[] }
  | { kind: "blob"; descriptor: Descriptor };

/**
 * Every piece of content reachable from `root`, each once, children before parents (so a sink that writes in
 * this order never holds a manifest whose content is missing). Manifests and indexes are read and parsed;
 * anything else (layers, configs, content of unknown media types) is a leaf blob, carried as it is.
 */
export async function walk(source: BlobSource, root: Descriptor): Promise<Node[]> {
  const out: Node[] = [];
  const seen = new Set<string>();
  const visit = async (desc: Descriptor): Promise<void> => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    if (isIndex(desc.mediaType)) {
      const bytes = await readDocument(source, desc, `index ${desc.digest}`);
      const index = parseIndex(bytes, `index ${desc.digest}`, desc.mediaType);
      for (const child of index.manifests) await visit(child);
      out.push({ kind: "index", descriptor: desc, bytes, children: index.manifests });
    } else if (isManifest(desc.mediaType)) {
      const bytes = await readDocument(source, desc, `manifest ${desc.digest}`);
      const manifest = parseManifest(bytes, `manifest ${desc.digest}`, desc.mediaType);
      const children = [manifest.config, ...manifest.layers];
      for (const child of children) await visit(child);
      out.push({ kind: "manifest", descriptor: desc, bytes, children });
    } else {
      out.push({ kind: "blob", descriptor: desc });
    }
  };
  await visit(root);
  return out;
}
