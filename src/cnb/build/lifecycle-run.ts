/**
 * What `berth build`, `berth detect` and `berth rebase` share when a CNB lifecycle runs their phases
 * (`--lifecycle builder`): the builder and the lifecycle it carries with the Platform API negotiated, registry
 * credentials as the lifecycle takes them (`CNB_REGISTRY_AUTH`), and the order pack's ephemeral builder would
 * hold for `--buildpack` and project.toml's buildpacks (their folders and order.toml, mounted beside the
 * builder's own).
 */
import { chown, lchown, mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BerthError, isBerthError, wrapError } from "../../errors.ts";
import type { Platform } from "../../oci/platform.ts";
import { parseReference } from "../../oci/reference.ts";
import { type Credential, resolveCredential } from "../../registry/credentials.ts";
import type { TransportContext } from "../../transport/context.ts";
import { encodeOrder } from "../files/order.ts";
import { type OpenedImage, openImageFor } from "../image.ts";
import { type BuilderInfo, extractBuilder, readBuilderInfo } from "../platform/builder.ts";
import { type LifecycleDescriptor, lifecycleOfLabel } from "../platform/lifecycle.ts";
import { type Mount, negotiatePlatformApi } from "../platform/runner.ts";
import { orderOf, type RunOptions } from "./context.ts";

export interface LifecycleBuilder {
  opened: OpenedImage;
  info: BuilderInfo;
  lifecycle: LifecycleDescriptor;
  /** The Platform API berth and the lifecycle agreed on. */
  platformApi: string;
}

/** Open a builder for `--lifecycle builder`: it must carry a lifecycle berth can drive. The caller closes it. */
export async function openLifecycleBuilder(
  builderName: string,
  ctx: TransportContext,
  platform?: Platform,
): Promise<LifecycleBuilder> {
  const opened = await openImageFor("builder", builderName, ctx, platform).catch((err) => {
    throw isBerthError(err, "PLATFORM_NOT_FOUND") ? err : wrapError(`reading builder ${builderName}`, err);
  });
  try {
    const info = readBuilderInfo(opened.image, builderName);
    const lifecycle = lifecycleOfLabel(info.metadata?.lifecycle);
    if (!lifecycle) {
      throw new BerthError(
        "CNB_CONFIG_INVALID",
        `builder ${builderName} carries no lifecycle (its io.buildpacks.builder.metadata label claims none), so --lifecycle builder cannot run it`,
        {
          hint: "leave out --lifecycle builder (berth's own engine runs it), or make the builder with a [lifecycle]",
        },
      );
    }
    return { opened, info, lifecycle, platformApi: negotiatePlatformApi(lifecycle, builderName) };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/** A phase's non-zero exit, as one sentence. */
export function phaseFailed(phase: string, exitCode: number): BerthError {
  return new BerthError(
    "CNB_BUILD_FAILED",
    `the builder's lifecycle failed in ${phase} (exit code ${exitCode})`,
    {
      details: { phase, exitCode },
    },
  );
}

function authValue(c: Credential): string | undefined {
  if (c.kind === "basic") return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
  if (c.kind === "registryToken") return `Bearer ${c.token}`;
  return undefined;
}

/**
 * `CNB_REGISTRY_AUTH` for the registries of `refs`, as pack passes it to the phases that touch a registry:
 * `{"host": "Basic …"}` for each registry berth holds credentials for (`{}` for anonymous ones).
 */
export async function lifecycleAuthEnv(refs: readonly string[], ctx: TransportContext): Promise<string> {
  const auth: Record<string, string> = {};
  for (const ref of refs) {
    const registry = parseReference(ref).registry;
    const c = await resolveCredential(registry, { env: ctx.env });
    const v = c && authValue(c);
    if (v) auth[registry] = v;
  }
  return `CNB_REGISTRY_AUTH=${JSON.stringify(auth)}`;
}

/** Where the order pack's ephemeral builder would hold is mounted, and the flags that point the phases at it. */
const ORDER_FOLDERS = { buildpacks: "/berth/buildpacks", order: "/berth/order" } as const;

export interface LifecycleOrder {
  mounts: Mount[];
  /** `-buildpacks …` (detector, builder, creator) and `-order …` (detector, creator). */
  buildpacksArgs: string[];
  orderArgs: string[];
}

/**
 * `--buildpack` and project.toml's buildpacks (group, pre, post), as pack takes them into its ephemeral
 * builder: the builder's buildpacks and the added ones in one folder, and the order they make, both mounted
 * read-only; undefined when the builder's own order stands.
 */
export async function lifecycleOrder(
  o: Pick<RunOptions, "buildpacks" | "cwd" | "project" | "ctx" | "logger" | "builder">,
  info: BuilderInfo,
  work: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<LifecycleOrder | undefined> {
  const p = o.project;
  if (!o.buildpacks?.length && !p?.group.length && !p?.pre.length && !p?.post.length) return undefined;
  const builder = await extractBuilder(info, join(work, "builder"));
  const order = await orderOf({ ...o, work }, builder);
  const orderDir = join(work, "order");
  await mkdir(orderDir, { recursive: true });
  await writeFile(join(orderDir, "order.toml"), encodeOrder(order));
  if (owner) await chownTree(builder.buildpacksDir, owner.uid, owner.gid);
  return {
    mounts: [
      { source: builder.buildpacksDir, destination: ORDER_FOLDERS.buildpacks, readonly: true },
      { source: orderDir, destination: ORDER_FOLDERS.order, readonly: true },
    ],
    buildpacksArgs: ["-buildpacks", ORDER_FOLDERS.buildpacks],
    orderArgs: ["-order", `${ORDER_FOLDERS.order}/order.toml`],
  };
}

/** Give a tree berth made to the CNB user (berth as root), links themselves not followed. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    await lchown(join(e.parentPath, e.name), uid, gid);
  }
}
