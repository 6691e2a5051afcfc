/**
 * Pulls that builds and runs make on their own: a registry image into the local store, by pack's pull policy
 * (`build`: the builder and run image) or docker's (`run`: missing, always, never).
 */
import { BerthError } from "../errors.ts";
import type { CopyOptions } from "../oci/copy.ts";
import type { Platform } from "../oci/platform.ts";
import { Store } from "../oci/store.ts";
import { reported } from "../transport/context.ts";
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
 * the store lacks it (`if-not-present`), or never (missing: an error naming the policy). Other transports
 * (`oci:`, `docker://`, archives) are read in place and left alone.
 */
export async function ensureInStore(
  host: Host,
  text: string,
  policy: PackPullPolicy,
  what: string,
): Promise<void> {
  const arg = parseImageArgument(text);
  if (arg.transport !== "store") return;
  if (policy === "always") {
    host.info(`Pulling ${what} ${Store.normalize(arg.ref)} (--pull-policy always)`);
    await pullIntoStore(host, arg.ref);
    return;
  }
  const store = await Store.open(host.ctx.home);
  try {
    await store.resolve(arg.ref);
    return;
  } catch (err) {
    if (!(err instanceof BerthError && err.code === "IMAGE_NOT_FOUND")) throw err;
    if (policy === "never") {
      throw new BerthError(
        "IMAGE_NOT_FOUND",
        `no ${what} ${Store.normalize(arg.ref)} in the local store (--pull-policy never)`,
        { cause: err, hint: `pull it first (berth pull ${arg.ref}), or give --pull-policy if-not-present` },
      );
    }
  }
  host.info(`No ${what} ${Store.normalize(arg.ref)} in the local store, pulling it`);
  await pullIntoStore(host, arg.ref);
}
