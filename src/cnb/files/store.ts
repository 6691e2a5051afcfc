/**
 * `<layers>/<buildpack>/store.toml` (Buildpack API): `[metadata]` a buildpack keeps from build to build. Written
 * by `bin/build` (read confined) and by restore from the previous image's label (in the lifecycle's bytes).
 */
import type { ConfinedTree } from "../../util/confined.ts";
import { encodeGoToml } from "../gotoml.ts";
import { Fields, type Origin, readTomlIn, type Table } from "../toml.ts";

/** The `[metadata]` of a buildpack's store.toml: undefined when there is no file, `{}` when it has no table. */
export async function readStore(
  tree: ConfinedTree,
  dir: string,
  subject: string,
): Promise<Table | undefined> {
  const origin: Origin = { file: `${dir}/store.toml`, subject, code: "CNB_BUILD_INVALID" };
  const t = await readTomlIn(tree, "store.toml", origin, true);
  return t && (new Fields(t, origin).anyTable("metadata") ?? {});
}

export function encodeStore(metadata: Table): string {
  return encodeGoToml({ metadata });
}
