import { BerthError } from "../errors.ts";
import type { Platform } from "../oci/platform.ts";
import { Store } from "../oci/store.ts";
import { parseImageArgument } from "../transport/parse.ts";
import type { Cli } from "./env.ts";
import { info } from "./output.ts";
import { TransferProgress } from "./progress.ts";

/** pack's `--pull-policy` for the builder and the run image of a buildpacks build. */
export type PackPullPolicy = "always" | "if-not-present" | "never";

export function parsePackPullPolicy(value: string): PackPullPolicy {
  if (value === "always" || value === "if-not-present" || value === "never") return value;
  throw new BerthError(
    "USAGE",
    `--pull-policy must be always, if-not-present or never, not ${JSON.stringify(value)}`,
  );
}

/** The registry's image under REF (this platform's, or `platform`'s) into the local store under REF. */
export async function pullIntoStore(cli: Cli, ref: string, platform?: Platform): Promise<void> {
  const progress = new TransferProgress(cli.out);
  const { copyImage } = await import("../transport/copy.ts");
  try {
    await copyImage(parseImageArgument(`docker://${ref}`), { transport: "store", ref, text: ref }, cli.ctx, {
      ...(platform ? { platform } : {}),
      ...progress.hooks,
    });
  } finally {
    progress.close();
  }
  progress.finish(`Pulled ${Store.normalize(ref)}`);
}

/**
 * Make a store name (a bare reference) ready as pack's pull policy says: pulled every time (`always`), when
 * the store lacks it (`if-not-present`), or never (missing: an error naming the policy). Other transports
 * (`oci:`, `docker://`, archives) are read in place and left alone.
 */
export async function ensureInStore(
  cli: Cli,
  text: string,
  policy: PackPullPolicy,
  what: string,
): Promise<void> {
  const arg = parseImageArgument(text);
  if (arg.transport !== "store") return;
  if (policy === "always") {
    info(cli.out, `Pulling ${what} ${Store.normalize(arg.ref)} (--pull-policy always)`);
    await pullIntoStore(cli, arg.ref);
    return;
  }
  const store = await Store.open(cli.ctx.home);
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
  info(cli.out, `No ${what} ${Store.normalize(arg.ref)} in the local store, pulling it`);
  await pullIntoStore(cli, arg.ref);
}
