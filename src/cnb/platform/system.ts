/**
 * System buildpacks (builder.toml `[system.pre]` / `[system.post]`, Platform API 0.15): pack resolves their
 * versions against the builder's buildpacks and stores them in `/cnb/system.toml` (under a `[system]` table)
 * and the `io.buildpacks.buildpack.system` label; the lifecycle's detector reads `/cnb/system.toml` and puts
 * the pre buildpacks before and the post buildpacks after every group of the order, leaving out any whose
 * id the group already holds (lc phase/hermetic_factory.go `mergeSystemBuildpacks`). The lifecycle's system
 * file has no `optional`: a system buildpack is a required member of every group, here as there.
 */
import { BerthError } from "../../errors.ts";
import { bpKey, type ModuleRef, type Order } from "../buildpack/descriptor.ts";
import type { BuildpackStore } from "../buildpack/store.ts";
import { Fields, parseToml } from "../toml.ts";

export const SYSTEM_LABEL = "io.buildpacks.buildpack.system";

export interface SystemBuildpacks {
  pre: ModuleRef[];
  post: ModuleRef[];
}

export const NO_SYSTEM: SystemBuildpacks = { pre: [], post: [] };

/** pack's `processSystem` at builder creation: every system buildpack names one the builder holds. */
export function resolveSystem(
  system: SystemBuildpacks,
  store: BuildpackStore,
  where: string,
): SystemBuildpacks {
  const resolve = (refs: ModuleRef[], key: string) =>
    refs.map((r, i) => {
      const versions = store.versionsOf(r.id);
      if (versions.length === 0) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `${where}: system.${key}.buildpacks[${i}]: no versions of buildpack ${JSON.stringify(r.id)} were found on the builder`,
        );
      }
      if (r.version && !versions.includes(r.version)) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `${where}: system.${key}.buildpacks[${i}]: buildpack ${bpKey(r.id, r.version)} is not on the builder (versions present: ${versions.join(", ")})`,
        );
      }
      if (!r.version && versions.length > 1) {
        throw new BerthError(
          "CNB_CONFIG_INVALID",
          `${where}: system.${key}.buildpacks[${i}]: multiple versions of ${JSON.stringify(r.id)} are on the builder; name one`,
        );
      }
      const out: ModuleRef = { id: r.id, version: r.version ?? versions[0]! };
      if (r.optional) out.optional = true;
      return out;
    });
  return { pre: resolve(system.pre, "pre"), post: resolve(system.post, "post") };
}

export function hasSystem(s: SystemBuildpacks): boolean {
  return s.pre.length > 0 || s.post.length > 0;
}

/** The `io.buildpacks.buildpack.system` label, as pack writes it (empty sides left out). */
export function systemLabel(s: SystemBuildpacks): string {
  const side = (refs: ModuleRef[]) => ({
    buildpacks: refs.map((r) => ({
      id: r.id,
      version: r.version,
      ...(r.optional ? { optional: true } : {}),
    })),
  });
  return JSON.stringify({
    ...(s.pre.length ? { pre: side(s.pre) } : {}),
    ...(s.post.length ? { post: side(s.post) } : {}),
  });
}

/** `/cnb/system.toml`, as pack writes it. */
export function systemToml(s: SystemBuildpacks): string {
  let out = "[system]\n";
  for (const [key, refs] of [
    ["pre", s.pre],
    ["post", s.post],
  ] as const) {
    if (!refs.length) continue;
    out += `  [system.${key}]\n`;
    for (const r of refs) {
      out += `\n    [[system.${key}.buildpacks]]\n      id = ${JSON.stringify(r.id)}\n      version = ${JSON.stringify(r.version ?? "")}\n`;
      if (r.optional) out += "      optional = true\n";
    }
  }
  return out;
}

/**
 * A `[system]` table (builder.toml's, `/cnb/system.toml`'s): `[[system.pre.buildpacks]]` and
 * `[[system.post.buildpacks]]`, each an id with an optional version, and `optional` where `withOptional`.
 */
export function parseSystemTable(system: Fields | undefined, withOptional: boolean): SystemBuildpacks {
  const side = (key: string) =>
    (system?.sub(key)?.list("buildpacks") ?? []).map((b) => {
      const ref: ModuleRef = { id: b.requiredStr("id") };
      const v = b.str("version");
      if (v) ref.version = v;
      if (withOptional && b.bool("optional")) ref.optional = true;
      return ref;
    });
  return { pre: side("pre"), post: side("post") };
}

/** Read `/cnb/system.toml` (lc platform/files `ReadSystem`: the `[system]` table, which has no `optional`). */
export function parseSystemToml(text: string, file: string): SystemBuildpacks {
  const origin = { file, code: "CNB_CONFIG_INVALID" as const };
  return parseSystemTable(new Fields(parseToml(text, origin), origin).sub("system"), false);
}

/** The lifecycle's merge: pre buildpacks before, post after, every group; ids a group holds are left out. */
export function withSystemBuildpacks(order: Order, s: SystemBuildpacks): Order {
  if (!hasSystem(s)) return order;
  return order.map((g) => {
    const missing = (refs: ModuleRef[]) =>
      refs
        .filter((r) => !g.group.some((m) => m.id === r.id))
        .map((r) => ({ id: r.id, ...(r.version ? { version: r.version } : {}) }));
    return { group: [...missing(s.pre), ...g.group, ...missing(s.post)] };
  });
}
