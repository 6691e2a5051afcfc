/**
 * Pulls that builds and runs make on their own: a registry image into the local store, by pack's pull policy
 * (`build`: the builder and run image) or docker's (`run`: missing, always, never).
 */
import { BerthError, isBerthError } from "../errors.ts";
import type { CopyOptions } from "../oci/copy.ts";
import { loadRoot, selectImage } from "../oci/image.ts";
import { formatPlatform, hostPlatform, type Platform, platformMatches } from "../oci/platform.ts";
import { Store } from "../oci/store.ts";
import { reported } from "../transport/context.ts";
import { openSource } from "../transport/open.ts";
import { parseImageArgument, registryArgument } from "../transport/parse.ts";
import type { Host } from "./host.ts";

/** pack's `--pull-policy` for the builder and the run image of a buildpacks build. */
export type PackPullPolicy = "always" | "if-not-present" | "never";

export function parsePackPullPolicy(value: string): PackPullPolicy {
  if (value === "always" || value === "if-not-present" || value === "never") return value;
  throw new BerthError(
    "USAGE",
    `--pull-policy must be always, if-not-present or never, not ${JSON.stringify(value)}`,
  );
}

/** When `run` (and `bundle`) pull from a registry (docker's `--pull`). */
export type PullPolicy = "missing" | "always" | "never";

export function parsePullPolicy(value: string): PullPolicy {
  if (value === "missing" || value === "always" || value === "never") return value;
  throw new BerthError("USAGE", `--pull must be missing, always or never, not ${JSON.stringify(value)}`);
}

/** The registry's image under REF (this platform's, or `platform`'s) into the local store under REF. */
export async function pullIntoStore(host: Host, ref: string, platform?: Platform): Promise<void> {
  // loaded on first use: `berth run` of an image in the store never needs the copy machinery
  const { copyImage } = await import("../transport/copy.ts");
  const pull = (hooks: Pick<CopyOptions, "onBlob" | "onPlan">) =>
    copyImage(registryArgument(ref), { transport: "store", ref, text: ref }, host.ctx, {
      platform,
      ...hooks,
    });
  if (host.ctx.progress) await reported(host.ctx.progress, () => `Pulled ${Store.normalize(ref)}`, pull);
  else await pull(host.onBlob ? { onBlob: host.onBlob } : {});
}

/**
 * Make a store name (a bare reference) ready as pack's pull policy says: pulled every time (`always`), when
 * the store lacks it (`if-not-present`), or never (missing: an error naming the policy). With a `platform`
 * (`berth build --platform`), a stored image that has no image for it counts as missing, and the pull takes
 * that platform's from an index. Other transports (`oci:`, `docker://`, archives) are read in place and left
 * alone.
 */
export async function ensureInStore(
  host: Host,
  text: string,
  policy: PackPullPolicy,
  what: string,
  platform?: Platform,
): Promise<void> {
  const arg = parseImageArgument(text);
  if (arg.transport !== "store") return;
  // the platform is named when it is not this machine's
  const other = platform && !platformMatches(hostPlatform(), platform) ? platform : undefined;
  const named = `${what} ${Store.normalize(arg.ref)}${other ? ` for ${formatPlatform(other)}` : ""}`;
  if (policy === "always") {
    host.info(`Pulling ${named} (--pull-policy always)`);
    await pullIntoStore(host, arg.ref, platform);
    return;
  }
  const missing = await storeLacks(host, arg.ref, platform);
  if (!missing) return;
  if (policy === "never") {
    throw new BerthError("IMAGE_NOT_FOUND", `no ${named} in the local store (--pull-policy never)`, {
      cause: missing,
      hint: `pull it first (berth pull ${other ? `--platform ${formatPlatform(other)} ` : ""}${arg.ref}), or give --pull-policy if-not-present`,
    });
  }
  host.info(`No ${named} in the local store, pulling it`);
  await pullIntoStore(host, arg.ref, platform);
}

/** Why the store cannot give REF (for `platform`, when given): its error, or undefined when it can. */
async function storeLacks(
  host: Host,
  ref: string,
  platform: Platform | undefined,
): Promise<Error | undefined> {
  const store = await Store.open(host.ctx.home);
  try {
    await store.resolve(ref);
    if (platform) {
      const opened = await openSource({ transport: "store", ref, text: ref }, host.ctx);
      try {
        await selectImage(await loadRoot(opened.source, opened.root), platform);
      } finally {
        await opened.close();
      }
    }
    return undefined;
  } catch (err) {
    if (isBerthError(err, "IMAGE_NOT_FOUND") || isBerthError(err, "PLATFORM_NOT_FOUND")) return err;
    throw err;
  }
}
