import { BerthError } from "../errors.ts";
import type { BlobSource } from "../oci/blob.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { OciLayout } from "../oci/layout/layout.ts";
import { LayoutSink } from "../oci/layout/sink.ts";
import { formatReference, parseReference } from "../oci/reference.ts";
import type { ImageSink } from "../oci/sink.ts";
import { Store } from "../oci/store.ts";
import { exists } from "../util/fs.ts";
import { type TransportContext, tmpDirOf } from "./context.ts";
import type { ImageArgument } from "./parse.ts";

/** An opened image source: where its blobs come from and the root its argument names. */
export interface OpenedSource {
  source: BlobSource;
  root: Descriptor;
  /** A name for the image, when the argument carries one (shown by inspect). */
  name: string | undefined;
  /**
   * The reference a docker-archive destination that names none is tagged with: a store or registry name (as
   * docker save tags it), a docker-archive's own tag. Never an OCI layout's `ref.name`, which may be just `v1`:
   * skopeo writes no RepoTags for those, and neither does berth.
   */
  tag: string | undefined;
  close(): Promise<void>;
}

const noop = async () => undefined;

// The archive and registry transports are loaded when an argument names them, so that commands reading the
// store or a layout (`berth run app`) do not pay for loading them.
const archives = () => import("../oci/archive/index.ts");
const registry = () => import("./registry.ts");

export async function openSource(arg: ImageArgument, ctx: TransportContext): Promise<OpenedSource> {
  switch (arg.transport) {
    case "store": {
      const store = await Store.open(ctx.home);
      return {
        source: store.layout,
        root: await store.resolve(arg.ref),
        name: Store.normalize(arg.ref),
        tag: Store.normalize(arg.ref),
        close: noop,
      };
    }
    case "oci": {
      const layout = await OciLayout.open(arg.path);
      return {
        source: layout,
        root: await layout.resolve(arg.ref),
        name: arg.ref,
        tag: undefined,
        close: noop,
      };
    }
    case "docker-archive":
    case "oci-archive": {
      const { openDockerArchive, openOciArchive } = await archives();
      const open = arg.transport === "docker-archive" ? openDockerArchive : openOciArchive;
      const archive = await open(arg.path, { tmpDir: tmpDirOf(ctx) });
      try {
        return {
          source: archive,
          root: await archive.resolve(arg.ref),
          name: arg.ref,
          tag: arg.transport === "docker-archive" ? archiveTag(arg.ref) : undefined,
          close: () => archive.close(),
        };
      } catch (err) {
        await archive.close();
        throw err;
      }
    }
    case "docker": {
      // The context's shared client: the context's owner closes it, so the image stays readable as long as
      // the context lives (a builder's layers are read again after it was opened).
      const { sharedClient, referenceTarget } = await registry();
      const client = await sharedClient(ctx);
      const ref = parseReference(arg.ref);
      const repo = client.repositoryOf(ref);
      return {
        source: repo,
        root: await repo.resolve(referenceTarget(ref)),
        name: formatReference(ref),
        tag: formatReference(ref),
        close: noop,
      };
    }
    case "scratch":
      throw new BerthError("USAGE", "scratch is not an image to read from here");
  }
}

/** A docker-archive's REF as a tag: a name it holds, not `@N` (its Nth image) or a digest. */
function archiveTag(ref: string | undefined): string | undefined {
  return ref && !/^@\d+$/.test(ref) && !ref.startsWith("sha256:") ? ref : undefined;
}

/** A sink for a destination argument. docker-archive destinations are written whole by `copyImage`. */
export async function openSink(arg: ImageArgument, ctx: TransportContext): Promise<ImageSink> {
  switch (arg.transport) {
    case "store":
      return (await Store.open(ctx.home)).sink(arg.ref);
    case "oci": {
      const created = !(await exists(arg.path));
      const layout = await OciLayout.openOrCreate(arg.path);
      // what killed writers left in it (a build's layers are put while it runs): no command sweeps it but this
      if (!created) await layout.sweep();
      return new LayoutSink(layout, arg.ref, created);
    }
    case "oci-archive":
      return (await archives()).OciArchiveSink.create(arg.path, {
        ref: arg.ref || undefined,
        tmpDir: tmpDirOf(ctx),
      });
    case "docker": {
      const { sharedClient, registrySink } = await registry();
      return registrySink(await sharedClient(ctx), parseReference(arg.ref));
    }
    case "docker-archive":
    case "scratch":
      throw new BerthError("USAGE", `${arg.text} cannot be written blob by blob`);
  }
}
